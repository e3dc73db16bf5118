import { type Json } from './json-schema.js';
import { hasStem, hasWord, isStopword, nameTokens, type TextFacts } from './text.js';

/**
 * Values for the fields a system message asks to extract ("Extract contact, title and company."), taken from
 * the prompt text by what each field's name suggests; null when the text has nothing that fits.
 */
export function extractFields(keys: string[], facts: TextFacts): Record<string, Json> {
  const text = facts.text;
  const dates = dateTokens(text);
  const numbers = numberTokens(text).filter((n) => !dates.some((d) => n.start < d.end && d.start < n.end));
  const phrases = capitalisedPhrases(text).filter((p) => !dates.some((d) => p.start < d.end && d.start < p.end));
  const used = new Set<number>(); // start offsets of the numbers and phrases already given to a field
  const unused = <T extends { start: number }>(items: T[]): T[] => items.filter((item) => !used.has(item.start));
  const take = <T extends { start: number }>(item: T | undefined): T | undefined => {
    if (item !== undefined) used.add(item.start);
    return item;
  };

  const values = new Map<string, Json>();
  const kinds = keys.map((key) => ({ key, kind: fieldKind(key) }));
  // Fields that want a particular kind of phrase choose before generic ones take the first phrase left.
  kinds.sort((a, b) => Number(a.kind === 'generic') - Number(b.kind === 'generic'));
  for (const { key, kind } of kinds) {
    const tokens = nameTokens(key);
    switch (kind) {
      case 'email':
        values.set(key, /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/u.exec(text)?.[0] ?? null);
        break;
      case 'phone':
        values.set(key, /\+?\d[\d\s().-]{6,}\d/u.exec(text)?.[0] ?? null);
        break;
      case 'url':
        values.set(key, /\bhttps?:\/\/[^\s"'<>)]+/u.exec(text)?.[0]?.replace(/[.,;:!?]+$/u, '') ?? null);
        break;
      case 'date':
        values.set(key, dates[0]?.text ?? null);
        break;
      case 'number': {
        const nouns = tokens.filter((t) => !COUNT_WORDS.includes(t) && !MONEY_WORDS.includes(t));
        const free = unused(numbers);
        const chosen =
          free.find((n) => nouns.some((noun) => n.nearWords.some((w) => w.startsWith(noun.replace(/s$/u, ''))))) ??
          (hasWord(tokens, MONEY_WORDS) ? free.find((n) => n.money) : undefined) ??
          free.find((n) => !n.year && (hasWord(tokens, MONEY_WORDS) || !n.money));
        values.set(key, take(chosen)?.value ?? null);
        break;
      }
      case 'title':
        values.set(key, take(unused(phrases).find((p) => p.role))?.text ?? null);
        break;
      case 'company': {
        const free = unused(phrases).filter((p) => !p.role);
        values.set(key, take(free.find((p) => p.corporate) ?? free.find((p) => p.afterAt) ?? free[0])?.text ?? null);
        break;
      }
      case 'person': {
        const free = unused(phrases).filter((p) => !p.role && !p.corporate);
        const name = free.find((p) => p.words >= 2 && p.words <= 3 && !p.afterAt) ?? free.find((p) => !p.afterAt);
        values.set(key, take(name)?.text ?? null);
        break;
      }
      default: {
        const free = unused(phrases);
        values.set(
          key,
          take(free.find((p) => !p.weak && !p.role) ?? free.find((p) => !p.weak) ?? free[0])?.text ?? null,
        );
      }
    }
  }
  return Object.fromEntries(keys.map((key) => [key, values.get(key) ?? null])) as Record<string, Json>;
}

type FieldKind = 'email' | 'phone' | 'url' | 'date' | 'number' | 'title' | 'company' | 'person' | 'generic';

const COUNT_WORDS = ['count', 'number', 'num', 'qty', 'quantity', 'total', 'size', 'amount'];
const COUNTED_WORDS = ['seat', 'seats', 'license', 'licenses', 'licence', 'licences', 'unit', 'units', 'user', 'users'];
const MONEY_WORDS = ['amount', 'price', 'cost', 'budget', 'value', 'revenue', 'fee', 'spend', 'salary', 'arr', 'mrr'];

function fieldKind(key: string): FieldKind {
  const t = nameTokens(key);
  if (hasStem(t, ['email']) || hasWord(t, ['mail'])) return 'email';
  if (hasStem(t, ['phone', 'mobile']) || hasWord(t, ['tel'])) return 'phone';
  if (hasStem(t, ['url', 'website', 'link', 'homepage'])) return 'url';
  if (
    hasStem(t, ['date', 'timeline', 'deadline', 'timeframe', 'quarter', 'schedule', 'period']) ||
    hasWord(t, ['due', 'when', 'eta', 'time', 'start', 'end', 'launch', 'day', 'month', 'year', 'by'])
  ) {
    return 'date';
  }
  if (hasWord(t, [...COUNT_WORDS, ...MONEY_WORDS, ...COUNTED_WORDS])) {
    return 'number';
  }
  if (hasWord(t, ['title', 'role', 'position', 'job', 'designation'])) return 'title';
  if (hasStem(t, ['company', 'organization', 'organisation', 'org', 'employer', 'business', 'vendor', 'firm'])) {
    return 'company';
  }
  const nameOfPerson = t[t.length - 1] === 'name' && t.every((w) => ['name', 'full', 'first', 'contact'].includes(w));
  if (nameOfPerson || hasStem(t, ['contact', 'person', 'buyer', 'requester', 'requestor', 'sender', 'author'])) {
    return 'person';
  }
  return 'generic';
}

interface Span {
  text: string;
  start: number;
  end: number;
}

const MONTH =
  '(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)';
const PART_OF = '(?:(?:the\\s+)?(?:end|start|beginning|middle)\\s+of\\s+)?';
/** Month and weekday names must be capitalised ("may" is a verb); the other patterns ignore case. */
const DATE_PATTERNS = [
  new RegExp(`\\b${PART_OF}(?:Q[1-4]|H[12])(?:\\s*(?:FY)?['’]?\\d{2,4})?\\b`, 'giu'),
  /\bFY\s?\d{2,4}\b/gu,
  /\b\d{4}-\d{2}-\d{2}\b/gu,
  /\b\d{1,2}\/\d{1,2}\/\d{2,4}\b/gu,
  new RegExp(`\\b${PART_OF}${MONTH}\\.?(?:\\s+\\d{1,2}(?:st|nd|rd|th)?)?(?:,?\\s+\\d{4})?\\b`, 'gu'),
  new RegExp(`\\b\\d{1,2}(?:st|nd|rd|th)?\\s+${MONTH}(?:\\s+\\d{4})?\\b`, 'gu'),
  /\b(?:(?:by\s+)?(?:the\s+)?(?:end|start)\s+of\s+(?:the\s+)?|next\s+|this\s+)(?:week|month|quarter|year)\b/giu,
  /\bin\s+\d+\s+(?:days|weeks|months|years)\b/giu,
  /\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b/gu,
];

/** Quarters, dates and date-like phrases, in order of appearance. */
function dateTokens(text: string): Span[] {
  const spans = DATE_PATTERNS.flatMap((pattern) =>
    [...text.matchAll(pattern)]
      .filter((m) => m[0] !== 'May') // without a day or year, "May" is more likely the verb
      .map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length })),
  );
  // Of overlapping matches the longest wins ("June 30, 2026" over "June 30").
  return spans
    .filter(
      (s) => !spans.some((o) => o !== s && o.start <= s.start && o.end >= s.end && o.end - o.start > s.end - s.start),
    )
    .filter((s, i, all) => all.findIndex((o) => o.start === s.start && o.end === s.end) === i)
    .sort((a, b) => a.start - b.start);
}

