import type { Json } from './schema-answer.js';
import { hasStem, nameTokens, type TextFacts } from './text.js';

/** "Extract" and what follows, up to the end of the sentence (or of the line). */
const EXTRACT = /\bextract\b([^.!?\n]*)/giu;

/** Items like these name no field ("Extract structured data from the message.", "Extract the following fields:"). */
const GENERIC_ITEM =
  /^(?:following|key|relevant|important|structured|main|all|any|some)?\s*(?:data|information|info|details|fields|entities|values|keys|facts|json|everything|it|them)?$/iu;

/**
 * The snake_case fields of the last "Extract contact, title and company." in the system message, or of a
 * bulleted list after "Extract the following fields:"; undefined when no request names fields.
 */
export function extractionKeys(system: string): string[] | undefined {
  let found: string[] | undefined;
  for (const match of system.matchAll(EXTRACT)) {
    let list = match[1] ?? '';
    const colon = list.lastIndexOf(':');
    if (colon >= 0) list = list.slice(colon + 1);
    // "Extract the name and email from the message": the fields end where the source begins.
    list = list.replace(/\s(?:from|in|out of|within)\s.*$/iu, '');
    if (list.trim() === '' && colon >= 0) {
      const bullets: string[] = [];
      for (const line of system
        .slice(match.index + match[0].length)
        .split('\n')
        .slice(1)) {
        const bullet = /^\s*(?:[-*•]|\d+[.)])\s+([^:(\n]+)/u.exec(line)?.[1];
        if (bullet === undefined) break;
        bullets.push(bullet.trim());
      }
      list = bullets.join(', ');
    }
    const items = list
      .split(/\s*(?:[,;&]|\band\b)\s*/iu)
      .map((item) => item.trim().replace(/^(?:the|a|an|any|all|their|its)\s+/iu, ''))
      .filter((item) => item !== '');
    if (
      items.length === 0 ||
      items.some((item) => !/^\p{L}[\p{L}\p{N}_' -]*$/u.test(item) || item.split(' ').length > 4)
    ) {
      continue;
    }
    if (items.every((item) => GENERIC_ITEM.test(item))) continue;
    found = [...new Set(items.map(snakeCase).filter((key) => key !== ''))];
  }
  return found;
}

/** "Seat count" / "seatCount" / "seat-count" → "seat_count". */
function snakeCase(name: string): string {
  return name
    .replace(/['’]/gu, '')
    .replace(/([a-z0-9])([A-Z])/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/gu, '');
}

const MONTH =
  '(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)';
/** Quarters, ISO and written dates, and relative ones ("next month"). */
const DATE = new RegExp(
  [
    '\\b(?:Q[1-4]|H[12])(?:\\s+\\d{4})?\\b',
    '\\b\\d{4}-\\d{2}-\\d{2}\\b',
    `\\b${MONTH}\\b(?:\\s+\\d{1,2}(?:st|nd|rd|th)?\\b)?(?:,?\\s+\\d{4}\\b)?`,
    '\\b(?:next|this|end of(?: the)?)\\s+(?:week|month|quarter|year)\\b',
  ].join('|'),
  'gu',
);
const NUMBER = /(?<![\p{L}\p{N}.,])([$€£]\s?)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(k|m)\b)?/giu;

/**
 * Values for the requested fields from the text, by what each name suggests: an email, phone or URL; a date
 * (`timeline`, `deadline`, `due`); a number (`seat_count`, `budget`), the one before the name's noun ("50
 * seats") first, then an amount of money for a money field; otherwise the next capitalised phrase not given to another field, in order of appearance
 * ("Dana Lee, Head of IT at Globex Corp" → contact, title, company). Null when nothing fits.
 */
export function extractFields(keys: string[], facts: TextFacts): Record<string, Json> {
  const text = facts.text;
  const dates = [...text.matchAll(DATE)].filter((m) => m[0] !== 'May');
  const inDate = (at: number): boolean => dates.some((d) => at >= d.index && at < d.index + d[0].length);
  const numbers = [...text.matchAll(NUMBER)]
    .filter((m) => !inDate(m.index + m[0].search(/\d/u)))
    .map((m) => {
      const after = text
        .slice(m.index + m[0].length)
        .trimStart()
        .toLowerCase();
      const scale = { k: 1e3, m: 1e6 }[(m[4] ?? '').toLowerCase()] ?? 1;
      const value = Number(`${(m[2] ?? '0').replace(/,/gu, '')}${m[3] ?? ''}`) * scale;
      return { value, after, money: m[1] !== undefined || /^(?:usd|eur|gbp|dollars?|euros?|pounds?)\b/u.test(after) };
    });
  const phrases = facts.phrases.filter((p) => !inDate(p.start)).map((p) => p.text);
  const values: Record<string, Json> = {};
  for (const key of keys) {
    const tokens = nameTokens(key);
    let value: Json = null;
    if (hasStem(tokens, 'email mail')) value = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/u.exec(text)?.[0] ?? null;
    else if (hasStem(tokens, 'phone mobile tel')) value = /\+?\d[\d\s().-]{6,}\d/u.exec(text)?.[0] ?? null;
    else if (hasStem(tokens, 'url website link homepage')) value = /\bhttps?:\/\/[^\s"'<>)]+/u.exec(text)?.[0] ?? null;
    else if (hasStem(tokens, 'date timeline deadline timeframe quarter due when eta')) {
      value = dates[0]?.[0] ?? null;
    } else if (hasStem(tokens, 'count number qty quantity total amount price cost budget seat licen')) {
      const noun = tokens.find((t) => !/^(?:count|number|num|qty|quantity|total|amount)$/u.test(t))?.slice(0, 4);
      const money = hasStem(tokens, 'amount price cost budget fee') ? numbers.find((n) => n.money) : undefined;
      const chosen = numbers.find((n) => noun !== undefined && n.after.startsWith(noun)) ?? money ?? numbers[0];
      value = chosen?.value ?? null;
      if (chosen) numbers.splice(numbers.indexOf(chosen), 1);
    } else value = phrases.shift() ?? null;
    Object.defineProperty(values, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return values;
}
