/** Text helpers: hashing for deterministic choices, token estimates, and facts read from a prompt. */

/** cyrb53: a fast 53-bit string hash, the same on every run and platform. */
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

/** At most `max` code points, preferring a word boundary, without trailing punctuation. */
export function truncateText(text: string, max: number): string {
  if (codePointLength(text) <= max) return text;
  if (max <= 0) return '';
  const cut = Array.from(text).slice(0, max).join('');
  const lastSpace = cut.lastIndexOf(' ');
  const atWord = lastSpace >= max * 0.6 ? cut.slice(0, lastSpace) : cut;
  return atWord.replace(/[\s,;:–—-]+$/u, '') || cut;
}

const STOPWORDS = new Set(
  (
    'a an the and or but so for of to in on at by from with into over under about as is are was were be been am do ' +
    'does did have has had can could would should will may might must not no yes i me my we us our you your he him ' +
    'his she her it its they them their this that these those there here what which who why how when where if then ' +
    'than also just very too only please hello hi hey dear thanks thank regards all any some each every one two ' +
    'more most other such again once up out off still even never always now new via per get got ok'
  ).split(' '),
);

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word.toLowerCase());
}

/** What answers are derived from, computed once per request. */
export interface TextFacts {
  /** The user's text (directives removed), whitespace collapsed. */
  text: string;
  sentences: string[];
  words: string[];
  /** Words of 3+ letters that are not stopwords, deduplicated case-insensitively, in order. */
  contentWords: string[];
  /** Capitalised phrases (names, organisations, places, roles such as "Head of IT"), deduplicated, in order. */
  phrases: Phrase[];
}

export interface Phrase {
  text: string;
  start: number;
}

const CAPITALISED = /\p{Lu}[\p{L}\p{N}&'’-]*(?:\s+(?:(?:of|and|&|de|von|van)\s+)?\p{Lu}[\p{L}\p{N}&'’-]*)*/gu;
/** Capitalised only because they start a sentence, or not names at all. */
const NOT_NAMES = /^(?:I|I'm|I’m|I've|I'd|I'll)$/u;

export function analyzeText(raw: string): TextFacts {
  const text = raw.replace(/\s+/gu, ' ').trim();
  const sentences = text.split(/(?<=[.!?])\s+(?=\S)/u).filter((s) => s !== '');
  const words = (text.match(/[\p{L}\p{N}][\p{L}\p{N}&'’-]*/gu) ?? []).map((w) => w.replace(/['’-]+$/u, ''));
  const contentWords = dedupe(words.filter((w) => codePointLength(w) >= 3 && !isStopword(w) && /\p{L}/u.test(w)));
  const phrases: Phrase[] = [];
  for (const match of text.matchAll(CAPITALISED)) {
    const parts = match[0].replace(/['’-]+$/u, '').split(/\s+/u);
    let start = match.index;
    while (parts.length > 0 && (isStopword(parts[0] ?? '') || NOT_NAMES.test(parts[0] ?? ''))) {
      start += (parts.shift() ?? '').length + 1;
    }
    while (parts.length > 0 && /^(?:of|and|&|de|von|van)$/u.test(parts[parts.length - 1] ?? '')) parts.pop();
    const phrase = parts.join(' ');
    if (phrase !== '' && !phrases.some((p) => p.text.toLowerCase() === phrase.toLowerCase())) {
      phrases.push({ text: phrase, start });
    }
  }
  return { text, sentences, words, contentWords, phrases };
}

function dedupe(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((value) => !seen.has(value.toLowerCase()) && seen.add(value.toLowerCase()));
}

/** The first sentence, or the first two when the first is short; the whole text when there are no sentences. */
export function leadSentences(facts: TextFacts): string {
  const [first, second] = facts.sentences;
  if (first === undefined) return facts.text;
  return second !== undefined && codePointLength(first) < 80 ? `${first} ${second}` : first;
}

/** `count` consecutive content words of the text, starting where `key` says. */
export function phraseFromText(facts: TextFacts, key: string, count: number): string {
  const words = facts.contentWords.length >= count ? facts.contentWords : facts.words;
  if (words.length === 0) return 'simulated answer';
  const start = hashIndex(`${key}|${facts.text}`, Math.max(1, words.length - count + 1));
  return words.slice(start, start + count).join(' ');
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

/** Whether a token of the name starts with one of the stems (`summar` matches "summary", "summarized"). */
export function hasStem(tokens: string[], stems: string): boolean {
  return stems.split(' ').some((stem) => tokens.some((token) => token.startsWith(stem)));
}
