/** JSON values and the JSON Schema keyword helpers shared by the answer generators. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Schema = Record<string, unknown>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function typeList(type: unknown): string[] {
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

/** The one type a value is generated as: the declared type (non-null preferred), else one inferred from keywords. */
export function typeOf(schema: Schema): string {
  const inferred = inferType(schema);
  const types = typeList(schema.type);
  if (types.length === 0) return inferred;
  const nonNull = types.filter((t) => t !== 'null');
  if (nonNull.length === 0) return 'null';
  if (nonNull.includes(inferred)) return inferred;
  return nonNull[0] ?? inferred;
}

function inferType(schema: Schema): string {
  const has = (...keys: string[]): boolean => keys.some((key) => schema[key] !== undefined);
  if (has('properties', 'required', 'additionalProperties', 'patternProperties', 'minProperties')) return 'object';
  if (has('items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems')) return 'array';
  if (has('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf')) return 'number';
  return 'string';
}

export function hasJsonType(value: Json, types: string[]): boolean {
  if (value === null) return types.includes('null');
  if (Array.isArray(value)) return types.includes('array');
  if (typeof value === 'number')
    return types.includes('number') || (types.includes('integer') && Number.isInteger(value));
  return types.includes(typeof value);
}

export function isNullOnly(schema: Schema): boolean {
  if (schema.const === null) return true;
  if (Array.isArray(schema.enum) && schema.enum.every((v) => v === null)) return true;
  const types = typeList(schema.type);
  return types.length > 0 && types.every((t) => t === 'null');
}

/** The string values of an enum of strings (a null option allowed); undefined for any other schema. */
export function stringEnum(schema: Schema): string[] | undefined {
  if (!Array.isArray(schema.enum)) return undefined;
  const values = schema.enum.filter((value) => value !== null);
  if (values.length === 0 || !values.every((value) => typeof value === 'string')) return undefined;
  return values as string[];
}

/** A string schema without enum, const, format or pattern: one whose value is free prose. */
export function isFreeString(schema: Schema): boolean {
  return (
    typeOf(schema) === 'string' &&
    !Array.isArray(schema.enum) &&
    !Object.hasOwn(schema, 'const') &&
    schema.format === undefined &&
    schema.pattern === undefined
  );
}

export function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function nonNegativeInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

export function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