interface NumberToken {
  value: number;
  start: number;
  end: number;
  money: boolean;
  year: boolean;
  /** Lowercase words just before and after, to match a field's noun ("50 seats" for seat_count). */
  nearWords: string[];
}

const NUMBER =
  /(?<![\p{L}\p{N}.,])([$€£¥]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(k|m|million|thousand)\b)?(?:\s?(usd|eur|gbp|dollars|euros|pounds)\b)?/giu;

function numberTokens(text: string): NumberToken[] {
  return [...text.matchAll(NUMBER)].map((m) => {
    const scale = { k: 1e3, thousand: 1e3, m: 1e6, million: 1e6 }[(m[4] ?? '').toLowerCase()] ?? 1;
    const value = Number(`${(m[2] ?? '0').replace(/,/gu, '')}${m[3] ?? ''}`) * scale;
    const start = m.index;
    const end = start + m[0].length;
    const before =
      text
        .slice(Math.max(0, start - 40), start)
        .toLowerCase()
        .match(/[\p{L}]+/gu) ?? [];
    const after =
      text
        .slice(end, end + 40)
        .toLowerCase()
        .match(/[\p{L}]+/gu) ?? [];
    return {
      value,
      start,
      end,
      money: m[1] !== undefined || m[5] !== undefined,
      year: m[1] === undefined && m[3] === undefined && scale === 1 && value >= 1900 && value <= 2100,
      nearWords: [...before.slice(-2), ...after.slice(0, 2)],
    };
  });
}

