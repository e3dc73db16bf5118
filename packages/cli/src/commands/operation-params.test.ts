import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../cli-errors.js';
import { operationFlagsGiven, operationParamsFrom, type OperationFlags } from './operation-params.js';

/** The one line (and exit code) a bad set of flags produces. */
function usageLine(flags: OperationFlags): string {
  try {
    operationParamsFrom(flags);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    return (error as CliError).message;
  }
  throw new Error('expected a usage error');
}

describe('operationParamsFrom', () => {
  it('turns flags into the job parameters', () => {
    expect(
      operationParamsFrom({ operation: 'label', categories: ' billing, bug ,other', multiLabel: true, model: 'm' }),
    ).toEqual({ operation: 'label', categories: ['billing', 'bug', 'other'], multi_label: true, model: 'm' });
    expect(
      operationParamsFrom({
        operation: 'run',
        userPromptTemplate: 'Tone of {content}?',
        responseFormat: 'json_object',
        name: 'tone',
      }),
    ).toEqual({
      operation: 'run',
      user_prompt_template: 'Tone of {content}?',
      response_format: { type: 'json_object' },
      name: 'tone',
    });
    expect(operationParamsFrom({ operation: 'summarize', summaryInstructions: 'One line.', maxWords: '20' })).toEqual({
      operation: 'summarize',
      summary_instructions: 'One line.',
      max_words: 20,
    });
  });

  it('merges --params-json, the flags winning', () => {
    expect(
      operationParamsFrom({
        operation: 'enrich',
        fieldsJson: '[{"name": "tone", "type": "categorical", "valid_values": ["calm", "angry"], "description": "d"}]',
        paramsJson: '{"include_context": true, "model": "a", "metadata": {"team": "qa"}}',
        model: 'b',
      }),
    ).toEqual({
      operation: 'enrich',
      fields: [{ name: 'tone', type: 'categorical', valid_values: ['calm', 'angry'], description: 'd' }],
      include_context: true,
      model: 'b',
      metadata: { team: 'qa' },
    });
  });

  it('refuses fewer than 2 categories in one line naming the flag', () => {
    expect(usageLine({ operation: 'classify', categories: 'billing' })).toBe(
      '--categories: needs at least 2 comma-separated values',
    );
    expect(usageLine({ operation: 'classify', categories: 'a, ,' })).toBe(
      '--categories: needs at least 2 comma-separated values',
    );
  });

  it('checks values with the operation’s schema from core', () => {
    expect(usageLine({ operation: 'classify', categories: 'a,a' })).toBe('--categories: categories must not repeat');
    expect(usageLine({ operation: 'extract', extractionInstructions: 'x', fieldsJson: '[{"name": "1bad"}]' })).toBe(
      '--fields-json: fields.0.name: field names are identifiers: letters, digits, _',
    );
    expect(usageLine({ operation: 'enrich', paramsJson: '{"fields": []}' })).toBe(
      '--params-json: fields: fields must not be empty',
    );
  });

  it('names a missing required parameter', () => {
    expect(usageLine({ operation: 'extract' })).toBe('--extraction-instructions: required by extract');
    expect(usageLine({ operation: 'label' })).toBe('--categories: required by label');
  });

  it('refuses a parameter the operation does not take', () => {
    expect(usageLine({ operation: 'summarize', summaryInstructions: 's', categories: 'a,b' })).toBe(
      '--categories: categories is not a parameter of summarize',
    );
    expect(usageLine({ operation: 'summarize', summaryInstructions: 's', paramsJson: '{"temperature": 0}' })).toBe(
      '--params-json: temperature is not a parameter of summarize',
    );
  });

  it('refuses malformed flag values', () => {
    expect(usageLine({ operation: 'sort' })).toBe(
      "--operation: expected one of label, classify, extract, summarize, enrich, run, got 'sort'",
    );
    expect(usageLine({ operation: 'extract', extractionInstructions: 'x', fieldsJson: '[{"name": ' })).toMatch(
      /^--fields-json: not valid JSON \(.*\); expected '\[\{"name": "company"\}\]'$/,
    );
    expect(usageLine({ operation: 'extract', extractionInstructions: 'x', fieldsJson: '{}' })).toBe(
      `--fields-json: expected a JSON array, e.g. '[{"name": "company"}]'`,
    );
    expect(usageLine({ operation: 'run', paramsJson: '[]' })).toBe(
      `--params-json: expected a JSON object, e.g. '{"model": "gpt-4o-mini"}'`,
    );
    expect(usageLine({ operation: 'summarize', summaryInstructions: 's', maxWords: '2.5' })).toBe(
      "--max-words: expected an integer >= 1, got '2.5'",
    );
    expect(usageLine({ operation: 'run', responseFormat: 'yaml' })).toMatch(/^--response-format: expected text or/);
    expect(usageLine({ operation: 'run', name: 'x'.repeat(65) })).toMatch(/^--name: name: /);
  });
});

describe('operationFlagsGiven', () => {
  it('lists the operation flags that were given', () => {
    expect(operationFlagsGiven({})).toEqual([]);
    expect(operationFlagsGiven({ categories: 'a,b', multiLabel: true, paramsJson: '{}' })).toEqual([
      '--categories',
      '--multi-label',
      '--params-json',
    ]);
  });
});
