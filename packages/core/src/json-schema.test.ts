import { describe, expect, it } from 'vitest';
import { compileJsonSchema, jsonSchemaProblem } from './json-schema.js';

describe("callers' JSON Schemas", () => {
  it('compiles two different schemas with the same $id, one after the other (jobs do not see each other)', () => {
    const first = { $id: 'https://example.com/answer', type: 'object', required: ['city'] };
    const second = { $id: 'https://example.com/answer', type: 'object', required: ['town'] };
    expect(jsonSchemaProblem(first)).toBeNull();
    const validateFirst = compileJsonSchema(first);
    expect(jsonSchemaProblem(second)).toBeNull();
    const validateSecond = compileJsonSchema(second);
    expect([validateFirst({ city: 'Oslo' }), validateFirst({ town: 'Oslo' })]).toEqual([true, false]);
    expect([validateSecond({ town: 'Oslo' }), validateSecond({ city: 'Oslo' })]).toEqual([true, false]);
  });

  it('a recursive schema validates after it was compiled', () => {
    const validate = compileJsonSchema({
      $id: 'https://example.com/tree',
      type: 'object',
      properties: { children: { type: 'array', items: { $ref: '#' } }, name: { type: 'string' } },
    });
    expect(validate({ name: 'a', children: [{ name: 'b', children: [] }] })).toBe(true);
    expect(validate({ name: 'a', children: [{ name: 3 }] })).toBe(false);
  });

  it('names what is wrong with a schema that does not compile', () => {
    expect(jsonSchemaProblem({ type: 'nonsense' })).toMatch(/not a valid JSON Schema/);
  });
});
