import { findMentions } from './text.js';

/**
 * Which enum labels the prompt text supports, best first. Labels the text names outright come first (most
 * mentions, then earliest); then labels whose category cue words it uses ("charged twice" → billing).
 */
export function rankLabels(text: string, labels: string[]): string[] {
  if (labels.length === 0 || text === '') return [];
  const mentioned = rankMentions(text, labels);
  return [...mentioned, ...rankByCues(text, labels).filter((label) => !mentioned.includes(label))];
}

/** Mentions that sit in a list of options ("positive, negative or neutral") do not count as evidence. */
function rankMentions(text: string, values: string[]): string[] {
  let mentions = values.flatMap((value) => findMentions(text, value).map((m) => ({ value, ...m })));
  // A mention inside a longer one ("billing" in "billing issue") belongs to the longer value.
  mentions = mentions.filter(
    (m) => !mentions.some((o) => o !== m && o.start <= m.start && o.end >= m.end && o.end - o.start > m.end - m.start),
  );
  mentions.sort((a, b) => a.start - b.start);
  const listed = new Set<number>();
  for (let i = 0; i + 1 < mentions.length; i++) {
    const a = mentions[i];
    const b = mentions[i + 1];
    if (a === undefined || b === undefined || a.value.toLowerCase() === b.value.toLowerCase()) continue;
    const between = text
      .slice(a.end, b.start)
      .replace(/["'`*()[\]{}\s]+/gu, ' ')
      .trim()
      .toLowerCase();
    if (/^(?:[,;/|]|or|and|[,;] ?or|[,;] ?and)?$/u.test(between)) {
      listed.add(i);
      listed.add(i + 1);
    }
  }
  const scores = new Map<string, { count: number; first: number }>();
  mentions.forEach((m, i) => {
    if (listed.has(i)) return;
    const score = scores.get(m.value) ?? { count: 0, first: m.start };
    score.count++;
    scores.set(m.value, score);
  });
  return [...scores.entries()].sort(([, a], [, b]) => b.count - a.count || a.first - b.first).map(([value]) => value);
}

interface Category {
  /** A label belongs to the category when one of these is the label or a run of its words. */
  names: string[];
  cues: string[];
}

const FEATURE_CUES = [
  'add',
  'please add',
  'could you add',
  'can you add',
  'support for',
  'please support',
  'would be great',
  'would be nice',
  'would love',
  'wish',
  'ability to',
  'option to',
];
const POSITIVE_CUES = [
  'love',
  'loved',
  'great',
  'excellent',
  'amazing',
  'awesome',
  'fantastic',
  'wonderful',
  'perfect',
  'happy',
  'good',
  'helpful',
  'thanks',
  'thank you',
  'recommend',
];
const NEGATIVE_CUES = [
  'hate',
  'hated',
  'terrible',
  'awful',
  'bad',
  'worst',
  'horrible',
  'poor',
  'disappointed',
  'disappointing',
  'angry',
  'useless',
  'frustrated',
  'frustrating',
  'annoying',
  'unacceptable',
];

/** Common demo categories and the words that suggest them. The label names themselves are not cues. */
const CATEGORIES: Category[] = [
  {
    names: ['billing', 'payment', 'payments', 'invoice', 'invoicing'],
    cues: [
      'charge',
      'charged',
      'charges',
      'invoice',
      'invoices',
      'refund',
      'refunds',
      'refunded',
      'payment',
      'payments',
      'paid',
      'card',
      'price',
      'prices',
      'pricing',
      'vat',
      'billed',
      'subscription',
      'receipt',
    ],
  },
  {
    names: ['bug', 'bugs', 'defect', 'technical', 'technical issue'],
    cues: [
      'crash',
      'crashes',
      'crashed',
      'crashing',
      'error',
      'errors',
      'fail',
      'fails',
      'failed',
      'failing',
      'freeze',
      'freezes',
      'froze',
      'frozen',
      'broken',
      'not working',
      "doesn't work",
      '500',
    ],
  },
  { names: ['feature request', 'feature', 'enhancement', 'suggestion'], cues: FEATURE_CUES },
  { names: ['positive', 'praise'], cues: POSITIVE_CUES },
  { names: ['negative', 'complaint'], cues: [...NEGATIVE_CUES, 'wrong', 'still waiting'] },
  { names: ['mixed'], cues: ['mixed feelings', 'on the other hand', 'pros and cons'] },
  { names: ['question', 'inquiry', 'enquiry'], cues: ['how', 'why', 'where', 'can i', 'is it possible', 'is there'] },
];

interface Evidence {
  count: number;
  first: number;
}

function rankByCues(text: string, labels: string[]): string[] {
  const positive = cueEvidence(text, POSITIVE_CUES);
  const negative = cueEvidence(text, NEGATIVE_CUES);
  const scored: { label: string; index: number; evidence: Evidence }[] = [];
  labels.forEach((label, index) => {
    const spaced = ` ${label
      .toLowerCase()
      .replace(/[\s_-]+/gu, ' ')
      .trim()} `;
    const cues = CATEGORIES.filter((c) => c.names.some((name) => spaced.includes(` ${name} `))).flatMap((c) => c.cues);
    let evidence = cueEvidence(text, cues);
    // Praise and criticism together read as mixed, whatever the exact words.
    if (spaced === ' mixed ' && positive.count > 0 && negative.count > 0) {
      evidence = {
        count: evidence.count + positive.count + negative.count,
        first: Math.min(evidence.first, positive.first, negative.first),
      };
    }
    if (evidence.count > 0) scored.push({ label, index, evidence });
  });
  scored.sort(
    (a, b) => b.evidence.count - a.evidence.count || a.evidence.first - b.evidence.first || a.index - b.index,
  );
  return scored.map((s) => s.label);
}

/** Occurrences of the cues (one inside a longer one, "add" in "please add", counts once) and the first position. */
function cueEvidence(text: string, cues: string[]): Evidence {
  const spans = [...new Set(cues)].flatMap((cue) => findMentions(text, cue));
  const distinct = spans.filter(
    (s) => !spans.some((o) => o !== s && o.start <= s.start && o.end >= s.end && o.end - o.start > s.end - s.start),
  );
  const starts = new Set(distinct.map((s) => s.start));
  return { count: starts.size, first: Math.min(...starts, Number.POSITIVE_INFINITY) };
}
