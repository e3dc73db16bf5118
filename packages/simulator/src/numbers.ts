import { finite, type Schema } from './json-schema.js';
import { hasStem } from './text.js';

/** The values a number schema allows: its bounds, step and integrality. */
export interface NumberBounds {
  lo?: number;
  hi?: number;
  loExclusive: boolean;
  hiExclusive: boolean;
  step?: number;
  integer: boolean;
}

/**
 * The bounds from the schema's keywords (draft 4 boolean and 2019+ numeric exclusive bounds). An unbounded
 * confidence-like number gets [0, 1] and an unbounded rating 1–5: any value is valid there, these are plausible.
 */
export function numberBounds(schema: Schema, integer: boolean, name: string[]): NumberBounds {
  const bounds: NumberBounds = {
    lo: finite(schema.minimum),
    hi: finite(schema.maximum),
    loExclusive: false,
    hiExclusive: false,
    integer,
  };
  const exMin = schema.exclusiveMinimum;
  const exMax = schema.exclusiveMaximum;
  if (typeof exMin === 'number' && (bounds.lo === undefined || exMin >= bounds.lo)) {
    [bounds.lo, bounds.loExclusive] = [exMin, true];
  } else if (exMin === true && bounds.lo !== undefined) bounds.loExclusive = true;
  if (typeof exMax === 'number' && (bounds.hi === undefined || exMax <= bounds.hi)) {
    [bounds.hi, bounds.hiExclusive] = [exMax, true];
  } else if (exMax === true && bounds.hi !== undefined) bounds.hiExclusive = true;
  const step = finite(schema.multipleOf);
  if (step !== undefined && step > 0) bounds.step = step;

  if (bounds.lo === undefined && bounds.hi === undefined) {
    if (!integer && hasStem(name, ['confidence', 'probabilit', 'certaint', 'likelihood', 'score'])) {
      [bounds.lo, bounds.hi] = [0, 1];
    } else if (integer && hasStem(name, ['rating', 'stars'])) [bounds.lo, bounds.hi] = [1, 5];
  }
  return bounds;
}

export function withinBounds(bounds: NumberBounds, value: number): boolean {
  const { lo, hi, step } = bounds;
  if (lo !== undefined && (bounds.loExclusive ? value <= lo : value < lo)) return false;
  if (hi !== undefined && (bounds.hiExclusive ? value >= hi : value > hi)) return false;
  if (bounds.integer && !Number.isInteger(value)) return false;
  return step === undefined || Math.abs(value / step - Math.round(value / step)) < 1e-9;
}

/** A valid number close to `raw` (rounded to a step, an integer or two decimals). */
export function snapNumber(bounds: NumberBounds, raw: number): number {
  const { lo, hi, step } = bounds;
  const inRange = (v: number): boolean =>
    (lo === undefined || (bounds.loExclusive ? v > lo : v >= lo)) &&
    (hi === undefined || (bounds.hiExclusive ? v < hi : v <= hi));
  const candidates: number[] = [];
  if (step !== undefined) {
    for (const k of [Math.round(raw / step), Math.ceil(raw / step), Math.floor(raw / step)]) {
      candidates.push(Number((k * step).toPrecision(12)));
    }
    if (lo !== undefined) candidates.push(Number((Math.ceil(lo / step) * step).toPrecision(12)));
    if (lo !== undefined) candidates.push(Number(((Math.floor(lo / step) + 1) * step).toPrecision(12)));
  } else if (bounds.integer) {
    candidates.push(Math.round(raw), Math.ceil(raw), Math.floor(raw));
    if (lo !== undefined) candidates.push(bounds.loExclusive ? Math.floor(lo) + 1 : Math.ceil(lo));
    if (hi !== undefined) candidates.push(bounds.hiExclusive ? Math.ceil(hi) - 1 : Math.floor(hi));
  } else {
    candidates.push(Math.round(raw * 100) / 100, raw);
    if (lo !== undefined && hi !== undefined) candidates.push((lo + hi) / 2);
  }
  return candidates.find((v) => inRange(v) && (!bounds.integer || Number.isInteger(v))) ?? candidates[0] ?? 0;
}

/** The valid number `t` (0–1) of the way through the range; an open side counts as a span of 1 (100 for integers). */
export function numberAt(bounds: NumberBounds, t: number): number {
  const { lo, hi } = bounds;
  const span = bounds.integer ? 100 : 1;
  let raw: number;
  if (lo !== undefined && hi !== undefined) raw = lo + (hi - lo) * t;
  else if (lo !== undefined) raw = lo + span * t;
  else if (hi !== undefined) raw = hi - span * (1 - t);
  else raw = span * t;
  return snapNumber(bounds, raw);
}
