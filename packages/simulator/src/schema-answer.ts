import { rankLabels } from './labels.js';
import {
  codePointLength,
  estimateTokens,
  hasStem,
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
 * Deterministic JSON answers that validate against a JSON Schema (what structured outputs use: objects,
 * arrays, enums, bounds, `$ref`, `anyOf`/`oneOf`/`allOf`, common formats; not `pattern`), made plausible from
 * the prompt: enum labels the text supports win, summaries quote it, name lists pick its capitalised
 * phrases, and a classification's label, scores and confidence agree.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, unknown>;

/** How much to write: a cap on free strings, whether to skip optional properties and extra items, a word limit. */
interface Shape {
  maxString: number;
  minimal: boolean;
  maxWords?: number;
}

/** Where a value sits: its property name (for heuristics), its path (for hashing), its index in an array. */
interface Site {
  name: string;
  path: string;
  item?: number;
  wordLimited?: boolean;
}

/** Deeper than this, objects get only required properties, arrays minItems, and `anyOf` its null branch. */
const DEEP = 6;
const NATURAL_STRING_MAX = 400;

/** The JSON text of a valid value; within `maxTokens` when the structure allows, summaries within `maxWords`. */
export function schemaAnswer(schema: unknown, facts: TextFacts, maxTokens?: number, maxWords?: number): string {
  const render = (maxString: number, minimal: boolean): string =>
    JSON.stringify(new Generator(schema, facts, { maxString, minimal, maxWords }).value(schema, ROOT, 0));
  const full = render(NATURAL_STRING_MAX, false);
  if (maxTokens === undefined || estimateTokens(full) <= maxTokens) return full;
  const fits = (text: string): boolean => estimateTokens(text) <= maxTokens;
  // Shorten strings keeping every property; failing that, also drop optional properties and extra items.
  for (const minimal of [false, true]) {
    if (!fits(render(0, minimal))) continue;
    let [lo, hi] = [0, NATURAL_STRING_MAX];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(render(mid, minimal))) lo = mid;
      else hi = mid - 1;
    }
    return render(lo, minimal);
  }
  return render(0, true); // the bare structure is over the budget: valid JSON matters more
}

const ROOT: Site = { name: '', path: '$', wordLimited: true };

class Generator {
  constructor(
    private readonly root: unknown,
    private readonly facts: TextFacts,
    private readonly shape: Shape,
  ) {}

  value(input: unknown, site: Site, depth: number): Json {
    const schema = this.resolve(input, depth);
    if (Object.hasOwn(schema, 'const')) return schema.const as Json;
    if (Array.isArray(schema.enum)) {
      const types = typeList(schema.type);
      const allowed = (schema.enum as Json[]).filter((v) => types.length === 0 || hasJsonType(v, types));
      return this.pickEnum(allowed.length > 0 ? allowed : (schema.enum as Json[]), site);
    }
    switch (typeOf(schema)) {
      case 'object':
        return this.object(schema, site, depth);
      case 'array':
        return this.array(schema, site, depth);
      case 'integer':
      case 'number':
        return this.number(schema, site);
      case 'boolean':
        return hashIndex(this.key(site), 2) === 0;
      case 'null':
        return null;
      default:
        return this.string(schema, site);
    }
  }

  /** Resolves `$ref`, `allOf`, `anyOf` and `oneOf` until a plain schema remains (200 steps at most: `$ref` cycles). */
  private resolve(input: unknown, depth = 0, budget = { steps: 200 }): Schema {
    if (--budget.steps < 0 || !isRecord(input)) return input === false ? { type: 'null' } : {};
    const again = (schema: unknown): Schema => this.resolve(schema, depth, budget);
    const { $ref, allOf, anyOf, oneOf, ...rest } = input;
    if (typeof $ref === 'string') return again(merge([rest, again(this.lookUp($ref))]));
    if (Array.isArray(allOf)) return again(merge([rest, ...allOf.map(again)]));
    const branches = Array.isArray(anyOf) ? anyOf : Array.isArray(oneOf) ? oneOf : undefined;
    if (branches === undefined) return input;
    const options = branches.map(again);
    // Deep down a recursive schema, the null branch ends the recursion.
    const chosen =
      (depth >= DEEP ? options.find(isNullOnly) : undefined) ?? options.find((o) => !isNullOnly(o)) ?? options[0];
    return again(merge([rest, chosen ?? {}]));
  }