interface Phrase extends Span {
  words: number;
  /** Names a role ("Head of IT", "VP Sales"). */
  role: boolean;
  /** Looks like an organisation ("Globex Corp", "Contoso GmbH"). */
  corporate: boolean;
  /** Follows "at", "from" or "with": more often a company than a person. */
  afterAt: boolean;
  /** One capitalised word starting a sentence: capitalised only by position. */
  weak: boolean;
}

const ROLE_WORDS = new Set(
  (
    'head vp svp evp vice president director manager chief officer ceo cto cfo coo cio ciso cmo founder cofounder ' +
    'co-founder owner partner lead engineer developer analyst consultant architect administrator admin specialist ' +
    'coordinator executive principal procurement buyer recruiter designer'
  ).split(' '),
);
const CORPORATE_WORDS = new Set(
  'inc inc. corp corp. corporation gmbh ltd ltd. llc ag sa plc co co. group labs technologies systems solutions traders'.split(
    ' ',
  ),
);
const NOT_NAMES = new Set(['i', "i'm", 'i’m', "i've", "i'd", "i'll", 'eur', 'usd', 'gbp']);

/** Runs of capitalised words, joined across "of", "and", "&" ("Head of IT", "Bank of America"). */
function capitalisedPhrases(text: string): Phrase[] {
  const word = "\\p{Lu}[\\p{L}\\p{N}&'’-]*";
  const pattern = new RegExp(`${word}(?:\\s+(?:(?:of|and|&|de|von|van)\\s+)?${word})*`, 'gu');
  const phrases: Phrase[] = [];
  for (const match of text.matchAll(pattern)) {
    let words = match[0].replace(/['’-]+$/u, '').split(/\s+/u);
    let start = match.index;
    // Drop leading words that are capitalised only because they start a sentence ("We", "Hi", "I'm").
    while (words.length > 0 && (isStopword(words[0] ?? '') || NOT_NAMES.has((words[0] ?? '').toLowerCase()))) {
      start = text.indexOf(words[1] ?? '', start + (words[0]?.length ?? 0));
      words = words.slice(1);
    }
    while (words.length > 0 && /^(?:of|and|&|de|von|van)$/u.test(words[words.length - 1] ?? '')) words.pop();
    if (words.length === 0 || start < 0) continue;
    const phraseText = words.join(' ');
    const lower = words.map((w) => w.toLowerCase());
    const previous = /([\p{L}]+)[^\p{L}]*$/u.exec(text.slice(Math.max(0, start - 20), start))?.[1]?.toLowerCase();
    const sentenceStart = /(?:^|[.!?:;]\s*|\n\s*)$/u.test(text.slice(0, start));
    phrases.push({
      text: phraseText,
      start,
      end: start + phraseText.length,
      words: words.length,
      role: lower.some((w) => ROLE_WORDS.has(w)),
      corporate: lower.some((w) => CORPORATE_WORDS.has(w)),
      afterAt: previous !== undefined && ['at', 'from', 'with', 'for', 'by', 'joined'].includes(previous),
      weak: words.length === 1 && sentenceStart,
    });
  }
  return phrases;
}
