import { Ajv, type ValidateFunction } from 'ajv';

/**
 * Callers' JSON Schemas (`run`'s `response_format.json_schema.schema`): checked once at intake,
 * compiled once per job in the processor (its per-job cache keeps the validator), with the same
 * Ajv settings in both places, so a schema that would fail every item is refused with a 400
 * before any item is accepted.
 */

/** Deeper schemas are refused: Ajv compiles recursively, and no answer format needs this many levels. */
export const MAX_JSON_SCHEMA_DEPTH = 32;

const ajv = new Ajv({ strict: false, allErrors: false });

/** Nesting depth of a JSON value, counted without recursion (a hostile schema may be deep). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Why a caller's JSON Schema cannot be used, or null when it compiles. */
export function jsonSchemaProblem(schema: Record<string, unknown>): string | null {
  if (depthExceeds(schema, MAX_JSON_SCHEMA_DEPTH)) {
    return `the schema is nested deeper than ${MAX_JSON_SCHEMA_DEPTH} levels`;
  }
  try {
    compileJsonSchema(schema);
    return null;
  } catch (error) {
    return `not a valid JSON Schema: ${(error as Error).message}`;
  }
}

/**
 * A compiled validator of a caller's schema. Nothing is kept here: Ajv itself would keep every
 * schema it compiled (by object, and by `$id`, refusing a second schema with the same `$id`), so
 * the schema is removed from it once compiled; the validator works on without it.
 */
export function compileJsonSchema(schema: Record<string, unknown>): ValidateFunction {
  try {
    return ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
}

/** Ajv's errors of the last validation, as one line. */
export function jsonSchemaErrorsText(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors);
}