  /** A local reference (`#/$defs/node`, `#/definitions/person`); others resolve to any value. */
  private lookUp(ref: string): unknown {
    let node: unknown = this.root;
    for (const token of ref.replace(/^#\/?/u, '').split('/').filter(Boolean)) {
      const key = token.replace(/~1/gu, '/').replace(/~0/gu, '~');
      node = isRecord(node) && Object.hasOwn(node, key) ? node[key] : {};
    }
    return ref.startsWith('#') ? node : {};
  }

  private object(schema: Schema, site: Site, depth: number): Json {
    const properties = isRecord(schema.properties) ? schema.properties : {};
    const required = stringArray(schema.required);
    const minimal = this.shape.minimal || depth >= DEEP;
    const extra = isRecord(schema.additionalProperties) ? schema.additionalProperties : {};
    const limited = this.wordLimited(properties);
    const object: Record<string, Json> = {};
    const names = [...Object.keys(properties), ...required.filter((name) => !Object.hasOwn(properties, name))];
    for (const name of names) {
      if (minimal && !required.includes(name)) continue;
      const child = { name, path: `${site.path}.${name}`, wordLimited: limited.has(name) };
      // defineProperty keeps a "__proto__" property as plain data.
      const value = this.value(properties[name] ?? extra, child, depth + 1);
      Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
    }
    this.makeClassificationCoherent(object, properties, site);
    return object;
  }

  /** Free-text properties under a word limit: those named like a summary, or the object's only one. */
  private wordLimited(properties: Schema): Set<string> {
    if (this.shape.maxWords === undefined) return new Set();
    const free = Object.keys(properties).filter((name) => {
      const schema = this.resolve(properties[name]);
      return typeOf(schema) === 'string' && schema.enum === undefined && schema.format === undefined;
    });
    return new Set(free.length === 1 ? free : free.filter((name) => name.toLowerCase().includes('summary')));
  }

  private array(schema: Schema, site: Site, depth: number): Json {
    const minItems = nonNegativeInt(schema.minItems) ?? 0;
    const maxItems = nonNegativeInt(schema.maxItems) ?? Number.POSITIVE_INFINITY;
    const count = this.shape.minimal || depth >= DEEP ? minItems : Math.max(minItems, Math.min(maxItems, 2));
    const seen = new Set<string>();
    const out: Json[] = [];
    for (let i = 0; out.length < count && i < count + 16; i++) {
      const item = this.value(schema.items, { name: site.name, path: `${site.path}[${i}]`, item: i }, depth + 1);
      if (schema.uniqueItems === true && seen.has(JSON.stringify(item))) continue;
      seen.add(JSON.stringify(item));
      out.push(item);
    }
    return out;
  }

  private number(schema: Schema, site: Site): number {
    const bounds = numberBounds(schema, site.name);
    const f = hashFraction(this.key(site));
    const { lo, hi } = bounds;
    if (lo !== undefined && hi !== undefined) return snap(bounds, lo + (hi - lo) * (0.5 + 0.49 * f));
    if (lo !== undefined) return snap(bounds, lo + 1 + f * 9);
    if (hi !== undefined) return snap(bounds, hi - 1 - f * 9);
    return snap(bounds, bounds.integer ? 1 + f * 99 : f * 100);
  }

  private string(schema: Schema, site: Site): string {
    const format = typeof schema.format === 'string' ? formatted(schema.format, this.facts, this.key(site)) : undefined;
    if (format !== undefined) return format;
    const minLength = nonNegativeInt(schema.minLength) ?? 0;
    const maxLength = nonNegativeInt(schema.maxLength) ?? Number.POSITIVE_INFINITY;
    let text = this.freeText(site);
    if (site.wordLimited === true && this.shape.maxWords !== undefined) text = limitWords(text, this.shape.maxWords);
    text = truncateText(text, Math.max(minLength, Math.min(maxLength, this.shape.maxString)));
    // Padding to minLength comes last: a valid answer matters more than a word limit.
    const filler = this.facts.words.length > 0 ? this.facts.words : ['simulated'];
    for (let i = 0; codePointLength(text) < minLength; i++)
      text += (text === '' ? '' : ' ') + filler[i % filler.length];
    return codePointLength(text) > maxLength ? Array.from(text).slice(0, maxLength).join('') : text;
  }

  /** Text chosen by the property's name, from the prompt. */
  private freeText(site: Site): string {
    const { facts } = this;
    const name = nameTokens(site.name);
    const key = this.key(site);
    const lead = leadSentences(facts) || 'Simulated answer.';
    if (site.item !== undefined) {
      const i = site.item;
      if (hasStem(name, 'sentence point bullet highlight takeaway step reason finding quote')) {
        return facts.sentences[i] ?? `${lead} (${i + 1})`;
      }
      const pool = hasStem(name, 'keyword tag topic term word theme concept categor')
        ? facts.contentWords
        : [...facts.phrases.map((p) => p.text), ...facts.contentWords];
      return pool[i] ?? `${phraseFromText(facts, key, 2)} ${i + 1}`;
    }
    if (
      hasStem(
        name,
        'summar abstract overview synopsis tldr gist descr explan rationale reason justif answer response',
      ) ||
      hasStem(name, 'comment note analysis feedback message text quote excerpt evidence snippet context')
    ) {
      return lead;
    }
    if (hasStem(name, 'title headline heading subject caption')) {
      return lead
        .split(' ')
        .slice(0, 8)
        .join(' ')
        .replace(/[\s.,;:!?]+$/u, '');
    }
    for (const [stems, format] of [
      ['email', 'email'],
      ['url link website homepage uri href', 'uri'],
      ['date day when', 'date'],
    ]) {
      if (hasStem(name, stems ?? '')) return formatted(format ?? '', facts, key) ?? '';
    }
    if (hasStem(name, 'phone')) return /\+?\d[\d\s().-]{6,}\d/u.exec(facts.text)?.[0] ?? '+1-555-0100';
    if (hasStem(name, 'language lang locale')) return 'en';
    if (name.includes('id') || name.includes('uuid')) return `sim-${hashString(key).toString(36)}`;
    if (
      hasStem(name, 'name person author company organi entity location city country place brand product vendor') ||
      hasStem(name, 'customer sender recipient')
    ) {
      return facts.phrases[0]?.text ?? phraseFromText(facts, key, 2);
    }
    return phraseFromText(facts, key, 3 + hashIndex(key, 3));
  }

  /** Values the prompt supports win (the i-th best for the i-th item of an array); otherwise a hash picks. */
  private pickEnum(values: Json[], site: Site): Json {
    const options = values.filter((value) => value !== null);
    if (options.length === 0) return null;
    const labels = options.filter((value): value is string => typeof value === 'string');
    const index = site.item ?? 0;
    const supported = rankLabels(this.facts.text, labels)[index];
    if (supported !== undefined) return supported;
    const base = hashIndex(`${this.facts.text}|${site.path.replace(/\[\d+\]$/u, '')}`, options.length);
    return options[(base + index) % options.length] ?? null;
  }

  /**
   * A classification that agrees with itself. Given a string-enum property (`label`) and an object property
   * scoring exactly the enum's values (`scores`) or an array of the enum (`labels`): the chosen label scores
   * highest (0.55–0.97), the list starts with it and adds a second label the text supports, and a [0, 1]
   * `confidence` equals its score. Single-label scores sum to 1; in a multi-label answer listed labels score
   * 0.50 or more and the others under 0.30. A value its schema would not take is left as generated.
   */
  private makeClassificationCoherent(object: Record<string, Json>, properties: Schema, site: Site): void {
    const schemas = Object.entries(properties).map(([name, sub]) => [name, this.resolve(sub)] as const);
    const [labelName, labelSchema] =
      schemas.find(([name, s]) => stringEnum(s) && typeof object[name] === 'string') ?? [];
    const labels = labelSchema === undefined ? undefined : stringEnum(labelSchema);
    const chosen = labelName === undefined ? undefined : object[labelName];
    if (labels === undefined || typeof chosen !== 'string') return;
    const sameLabels = (values: string[] | undefined): boolean =>
      values !== undefined && values.length === labels.length && values.every((v) => labels.includes(v));
    const [scoresName, scoresSchema] =
      schemas.find(
        ([, s]) => typeOf(s) === 'object' && sameLabels(Object.keys(isRecord(s.properties) ? s.properties : {})),
      ) ?? [];
    const [listName, listSchema] =
      schemas.find(([, s]) => typeOf(s) === 'array' && sameLabels(stringEnum(this.resolve(s.items)))) ?? [];
    if (scoresName === undefined && listName === undefined) return;

    const second = rankLabels(this.facts.text, labels).find((label) => label !== chosen);
    const applicable = [chosen];
    const list = listName === undefined ? undefined : object[listName];
    if (listName !== undefined && Array.isArray(list) && list.length > 0) {
      const minItems = nonNegativeInt(listSchema?.minItems) ?? 0;
      const wanted = [chosen, ...(second === undefined ? [] : [second])];
      for (const label of labels) if (wanted.length < minItems && !wanted.includes(label)) wanted.push(label);
      object[listName] = wanted.slice(0, Math.max(minItems, list.length));
      applicable.push(...(object[listName] as string[]).slice(1));
    } else if (second !== undefined) {
      applicable.push(second);
    }

    const scores = scoresName === undefined ? undefined : object[scoresName];
    const scoreSchemas = scoresSchema?.properties;
    if (!isRecord(scores) || !isRecord(scoreSchemas)) return;
    const fraction = (salt: string): number => hashFraction(`${this.key(site)}|${salt}`);
    const top = 55 + Math.floor(fraction('top') * 43);
    const hundredths = new Map([[chosen, top]]);
    const others = labels.filter((label) => label !== chosen);
    if (listName !== undefined) {
      for (const label of others) {
        const f = fraction(label);
        hundredths.set(label, applicable.includes(label) ? 50 + Math.floor(f * (top - 50)) : 2 + Math.floor(f * 28));
      }
    } else {
      // The runner-up the text supports weighs more, so it scores second; the shares sum to 100 - top.
      const weights = others.map((label) => (applicable.includes(label) ? 3 : 1) + fraction(label));
      const total = weights.reduce((sum, w) => sum + w, 0);
      const shares = weights.map((w) => Math.floor(((100 - top) * w) / total));
      const heaviest = weights.indexOf(Math.max(...weights));
      shares[heaviest] = (shares[heaviest] ?? 0) + 100 - top - shares.reduce((sum, s) => sum + s, 0);
      others.forEach((label, i) => hundredths.set(label, shares[i] ?? 0));
    }
    for (const label of labels) {
      const sub = this.resolve(scoreSchemas[label]);
      const value = numberAt(numberBounds(sub, label), (hundredths.get(label) ?? 0) / 100);
      if (fits(sub, value)) scores[label] = value;
    }
    const confidence = schemas.find(([name]) => name === 'confidence')?.[1];
    const score = scores[chosen];
    if (typeof object.confidence === 'number' && confidence && typeof score === 'number' && score <= 1) {
      if (fits(confidence, score)) object.confidence = score;
    }
  }

  private key(site: Site): string {
    return `${site.path}|${this.facts.text}`;
  }
}

/** Values for common string formats, from the text when it has one; undefined for other formats. */
function formatted(format: string, facts: TextFacts, key: string): string | undefined {
  const h = hashString(key);
  const two = (n: number): string => String(n).padStart(2, '0');
  const date = /\b\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b/u.exec(facts.text)?.[0];
  const day = date ?? `2024-${two(1 + (h % 12))}-${two(1 + (Math.floor(h / 12) % 28))}`;
  const time = `${two(8 + (h % 10))}:${two(Math.floor(h / 10) % 60)}:00`;
  switch (format) {
    case 'date':
      return day;
    case 'date-time':
      return `${day}T${time}Z`;
    case 'time':
      return `${time}Z`;
    case 'email': {
      const found = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/u.exec(facts.text)?.[0];
      const local = (facts.phrases[0]?.text ?? 'contact').toLowerCase().replace(/[^a-z0-9]+/gu, '.');
      return found ?? `${local.replace(/^\.+|\.+$/gu, '') || 'contact'}@example.com`;
    }
    case 'uri':
    case 'url': {
      const found = /\bhttps?:\/\/[^\s"'<>)]+/u.exec(facts.text)?.[0]?.replace(/[.,;:!?]+$/u, '');
      const slug = facts.contentWords
        .slice(0, 3)
        .join('-')
        .toLowerCase()
        .replace(/[^a-z0-9-]+/gu, '');
      return found ?? `https://example.com/${slug || 'page'}`;
    }
    case 'uuid': {
      const hex = [1, 2, 3].map((seed) => hashString(key, seed).toString(16).padStart(14, '0')).join('');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    }
    default:
      return undefined;
  }
}

/** `allOf` parts as one schema: properties and `required` united, the tighter bound kept. */
function merge(parts: Schema[]): Schema {
  const out: Schema = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      const previous = out[key];
      if (previous === undefined) out[key] = value;
      else if (key === 'properties' && isRecord(previous) && isRecord(value)) {
        const merged: Schema = { ...previous };
        for (const [name, sub] of Object.entries(value)) {
          merged[name] = Object.hasOwn(previous, name) ? { allOf: [previous[name], sub] } : sub;
        }
        out[key] = merged;
      } else if (key === 'required') out[key] = [...new Set([...stringArray(previous), ...stringArray(value)])];
      else if (/^min(?:imum|Length|Items)$/u.test(key)) out[key] = Math.max(Number(previous), Number(value));
      else if (/^max(?:imum|Length|Items)$/u.test(key)) out[key] = Math.min(Number(previous), Number(value));
      else out[key] = value;
    }
  }
  return out;
}

