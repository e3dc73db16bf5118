/** Lower case, words separated by single spaces, padded: `" i was charged twice "`. */
function spaced(text: string): string {
  return ` ${text.toLowerCase().replace(/[^\p{L}\p{N}']+/gu, ' ')} `;
}

/**
 * Common categories of support tickets and reviews, the labels that name them, and the words that suggest
 * them ("charged twice" → billing). A label belongs to a category when one of the names is the label or a
 * run of its words ("Billing-Issue", "feature_request").
 */
const CATEGORIES = [
  {
    names: ['billing', 'payment', 'payments', 'invoice', 'invoicing'],
    cues:
      'charge|charged|charges|invoice|invoices|refund|refunds|refunded|payment|payments|paid|card|declined|' +
      'price|prices|pricing|quote|vat|billed|subscription|receipt|renewal|upgrade|plan',
  },
  {
    names: ['bug', 'bugs', 'defect', 'technical', 'technical issue'],
    cues:
      'crash|crashes|crashed|crashing|error|errors|fail|fails|failed|failing|freeze|freezes|froze|frozen|' +
      "broken|not working|doesn't work|disappear|disappears|arrive twice|500",
  },
  {
    names: ['feature request', 'feature', 'enhancement', 'suggestion'],
    cues: 'add|please support|support for|would be great|would be nice|would love|wish|ability to|option to',
  },
  {
    names: ['account', 'access', 'login'],
    cues: 'account|password|log in|sign in|locked out|admin|ownership|workspace|employee|email address|user|users',
  },
  {
    names: ['positive', 'praise'],
    cues: 'love|loved|great|excellent|amazing|awesome|fantastic|perfect|happy|good|helpful|thanks|thank you',
  },
  {
    names: ['negative', 'complaint'],
    cues: 'hate|terrible|awful|bad|worst|horrible|poor|disappointed|angry|useless|frustrated|annoying|wrong',
  },
  { names: ['question', 'inquiry', 'enquiry'], cues: 'how|why|where|can i|is it possible|is there' },
].map(({ names, cues }) => ({ names, cues: cues.split('|').map(spaced) }));

/** Whole-word occurrences of `phrase` (already spaced) in `haystack`: the count and the first position. */
function occurrences(haystack: string, phrase: string): { count: number; first: number } {
  let count = 0;
  let first = Number.POSITIVE_INFINITY;
  for (let at = haystack.indexOf(phrase); at !== -1; at = haystack.indexOf(phrase, at + phrase.length - 1)) {
    count++;
    first = Math.min(first, at);
  }
  return { count, first };
}

/**
 * The labels the text supports, best first: each cue word of a label's category counts two, a mention
 * of the label itself one (a "billing portal" that crashes is a bug). Ties go to the earliest evidence.
 */
export function rankLabels(text: string, labels: string[]): string[] {
  const haystack = spaced(text);
  const scored = labels.map((label, index) => {
    const name = spaced(label);
    const mention = occurrences(haystack, name);
    let score = mention.count;
    let first = mention.first;
    for (const category of CATEGORIES) {
      if (!category.names.some((n) => name.includes(` ${n} `))) continue;
      for (const cue of category.cues) {
        const found = occurrences(haystack, cue);
        score += 2 * found.count;
        first = Math.min(first, found.first);
      }
    }
    return { label, index, score, first };
  });
  return scored
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.first - b.first || a.index - b.index)
    .map((s) => s.label);
}
