/** Text helpers: hashing for deterministic choices, token estimates, and facts extracted from a prompt. */

/** cyrb53: a fast 53-bit string hash. Deterministic across runs and platforms. */
export function hashString(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A deterministic fraction in [0, 1) derived from the text. */
export function hashFraction(text: string): number {
  return hashString(text) / 2 ** 53;
}

/** A deterministic integer in [0, n) derived from the text. */
export function hashIndex(text: string, n: number): number {
  return n <= 0 ? 0 : hashString(text) % n;
}

/** About four characters per token; at least 1 for non-empty text. Same rule as @sluice/core. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** Length in code points, as JSON Schema counts string length. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function codePointSlice(text: string, end: number): string {
  if (text.length <= end) return text; // a UTF-16 length never undercounts code points
  return Array.from(text).slice(0, Math.max(0, end)).join('');
}

/** Shortens to at most `max` code points, preferring a word boundary, without trailing punctuation. */
export function truncateText(text: string, max: number): string {
  if (codePointLength(text) <= max) return text;
  if (max <= 0) return '';
  const cut = codePointSlice(text, max);
  const lastSpace = cut.lastIndexOf(' ');
  const atWord = lastSpace >= max * 0.6 ? cut.slice(0, lastSpace) : cut;
  const trimmed = atWord.replace(/[\s,;:–—-]+$/u, '');
  return trimmed === '' ? cut : trimmed;
}

const STOPWORDS = new Set(
  (
    'a an the and or but nor so yet for of to in on at by from with without into onto over under about above below ' +
    'as is are was were be been being am do does did done have has had having can could would should will shall may ' +
    'might must not no yes i me my mine we us our ours you your yours he him his she her hers it its they them their ' +
    'theirs this that these those there here what which who whom whose why how when where while if then than also ' +
    'just very too only please hello hi hey dear thanks thank regards however therefore today yesterday tomorrow ' +
    'all any some each every both either neither one two few many much more most other such own same again once ' +
    'up down out off still even ever never always now new via per let lets get got okay ok'
  ).split(' '),
);

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word.toLowerCase());
}

/** Everything the content generators derive from the prompt, computed once per request. */
export interface TextFacts {
  /** The prompt text the answer is about (directives removed), trimmed. */
  text: string;
  sentences: string[];
  words: string[];
  /** Non-stopwords of 3+ letters, deduplicated case-insensitively, in order of appearance. */
  contentWords: string[];
  /** Runs of capitalized words (names, organisations, places), deduplicated, in order of appearance. */
  phrases: string[];
}

const WORD = /[\p{L}\p{N}][\p{L}\p{N}&'’.-]*/gu;

export function analyzeText(raw: string): TextFacts {
  const text = raw.replace(/\s+/gu, ' ').trim();
  const sentences = text
    .split(/(?<=[.!?])\s+(?=\S)/u)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const tokens = [...text.matchAll(WORD)].map((m) => ({
    word: m[0].replace(/[.'’-]+$/u, ''),
    start: m.index,
    end: m.index + m[0].length,
  }));
  const words = tokens.map((t) => t.word).filter((w) => w !== '');

  const contentWords = dedupe(words.filter((w) => codePointLength(w) >= 3 && !isStopword(w) && /\p{L}/u.test(w)));

  const phrases: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    while (run.length > 0 && isStopword(run[0] ?? '')) run.shift();
    while (run.length > 0 && isStopword(run[run.length - 1] ?? '')) run.pop();
    if (run.length > 0) phrases.push(run.join(' '));
    run = [];
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined || token.word === '') continue;
    const capitalized = /^\p{Lu}/u.test(token.word);
    const previous = tokens[i - 1];
    // A run continues only across plain whitespace: punctuation separates names.
    const adjacent = previous !== undefined && /^\s+$/u.test(text.slice(previous.end, token.start));
    if (!capitalized || !adjacent) flush();
    if (capitalized) run.push(token.word);
  }
  flush();

  return { text, sentences, words, contentWords, phrases: dedupe(phrases) };
}

function dedupe(values: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const value of values) {
    const key = value.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(value);
  }
  return out;
}

/** The first sentence, or the first two when the first is short; the whole text when there are no sentences. */
export function leadSentences(facts: TextFacts): string {
  const [first, second] = facts.sentences;
  if (first === undefined) return facts.text;
  if (second !== undefined && codePointLength(first) < 80) return `${first} ${second}`;
  return first;
}

/** `count` consecutive words of the text starting at a position chosen by `key`. */
export function phraseFromText(facts: TextFacts, key: string, count: number): string {
  const words = facts.contentWords.length >= count ? facts.contentWords : facts.words;
  if (words.length === 0) return 'simulated answer';
  if (words.length <= count) return words.join(' ');
  const start = hashIndex(`${key}|${facts.text}`, words.length - count + 1);
  return words.slice(start, start + count).join(' ');
}

const mentionPatterns = new Map<string, RegExp | null>();

/** The compiled pattern for a value; compiling a Unicode regex per call dominated the simulator's CPU. */
function mentionPattern(value: string): RegExp | null {
  let pattern = mentionPatterns.get(value);
  if (pattern !== undefined) return pattern;
  const parts = value
    .trim()
    .split(/[\s_-]+/u)
    .filter((p) => p !== '')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&'));
  pattern =
    parts.length === 0 ? null : new RegExp(`(?<![\\p{L}\\p{N}_])${parts.join('[\\s_-]+')}(?![\\p{L}\\p{N}_])`, 'giu');
  if (mentionPatterns.size >= 4096) mentionPatterns.clear();
  mentionPatterns.set(value, pattern);
  return pattern;
}

/** Whole-word, case-insensitive occurrences of `value` in `text`; `_` and `-` in the value also match spaces. */
export function findMentions(text: string, value: string): { start: number; end: number }[] {
  const pattern = mentionPattern(value);
  if (!pattern) return [];
  return [...text.matchAll(pattern)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
}

/** Words as a reader (or a word-count check) sees them: runs of non-whitespace. */
export function countWords(text: string): number {
  return text.split(/\s+/u).filter((word) => word !== '').length;
}

/** At most `max` words: the leading whole sentences that fit, else the first words of the first sentence. */
export function limitWords(text: string, max: number): string {
  if (countWords(text) <= max) return text;
  if (max <= 0) return '';
  let out = '';
  for (const sentence of text.trim().split(/(?<=[.!?])\s+(?=\S)/u)) {
    const next = out === '' ? sentence : `${out} ${sentence}`;
    if (countWords(next) > max) break;
    out = next;
  }
  if (out !== '') return out;
  const cut = text.trim().split(/\s+/u).slice(0, max).join(' ');
  return cut.replace(/[\s,;:–—-]+$/u, '') || cut;
}

/** "customerName" / "customer_name" → ["customer", "name"]. */
export function nameTokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/gu, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/u)
    .filter((t) => t !== '');
}

export function hasStem(tokens: string[], stems: string[]): boolean {
  return tokens.some((token) => stems.some((stem) => token.startsWith(stem)));
}

export function hasWord(tokens: string[], words: string[]): boolean {
  return tokens.some((token) => words.includes(token));
}