interface NumberBounds {
  lo?: number;
  hi?: number;
  loExclusive: boolean;
  hiExclusive: boolean;
  step?: number;
  integer: boolean;
}

/**
 * Bounds from the keywords (draft 4 boolean and 2019+ numeric exclusive bounds). Unbounded, a confidence-like
 * number gets [0, 1] and a rating 1–5: any value is valid there, these are plausible.
 */
function numberBounds(schema: Schema, name: string): NumberBounds {
  const finite = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const b: NumberBounds = {
    lo: finite(schema.minimum),
    hi: finite(schema.maximum),
    loExclusive: schema.exclusiveMinimum === true,
    hiExclusive: schema.exclusiveMaximum === true,
    integer: typeOf(schema) === 'integer',
  };
  const exMin = finite(schema.exclusiveMinimum);
  const exMax = finite(schema.exclusiveMaximum);
  if (exMin !== undefined && (b.lo === undefined || exMin >= b.lo)) [b.lo, b.loExclusive] = [exMin, true];
  if (exMax !== undefined && (b.hi === undefined || exMax <= b.hi)) [b.hi, b.hiExclusive] = [exMax, true];
  const step = finite(schema.multipleOf);
  if (step !== undefined && step > 0) b.step = step;
  if (b.lo === undefined && b.hi === undefined) {
    const tokens = nameTokens(name);
    if (!b.integer && hasStem(tokens, 'confidence probabilit certaint likelihood score')) [b.lo, b.hi] = [0, 1];
    else if (b.integer && hasStem(tokens, 'rating stars')) [b.lo, b.hi] = [1, 5];
  }
  return b;
}

