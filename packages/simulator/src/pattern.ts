import { hashIndex } from './text.js';

/**
 * Generates a string for a simple regular expression: literals, escapes, character classes, groups,
 * alternation and quantifiers. Returns undefined for anything else (lookarounds, backreferences); callers
 * check the result against the real RegExp anyway.
 */
export function sampleFromPattern(pattern: string, seed: string): string | undefined {
  try {
    const parser = new PatternParser(Array.from(pattern));
    const node = parser.parseAlternation(0);
    if (!parser.done()) return undefined;
    let counter = 0;
    const pick = (n: number): number => hashIndex(`${seed}|${counter++}`, n);
    const out: string[] = [];
    render(node, pick, out);
    return out.length > 1000 ? undefined : out.join('');
  } catch {
    return undefined;
  }
}

type PatternNode =
  | { kind: 'chars'; chars: string[] }
  | { kind: 'sequence'; items: { node: PatternNode; min: number; max: number }[] }
  | { kind: 'alternation'; options: PatternNode[] };

class Unsupported extends Error {}

const range = (from: string, to: string): string[] => {
  const out: string[] = [];
  const start = from.codePointAt(0) ?? 0;
  const end = Math.min(to.codePointAt(0) ?? 0, start + 200);
  for (let c = start; c <= end; c++) out.push(String.fromCodePoint(c));
  return out;
};
const DIGITS = range('0', '9');
const LETTERS = [...range('a', 'z'), ...range('A', 'Z')];
const WORD_CHARS = [...LETTERS, ...DIGITS, '_'];
const PRINTABLE = [...WORD_CHARS, ' ', '-', '.'];

class PatternParser {
  private pos = 0;

  constructor(private readonly chars: string[]) {}

  done(): boolean {
    return this.pos >= this.chars.length;
  }

  parseAlternation(depth: number): PatternNode {
    if (depth > 20) throw new Unsupported('too deep');
    const options = [this.parseSequence(depth)];
    while (this.peek() === '|') {
      this.pos++;
      options.push(this.parseSequence(depth));
    }
    return options.length === 1 && options[0] ? options[0] : { kind: 'alternation', options };
  }

  private parseSequence(depth: number): PatternNode {
    const items: { node: PatternNode; min: number; max: number }[] = [];
    while (!this.done() && this.peek() !== '|' && this.peek() !== ')') {
      const node = this.parseAtom(depth);
      if (node === undefined) continue;
      const [min, max] = this.parseQuantifier();
      items.push({ node, min, max });
    }
    return { kind: 'sequence', items };
  }

  private parseAtom(depth: number): PatternNode | undefined {
    const c = this.next();
    switch (c) {
      case '^':
      case '$':
        return undefined;
      case '.':
        return { kind: 'chars', chars: LETTERS };
      case '[':
        return this.parseClass();
      case '(': {
        if (this.peek() === '?') {
          this.pos++;
          const kind = this.next();
          if (kind === '<' && this.peek() !== '=' && this.peek() !== '!') {
            while (!this.done() && this.next() !== '>');
          } else if (kind !== ':') {
            throw new Unsupported('lookaround');
          }
        }
        const inner = this.parseAlternation(depth + 1);
        if (this.next() !== ')') throw new Unsupported('unbalanced group');
        return inner;
      }
      case '\\': {
        const escaped = this.parseEscape();
        return escaped === undefined ? undefined : { kind: 'chars', chars: escaped };
      }
      default:
        return { kind: 'chars', chars: [c] };
    }
  }

  /** Characters an escape stands for; undefined for assertions like \b. */
  private parseEscape(): string[] | undefined {
    const c = this.next();
    switch (c) {
      case 'd':
        return DIGITS;
      case 'w':
        return WORD_CHARS;
      case 's':
        return [' '];
      case 'D':
      case 'S':
        return LETTERS;
      case 'W':
        return ['-'];
      case 'b':
      case 'B':
        return undefined;
      case 't':
        return ['\t'];
      case 'n':
        return ['\n'];
      case 'r':
        return ['\r'];
      case 'x':
      case 'u': {
        const hex = this.chars.slice(this.pos, this.pos + (c === 'x' ? 2 : 4)).join('');
        if (!/^[0-9a-f]+$/iu.test(hex)) throw new Unsupported('escape');
        this.pos += hex.length;
        return [String.fromCodePoint(parseInt(hex, 16))];
      }
      default:
        if (/[1-9pPk]/u.test(c)) throw new Unsupported('backreference or property escape');
        return [c];
    }
  }

  private parseClass(): PatternNode {
    const negated = this.peek() === '^';
    if (negated) this.pos++;
    const members = new Set<string>();
    let first = true;
    while (!this.done() && (this.peek() !== ']' || first)) {
      first = false;
      let chars: string[];
      const c = this.next();
      if (c === '\\') chars = this.parseEscape() ?? [];
      else chars = [c];
      if (chars.length === 1 && this.peek() === '-' && this.chars[this.pos + 1] !== ']' && this.chars[this.pos + 1]) {
        this.pos++;
        let to = this.next();
        if (to === '\\') to = this.parseEscape()?.[0] ?? to;
        chars = range(chars[0] ?? c, to);
      }
      for (const ch of chars) members.add(ch);
    }
    if (this.next() !== ']') throw new Unsupported('unterminated class');
    const chars = negated ? PRINTABLE.filter((ch) => !members.has(ch)) : [...members];
    if (chars.length === 0) throw new Unsupported('empty class');
    return { kind: 'chars', chars };
  }

  private parseQuantifier(): [number, number] {
    const c = this.peek();
    let bounds: [number, number] = [1, 1];
    if (c === '*') bounds = [0, 2];
    else if (c === '+') bounds = [1, 3];
    else if (c === '?') bounds = [0, 1];
    else if (c === '{') {
      const rest = this.chars.slice(this.pos).join('');
      const match = /^\{(\d+)(,(\d*))?\}/u.exec(rest);
      if (match === null) return bounds;
      const min = Number(match[1]);
      const max = match[2] === undefined ? min : match[3] ? Number(match[3]) : min + 2;
      this.pos += Array.from(match[0]).length;
      if (this.peek() === '?') this.pos++;
      return [min, Math.max(min, max)];
    } else return bounds;
    this.pos++;
    if (this.peek() === '?') this.pos++; // lazy quantifier
    return bounds;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string {
    const c = this.chars[this.pos++];
    if (c === undefined) throw new Unsupported('unexpected end');
    return c;
  }
}

function render(node: PatternNode, pick: (n: number) => number, out: string[]): void {
  if (out.length > 1000) return;
  switch (node.kind) {
    case 'chars':
      out.push(node.chars[pick(node.chars.length)] ?? '');
      return;
    case 'alternation': {
      const option = node.options[pick(node.options.length)];
      if (option) render(option, pick, out);
      return;
    }
    case 'sequence':
      for (const item of node.items) {
        // Keep repetitions short: patterns bound shape, not size.
        const count = item.min + pick(Math.min(item.max, item.min + 3) - item.min + 1);
        for (let i = 0; i < count; i++) render(item.node, pick, out);
      }
  }
}
