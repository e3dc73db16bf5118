import { makeClassificationCoherent } from './classification.js';
import {
  hasJsonType,
  isFreeString,
  isNullOnly,
  isRecord,
  nonNegativeInt,
  stringArray,
  typeList,
  typeOf,
  type Json,
  type Schema,
} from './json-schema.js';
import { rankLabels } from './label-choice.js';
import { numberBounds, snapNumber } from './numbers.js';
import { sampleFromPattern } from './pattern.js';
import {
  codePointLength,
  codePointSlice,
  estimateTokens,
  hasStem,
  hasWord,
  hashFraction,
  hashIndex,
  hashString,
  leadSentences,
  limitWords,
  nameTokens,
  phraseFromText,
  truncateText,
  type TextFacts,
} from './text.js';

/**
 * Deterministic JSON answers that validate against a JSON Schema (the subset OpenAI structured outputs use,
 * plus common extras), made plausible from the prompt text: enum labels the text supports win, summaries
 * quote the text, entity lists pick names from it, classifications agree with themselves.
 */
export type { Json } from './json-schema.js';

/**
 * How much to write: a cap on every free string, whether to drop optional properties and extra items, and a
 * word limit for summaries (from the system message).
 */
interface Shape {
  maxString: number;
  minimal: boolean;
  maxWords?: number;
}

/**
 * Where a value sits: the nearest property name (for heuristics), the full path (for hashing), an item index,
 * and whether a word limit applies to it (a summary, or an object's only free-text string).
 */
interface Site {
  name: string;
  path: string;
  item?: number;
  wordLimited?: boolean;
}

const ROOT: Site = { name: '', path: '$', wordLimited: true };
/** Beyond this depth objects get only required properties and arrays only minItems, so recursion ends. */
const SOFT_DEPTH = 6;
const HARD_DEPTH = 32;
const NATURAL_STRING_MAX = 400;

/**
 * The JSON text of a value valid against `schema`; with `maxTokens`, shortened to fit when the structure allows;
 * with `maxWords`, summaries keep within that many words.
 */