function withinBounds(b: NumberBounds, v: number): boolean {
  if (b.lo !== undefined && (b.loExclusive ? v <= b.lo : v < b.lo)) return false;
  if (b.hi !== undefined && (b.hiExclusive ? v >= b.hi : v > b.hi)) return false;
  if (b.integer && !Number.isInteger(v)) return false;
  return b.step === undefined || Math.abs(v / b.step - Math.round(v / b.step)) < 1e-9;
}

/** A valid number close to `raw`: on the step, an integer, or two decimals when the bounds allow. */
function snap(b: NumberBounds, raw: number): number {
  const step = b.step ?? (b.integer ? 1 : 0.01);
  const onStep = (k: number): number => Number((k * step).toPrecision(12));
  const candidates = [Math.round(raw / step), Math.ceil(raw / step), Math.floor(raw / step)].map(onStep);
  if (b.lo !== undefined) candidates.push(onStep(Math.ceil(b.lo / step)), onStep(Math.floor(b.lo / step) + 1));
  if (b.hi !== undefined) candidates.push(onStep(Math.floor(b.hi / step)), onStep(Math.ceil(b.hi / step) - 1));
  candidates.push(raw);
  if (b.lo !== undefined && b.hi !== undefined) candidates.push((b.lo + b.hi) / 2);
  return candidates.find((v) => withinBounds(b, v)) ?? candidates[0] ?? 0;
}

