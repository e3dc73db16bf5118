import { isRecord, nonNegativeInt, stringEnum, typeOf, type Json, type Schema } from './json-schema.js';
import { numberAt, numberBounds, withinBounds } from './numbers.js';
import { nameTokens } from './text.js';

/** What the coherence pass needs from the schema generator. */
export interface ClassificationTools {
  /** The schema with $ref, allOf, anyOf and oneOf resolved. */
  normalize(schema: unknown): Schema;
  /** Labels the prompt supports, best first (possibly none). */
  evidence(labels: string[]): string[];
  /** A deterministic fraction in [0, 1) for this object and `salt`. */
  fraction(salt: string): number;
}

/**
 * Makes a classification object agree with itself. Given a string-enum property (`label`) and an object
 * property scoring exactly the enum's values (`scores`), the chosen label gets the highest score and a
 * [0, 1] `confidence` equals it; an array of the enum (`labels`) starts with the chosen label, followed by a
 * second label the prompt supports. Values keep to their schemas; `object` is changed in place.
 */
export function makeClassificationCoherent(
  object: Record<string, Json>,
  properties: Record<string, unknown>,
  tools: ClassificationTools,
): void {
  const schemas = new Map(Object.entries(properties).map(([name, sub]) => [name, tools.normalize(sub)]));
  for (const [labelName, labelSchema] of schemas) {
    const labels = stringEnum(labelSchema);
    const chosen = object[labelName];
    if (labels === undefined || typeof chosen !== 'string' || !labels.includes(chosen)) continue;
    const scoresName = [...schemas].find(([name, s]) => name !== labelName && scoresLabels(s, labels, tools))?.[0];
    const listName = [...schemas].find(([, s]) => labelList(s, labels, tools))?.[0];
    if (scoresName === undefined && listName === undefined) continue;

    const second = tools.evidence(labels).find((label) => label !== chosen);
    // The labels that score high: the chosen one, the listed ones (multi-label) or the runner-up (single label).
    const applicable = [chosen];
    if (listName !== undefined) {
      const list = fillLabelList(object[listName], schemas.get(listName) ?? {}, labels, chosen, second);
      if (list !== undefined) {
        object[listName] = list;
        applicable.push(...list.filter((label) => !applicable.includes(label)));
      }
    } else if (second !== undefined) {
      applicable.push(second);
    }
    const scores = scoresName === undefined ? undefined : object[scoresName];
    if (scoresName === undefined || !isRecord(scores)) return;
    const top = fillScores(scores, schemas.get(scoresName) ?? {}, labels, applicable, listName !== undefined, tools);
    const confidence = object.confidence;
    const confidenceSchema = schemas.get('confidence');
    if (top !== undefined && typeof confidence === 'number' && confidenceSchema !== undefined) {
      const bounds = numberBounds(confidenceSchema, false, ['confidence']);
      if (typeOf(confidenceSchema) === 'number' && top >= 0 && top <= 1 && withinBounds(bounds, top)) {
        object.confidence = top;
      }
    }
    return;
  }
}

/** Whether the schema is an object whose properties are exactly the labels, each a number. */
function scoresLabels(schema: Schema, labels: string[], tools: ClassificationTools): boolean {
  if (typeOf(schema) !== 'object' || !isRecord(schema.properties)) return false;
  const entries = Object.entries(schema.properties);
  return (
    entries.length === labels.length &&
    entries.every(
      ([name, sub]) => labels.includes(name) && ['number', 'integer'].includes(typeOf(tools.normalize(sub))),
    )
  );
}

/** Whether the schema is an array whose items are the same enum of labels. */
function labelList(schema: Schema, labels: string[], tools: ClassificationTools): boolean {
  if (typeOf(schema) !== 'array' || schema.prefixItems !== undefined || !isRecord(schema.items)) return false;
  const values = stringEnum(tools.normalize(schema.items));
  return values !== undefined && values.length === labels.length && values.every((v) => labels.includes(v));
}

/**
 * The chosen label first, then the second supported label, then (only to reach minItems) other values. The
 * generated array's length caps it, so a shortened answer (token budget) stays as short.
 */
function fillLabelList(
  current: Json | undefined,
  schema: Schema,
  labels: string[],
  chosen: string,
  second: string | undefined,
): string[] | undefined {
  if (!Array.isArray(current) || current.length === 0) return undefined;
  const minItems = nonNegativeInt(schema.minItems) ?? 0;
  const wanted = second === undefined ? [chosen] : [chosen, second];
  const fillers = [...labels.filter((v) => !wanted.includes(v)), ...labels];
  const list = [...wanted];
  while (list.length < minItems && fillers.length > 0) list.push(fillers.shift() ?? chosen);
  return list.slice(0, Math.max(minItems, Math.min(list.length, current.length)));
}

/**
 * Scores in hundredths: the chosen label 0.55–0.97; for a single label the rest share what is left (so the
 * scores sum to 1), for a multi-label answer the other applicable labels get 0.50 up to the top and the
 * others stay below 0.30. Returns the chosen label's score.
 */
function fillScores(
  scores: Record<string, Json>,
  schema: Schema,
  labels: string[],
  applicable: string[],
  multiLabel: boolean,
  tools: ClassificationTools,
): number | undefined {
  const [chosen] = applicable;
  if (chosen === undefined || !Object.hasOwn(scores, chosen)) return undefined;
  const top = 55 + Math.floor(tools.fraction('top') * 43);
  const hundredths = new Map<string, number>([[chosen, top]]);
  const others = labels.filter((label) => label !== chosen);
  if (multiLabel) {
    for (const label of others) {
      const f = tools.fraction(label);
      hundredths.set(label, applicable.includes(label) ? 50 + Math.floor(f * (top - 50)) : 2 + Math.floor(f * 28));
    }
  } else {
    // Evidence-backed runner-up labels weigh more, so the second label the prompt supports scores second.
    const weights = others.map((label) => (applicable.includes(label) ? 3 : 1) + tools.fraction(label));
    const total = weights.reduce((sum, w) => sum + w, 0);
    const shares = weights.map((w) => Math.floor(((100 - top) * w) / total));
    const heaviest = weights.indexOf(Math.max(...weights));
    shares[heaviest] = (shares[heaviest] ?? 0) + 100 - top - shares.reduce((sum, s) => sum + s, 0);
    others.forEach((label, i) => hundredths.set(label, shares[i] ?? 0));
  }
  const properties = isRecord(schema.properties) ? schema.properties : {};
  for (const label of Object.keys(scores)) {
    const sub = tools.normalize(properties[label]);
    const bounds = numberBounds(sub, typeOf(sub) === 'integer', nameTokens(label));
    scores[label] = numberAt(bounds, (hundredths.get(label) ?? 0) / 100);
  }
  const value = scores[chosen];
  return typeof value === 'number' ? value : undefined;
}