export function schemaAnswer(schema: unknown, facts: TextFacts, maxTokens?: number, maxWords?: number): string {
  const render = (shape: Shape): string =>
    JSON.stringify(generateFromSchema(schema, facts, { ...shape, maxWords })) ?? 'null';
  const full = render({ maxString: NATURAL_STRING_MAX, minimal: false });
  if (maxTokens === undefined || estimateTokens(full) <= maxTokens) return full;
  const fits = (text: string): boolean => estimateTokens(text) <= maxTokens;
  // First shorten strings keeping every property; then drop optional properties and extra items too.
  for (const minimal of [false, true]) {
    let best = render({ maxString: 0, minimal });
    if (!fits(best)) continue;
    let lo = 1;
    let hi = NATURAL_STRING_MAX;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const text = render({ maxString: mid, minimal });
      if (fits(text)) {
        best = text;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return best;
  }
  return render({ maxString: 0, minimal: true }); // the structure alone exceeds the budget: keep it valid
}

export function generateFromSchema(
  schema: unknown,
  facts: TextFacts,
  shape: Shape = { maxString: NATURAL_STRING_MAX, minimal: false },
): Json {
  return new Generator(schema, facts, shape).value(schema, ROOT, 0);
}

class Generator {
  private steps = 0;

  constructor(
    private readonly root: unknown,
    private readonly facts: TextFacts,
    private readonly shape: Shape,
  ) {}

  value(input: unknown, site: Site, depth: number): Json {
    if (depth > HARD_DEPTH) return null;
    this.steps = 0;
    const schema = this.normalize(input);
    if (Object.hasOwn(schema, 'const')) return schema.const as Json;
    if (Array.isArray(schema.enum)) {
      const types = typeList(schema.type);
      const allowed = (schema.enum as Json[]).filter((value) => types.length === 0 || hasJsonType(value, types));
      return this.pickEnum(allowed.length > 0 ? allowed : (schema.enum as Json[]), site);
    }
    switch (typeOf(schema)) {
      case 'object':
        return this.object(schema, site, depth);
      case 'array':
        return this.array(schema, site, depth);
      case 'integer':
        return this.number(schema, site, true);
      case 'number':
        return this.number(schema, site, false);
      case 'boolean':
        return hashIndex(this.key(site), 2) === 0;
      case 'null':
        return null;
      default:
        return this.string(schema, site);
    }
  }

  /** Resolves $ref, allOf, anyOf and oneOf until a plain schema remains (`fresh` restarts the step budget). */
  private normalize(input: unknown, fresh = false): Schema {
    if (fresh) this.steps = 0;
    if (++this.steps > 200) return {};
    if (input === false) return { type: 'null' };
    if (!isRecord(input)) return {};
    if (typeof input.$ref === 'string') {
      const { $ref, ...rest } = input;
      const target = this.normalize(this.resolveRef($ref));
      return Object.keys(rest).length === 0 ? target : this.normalize(merge([target, this.normalize(rest)]));
    }
    if (Array.isArray(input.allOf)) {
      const { allOf, ...rest } = input;
      return this.normalize(merge([this.normalize(rest), ...allOf.map((part) => this.normalize(part))]));
    }
    const branches = Array.isArray(input.anyOf) ? input.anyOf : Array.isArray(input.oneOf) ? input.oneOf : undefined;
    if (branches !== undefined) {
      const { anyOf: _anyOf, oneOf: _oneOf, ...rest } = input;
      const options = branches.map((branch) => this.normalize(branch));
      const chosen = options.find((option) => !isNullOnly(option)) ?? options[0] ?? {};
      return this.normalize(merge([this.normalize(rest), chosen]));
    }
    return input;
  }

  private resolveRef(ref: string): unknown {
    if (!ref.startsWith('#')) return {};
    let pointer: string;
    try {
      pointer = decodeURIComponent(ref.slice(1));
    } catch {
      return {};
    }
    let node: unknown = this.root;
    for (const token of pointer.split('/').slice(1)) {
      const key = token.replace(/~1/gu, '/').replace(/~0/gu, '~');
      if (Array.isArray(node)) node = node[Number(key)];
      else if (isRecord(node) && Object.hasOwn(node, key)) node = node[key];
      else return {};
    }
    return node;
  }

  private object(schema: Schema, site: Site, depth: number): Json {
    const properties = isRecord(schema.properties) ? schema.properties : {};
    const required = stringArray(schema.required);
    const minimal = this.shape.minimal || depth >= SOFT_DEPTH;
    const extra = isRecord(schema.additionalProperties) ? schema.additionalProperties : {};
    const limited = this.wordLimitedProperties(properties);
    const entries: [string, Json][] = [];
    for (const [name, sub] of Object.entries(properties)) {
      if (minimal && !required.includes(name)) continue;
      entries.push([name, this.value(sub, child(site, name, limited.has(name)), depth + 1)]);
    }
    for (const name of required) {
      if (!Object.hasOwn(properties, name)) entries.push([name, this.value(extra, child(site, name), depth + 1)]);
    }
    const minProperties = nonNegativeInt(schema.minProperties) ?? 0;
    for (let i = 1; entries.length < minProperties && schema.additionalProperties !== false && i < 100; i++) {
      const name = `extra_${i}`;
      if (!entries.some(([key]) => key === name)) entries.push([name, this.value(extra, child(site, name), depth + 1)]);
    }
    const object = Object.fromEntries(entries) as Record<string, Json>; // keeps a "__proto__" key as plain data
    makeClassificationCoherent(object, properties, {
      normalize: (schema) => this.normalize(schema, true),
      evidence: (labels) => rankLabels(this.facts.text, labels),
      fraction: (salt) => hashFraction(`${this.key(site)}|${salt}`),
    });
    return object;
  }

  /** Free-text string properties named like a summary, or the object's only one. */
  private wordLimitedProperties(properties: Record<string, unknown>): Set<string> {
    if (this.shape.maxWords === undefined) return new Set();
    const free = Object.keys(properties).filter((name) => isFreeString(this.normalize(properties[name], true)));
    return new Set(free.length === 1 ? free : free.filter((name) => name.toLowerCase().includes('summary')));
  }

  private array(schema: Schema, site: Site, depth: number): Json {
    const minItems = nonNegativeInt(schema.minItems) ?? 0;
    const maxItems = nonNegativeInt(schema.maxItems) ?? Number.POSITIVE_INFINITY;
    const minimal = this.shape.minimal || depth >= SOFT_DEPTH;
    const prefix = Array.isArray(schema.prefixItems)
      ? schema.prefixItems
      : Array.isArray(schema.items)
        ? schema.items
        : [];
    const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
    let count = minimal ? minItems : Math.max(minItems, Math.min(maxItems, 2));
    if (rest === false) count = Math.max(minItems, Math.min(count, prefix.length));
    const unique = schema.uniqueItems === true;
    const seen = new Set<string>();
    const out: Json[] = [];
    for (let i = 0; out.length < count && i < count + 16; i++) {
      const itemSchema = i < prefix.length ? prefix[i] : (rest ?? {});
      const item = this.value(itemSchema, { name: site.name, path: `${site.path}[${i}]`, item: i }, depth + 1);
      if (unique) {
        const key = JSON.stringify(item);
        if (seen.has(key)) continue;
        seen.add(key);
      }
      out.push(item);
    }
    return out;
  }

  private number(schema: Schema, site: Site, integer: boolean): number {
    const bounds = numberBounds(schema, integer, nameTokens(site.name));
    const { lo, hi } = bounds;
    const f = hashFraction(this.key(site));
    let raw: number;
    if (lo !== undefined && hi !== undefined) raw = lo + (hi - lo) * (0.5 + 0.49 * f);
    else if (lo !== undefined) raw = lo + 1 + f * 9;
    else if (hi !== undefined) raw = hi - 1 - f * 9;
    else raw = integer ? 1 + f * 99 : f * 100;
    return snapNumber(bounds, raw);
  }

  private string(schema: Schema, site: Site): string {
    const format = typeof schema.format === 'string' ? formatted(schema.format, this.facts, this.key(site)) : undefined;
    if (format !== undefined) return format;
    const minLength = nonNegativeInt(schema.minLength) ?? 0;
    const maxLength = nonNegativeInt(schema.maxLength);
    const limit = Math.max(minLength, Math.min(maxLength ?? Number.POSITIVE_INFINITY, this.shape.maxString));
    let free = this.freeText(site);
    if (site.wordLimited === true && this.shape.maxWords !== undefined) free = limitWords(free, this.shape.maxWords);
    // Padding to minLength comes last: a valid answer matters more than the word limit.
    const text = this.pad(truncateText(free, limit), minLength, maxLength);
    const pattern = typeof schema.pattern === 'string' ? compile(schema.pattern) : undefined;
    if (pattern === undefined || pattern.regex.test(text)) return text;
    const sampled = sampleFromPattern(pattern.source, this.key(site));
    return sampled !== undefined && pattern.regex.test(sampled) ? sampled : text;
  }

  private pad(text: string, minLength: number, maxLength: number | undefined): string {
    if (codePointLength(text) >= minLength) return text;
    const filler = this.facts.words.length > 0 ? this.facts.words : ['simulated'];
    let out = text;
    for (let i = 0; codePointLength(out) < minLength && i < minLength; i++) {
      out += (out === '' ? '' : ' ') + filler[i % filler.length];
    }
    return maxLength === undefined ? out : codePointSlice(out, maxLength);
  }

  /** Free text chosen by the property's name, derived from the prompt. */
  private freeText(site: Site): string {
    const facts = this.facts;
    const name = nameTokens(site.name);
    const key = this.key(site);
    const lead = (): string => leadSentences(facts) || 'Simulated answer.';
    if (site.item !== undefined) {
      const i = site.item;
      if (
        hasStem(name, ['sentence', 'point', 'bullet', 'highlight', 'takeaway', 'step', 'reason', 'finding', 'quote'])
      ) {
        return facts.sentences[i] ?? `${lead()} (${i + 1})`;
      }
      const keywordLike = hasStem(name, ['keyword', 'tag', 'topic', 'term', 'word', 'theme', 'concept', 'categor']);
      const pool = keywordLike ? facts.contentWords : uniqueCaseInsensitive([...facts.phrases, ...facts.contentWords]);
      return pool[i] ?? `${phraseFromText(facts, key, 2)} ${i + 1}`;
    }
    if (
      hasStem(name, [
        'summar',
        'abstract',
        'overview',
        'synopsis',
        'tldr',
        'gist',
        'descr',
        'explanation',
        'explain',
        'rationale',
        'reason',
        'justification',
        'answer',
        'response',
        'comment',
        'note',
        'analysis',
        'feedback',
        'message',
        'text',
        'quote',
        'excerpt',
        'evidence',
        'snippet',
      ])
    ) {
      return lead();
    }
    if (hasStem(name, ['title', 'headline', 'heading', 'subject', 'topic', 'caption'])) {
      return (lead().split(' ').slice(0, 8).join(' ') || 'Simulated title').replace(/[\s.,;:!?]+$/u, '');
    }
    if (hasStem(name, ['email'])) return formatted('email', facts, key) ?? 'contact@example.com';
    if (hasStem(name, ['url', 'link', 'website', 'homepage', 'uri', 'href'])) return formatted('uri', facts, key) ?? '';
    if (hasStem(name, ['phone']) || hasWord(name, ['tel']))
      return /\+?\d[\d\s().-]{6,}\d/u.exec(facts.text)?.[0] ?? '+1-555-0100';
    if (hasStem(name, ['date']) || hasWord(name, ['day', 'when'])) return formatted('date', facts, key) ?? '';
    if (hasStem(name, ['language', 'lang', 'locale'])) return 'en';
    if (hasWord(name, ['id', 'uuid', 'identifier'])) return `sim-${hashString(key + facts.text).toString(36)}`;
    if (hasStem(name, ['sentiment', 'tone', 'mood'])) return 'neutral';
    if (
      hasStem(name, [
        'name',
        'person',
        'author',
        'company',
        'organization',
        'organisation',
        'entity',
        'location',
        'city',
        'country',
        'place',
        'brand',
        'product',
        'vendor',
        'customer',
        'sender',
        'recipient',
      ])
    ) {
      return facts.phrases[0] ?? phraseFromText(facts, key, 2);
    }
    if (hasStem(name, ['keyword', 'tag'])) return facts.contentWords.slice(0, 5).join(', ') || 'simulated';
    return phraseFromText(facts, key, 3 + hashIndex(key, 3));
  }

  /** Enum values the prompt supports win (mentions, then cue words); otherwise a hash of the text picks. */
  private pickEnum(values: Json[], site: Site): Json {
    const options = values.filter((value) => value !== null);
    if (options.length === 0) return null;
    const ranked = rankLabels(
      this.facts.text,
      options.filter((value): value is string => typeof value === 'string'),
    );
    const index = site.item ?? 0;
    const mentioned = ranked[index];
    if (mentioned !== undefined) return mentioned;
    const base = hashIndex(`${this.facts.text}|${site.path.replace(/\[\d+\]$/u, '')}`, options.length);
    return options[(base + index) % options.length] ?? null;
  }

  private key(site: Site): string {
    return `${site.path}|${this.facts.text}`;
  }
}

/** Values for string formats; undefined for formats we do not know (then the free text is used). */
function formatted(format: string, facts: TextFacts, key: string): string | undefined {
  const h = hashString(key);
  const two = (n: number): string => String(n).padStart(2, '0');
  const month = two(1 + (h % 12));
  const day = two(1 + (Math.floor(h / 12) % 28));
  const isoDate = /\b\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b/u.exec(facts.text)?.[0];
  const time = `${two(8 + (h % 10))}:${two(Math.floor(h / 10) % 60)}:00`;
  switch (format) {
    case 'date':
      return isoDate ?? `2024-${month}-${day}`;
    case 'date-time':
      return `${isoDate ?? `2024-${month}-${day}`}T${time}Z`;
    case 'time':
      return `${time}Z`;
    case 'duration':
      return `PT${1 + (h % 59)}M`;
    case 'email':
    case 'idn-email': {
      const found = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/u.exec(facts.text)?.[0];
      const local = (facts.phrases[0] ?? facts.contentWords[0] ?? 'contact').toLowerCase().replace(/[^a-z0-9]+/gu, '.');
      return found ?? `${local.replace(/^\.+|\.+$/gu, '') || 'contact'}@example.com`;
    }
    case 'hostname':
    case 'idn-hostname':
      return 'example.com';
    case 'ipv4':
      return `192.0.2.${1 + (h % 254)}`;
    case 'ipv6':
      return `2001:db8::${(h % 65535).toString(16)}`;
    case 'uuid': {
      const hex = (hashString(key, 1).toString(16) + hashString(key, 2).toString(16) + h.toString(16)).padEnd(32, '0');
      const variant = '89ab'[h % 4] ?? '8';
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    }
    case 'uri':
    case 'url':
    case 'iri':
    case 'uri-reference':
    case 'iri-reference': {
      const found = /\bhttps?:\/\/[^\s"'<>)]+/u.exec(facts.text)?.[0]?.replace(/[.,;:!?]+$/u, '');
      const slug = (facts.contentWords.slice(0, 3).join('-') || 'page').toLowerCase().replace(/[^a-z0-9-]+/gu, '');
      return found ?? `https://example.com/${slug || 'page'}`;
    }
    default:
      return undefined;
  }
}

function merge(parts: Schema[]): Schema {
  const out: Schema = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      const previous = out[key];
      if (previous === undefined) {
        out[key] = value;
        continue;
      }
      switch (key) {
        case 'properties':
          if (isRecord(previous) && isRecord(value)) {
            const merged: Schema = { ...previous };
            for (const [name, sub] of Object.entries(value)) {
              merged[name] = Object.hasOwn(previous, name) ? { allOf: [previous[name], sub] } : sub;
            }
            out[key] = merged;
          }
          break;
        case 'required':
          out[key] = [...new Set([...stringArray(previous), ...stringArray(value)])];
          break;
        case 'minimum':
        case 'minLength':
        case 'minItems':
        case 'minProperties':
          out[key] = Math.max(Number(previous), Number(value));
          break;
        case 'maximum':
        case 'maxLength':
        case 'maxItems':
        case 'maxProperties':
          out[key] = Math.min(Number(previous), Number(value));
          break;
        case 'enum':
          if (Array.isArray(previous) && Array.isArray(value)) {
            const both = previous.filter((a) => value.some((b) => JSON.stringify(a) === JSON.stringify(b)));
            out[key] = both.length > 0 ? both : value;
          }
          break;
        case 'type': {
          const a = typeList(previous);
          const b = typeList(value);
          const both = a.filter((t) => b.includes(t) || (t === 'integer' && b.includes('number')));
          for (const t of b) if (t === 'integer' && a.includes('number') && !both.includes(t)) both.push(t);
          out[key] = both.length > 0 ? both : value;
          break;
        }
        case 'additionalProperties':
          out[key] = previous === false || value === false ? false : value;
          break;
        default:
          out[key] = value;
      }
    }
  }
  return out;
}

function child(site: Site, name: string, wordLimited = false): Site {
  return { name, path: `${site.path}.${name}`, wordLimited };
}

function uniqueCaseInsensitive(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = value.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function compile(source: string): { source: string; regex: RegExp } | undefined {
  try {
    return { source, regex: new RegExp(source, 'u') };
  } catch {
    return undefined;
  }
}