/** The valid number `t` (0–1) of the way through the range; an open side spans 1 (100 for integers). */
function numberAt(b: NumberBounds, t: number): number {
  const span = b.integer ? 100 : 1;
  if (b.lo !== undefined && b.hi !== undefined) return snap(b, b.lo + (b.hi - b.lo) * t);
  if (b.lo !== undefined) return snap(b, b.lo + span * t);
  return snap(b, b.hi !== undefined ? b.hi - span * (1 - t) : span * t);
}

function fits(schema: Schema, value: number): boolean {
  if (Array.isArray(schema.enum)) return schema.enum.includes(value);
  return ['number', 'integer'].includes(typeOf(schema)) && withinBounds(numberBounds(schema, ''), value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeList(type: unknown): string[] {
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

/** The one type a value is generated as: the declared type (non-null preferred), else one the keywords imply. */
function typeOf(schema: Schema): string {
  const has = (...keys: string[]): boolean => keys.some((key) => schema[key] !== undefined);
  const inferred = has('properties', 'required', 'additionalProperties')
    ? 'object'
    : has('items', 'minItems', 'maxItems', 'uniqueItems')
      ? 'array'
      : has('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf')
        ? 'number'
        : 'string';
  const types = typeList(schema.type);
  if (types.length === 0) return inferred;
  const nonNull = types.filter((t) => t !== 'null');
  if (nonNull.length === 0) return 'null';
  return nonNull.includes(inferred) ? inferred : (nonNull[0] ?? inferred);
}

function hasJsonType(value: Json, types: string[]): boolean {
  if (value === null) return types.includes('null');
  if (Array.isArray(value)) return types.includes('array');
  if (typeof value === 'number')
    return types.includes('number') || (types.includes('integer') && Number.isInteger(value));
  return types.includes(typeof value);
}

function isNullOnly(schema: Schema): boolean {
  if (schema.const === null || (Array.isArray(schema.enum) && schema.enum.every((v) => v === null))) return true;
  const types = typeList(schema.type);
  return types.length > 0 && types.every((t) => t === 'null');
}

/** The values of an enum of strings (a null option allowed); undefined for any other schema. */
function stringEnum(schema: Schema): string[] | undefined {
  if (!Array.isArray(schema.enum)) return undefined;
  const values = schema.enum.filter((value) => value !== null);
  return values.length > 0 && values.every((value) => typeof value === 'string') ? (values as string[]) : undefined;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function nonNegativeInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}
