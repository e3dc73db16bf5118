import { canonicalOperation, JOB_OPERATIONS, JobFields, type JobOperationName, OPERATION_PARAMS } from '@sluice/core';
import type { UploadJobParams } from '@sluice/sdk';
import { CliError, EXIT, parseNumber } from '../cli-errors.js';

/** `submit --operation`'s flags, as commander hands them over. */
export interface OperationFlags {
  operation?: string;
  categories?: string;
  multiLabel?: boolean;
  systemPrompt?: string;
  extractionInstructions?: string;
  fieldsJson?: string;
  summaryInstructions?: string;
  maxWords?: string;
  includeContext?: boolean;
  userPromptTemplate?: string;
  responseFormat?: string;
  name?: string;
  model?: string;
  paramsJson?: string;
}

/** The flag that sets each parameter, to name it in errors. */
const FLAG_OF_PARAM: Record<string, string> = {
  categories: '--categories',
  multi_label: '--multi-label',
  system_prompt: '--system-prompt',
  extraction_instructions: '--extraction-instructions',
  fields: '--fields-json',
  summary_instructions: '--summary-instructions',
  max_words: '--max-words',
  include_context: '--include-context',
  user_prompt_template: '--user-prompt-template',
  response_format: '--response-format',
  model: '--model',
  name: '--name',
  metadata: '--params-json',
};

const RESPONSE_FORMATS = ['text', 'json_object'];

const usage = (message: string) => new CliError(message, EXIT.usage);

/** The flags that only mean something with `--operation`, those given. */
export function operationFlagsGiven(flags: OperationFlags): string[] {
  const values: [string, unknown][] = [
    ['--categories', flags.categories],
    ['--multi-label', flags.multiLabel],
    ['--system-prompt', flags.systemPrompt],
    ['--extraction-instructions', flags.extractionInstructions],
    ['--fields-json', flags.fieldsJson],
    ['--summary-instructions', flags.summaryInstructions],
    ['--max-words', flags.maxWords],
    ['--include-context', flags.includeContext],
    ['--user-prompt-template', flags.userPromptTemplate],
    ['--response-format', flags.responseFormat],
    ['--name', flags.name],
    ['--model', flags.model],
    ['--params-json', flags.paramsJson],
  ];
  return values.filter(([, value]) => value !== undefined).map(([flag]) => flag);
}

function parseJsonFlag(flag: string, text: string, expected: 'object' | 'array', example: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usage(`${flag}: not valid JSON (${(error as Error).message}); expected ${example}`);
  }
  const isArray = Array.isArray(value);
  const isObject = typeof value === 'object' && value !== null && !isArray;
  if ((expected === 'array' && !isArray) || (expected === 'object' && !isObject)) {
    throw usage(`${flag}: expected a JSON ${expected}, e.g. ${example}`);
  }
  return value;
}

/**
 * The job parameters the flags describe, checked against the operation's schema from core so
 * that a mistake is one line naming its flag, before anything is uploaded. Flags win over
 * `--params-json`.
 */
export function operationParamsFrom(flags: OperationFlags): UploadJobParams {
  const operation = flags.operation ?? '';
  if (!(JOB_OPERATIONS as readonly string[]).includes(operation)) {
    throw usage(`--operation: expected one of ${JOB_OPERATIONS.join(', ')}, got '${operation}'`);
  }
  const fromJson =
    flags.paramsJson === undefined
      ? {}
      : (parseJsonFlag('--params-json', flags.paramsJson, 'object', `'{"model": "gpt-4o-mini"}'`) as Record<
          string,
          unknown
        >);
  const fromFlags: Record<string, unknown> = {};
  if (flags.categories !== undefined) {
    const categories = flags.categories
      .split(',')
      .map((category) => category.trim())
      .filter((category) => category !== '');
    if (categories.length < 2) throw usage('--categories: needs at least 2 comma-separated values');
    fromFlags.categories = categories;
  }
  if (flags.multiLabel) fromFlags.multi_label = true;
  if (flags.includeContext) fromFlags.include_context = true;
  if (flags.fieldsJson !== undefined) {
    fromFlags.fields = parseJsonFlag('--fields-json', flags.fieldsJson, 'array', `'[{"name": "company"}]'`);
  }
  if (flags.maxWords !== undefined) {
    fromFlags.max_words = parseNumber('--max-words', flags.maxWords, { min: 1, integer: true });
  }
  if (flags.responseFormat !== undefined) {
    if (!RESPONSE_FORMATS.includes(flags.responseFormat)) {
      throw usage(
        `--response-format: expected ${RESPONSE_FORMATS.join(' or ')}, got '${flags.responseFormat}' (a json_schema goes in --params-json)`,
      );
    }
    fromFlags.response_format = { type: flags.responseFormat };
  }
  for (const [param, value] of [
    ['system_prompt', flags.systemPrompt],
    ['extraction_instructions', flags.extractionInstructions],
    ['summary_instructions', flags.summaryInstructions],
    ['user_prompt_template', flags.userPromptTemplate],
    ['model', flags.model],
    ['name', flags.name],
  ] as const) {
    if (value !== undefined) fromFlags[param] = value;
  }

  const merged: Record<string, unknown> = { ...fromJson, ...fromFlags };
  const flagOf = (param: string) => (param in fromFlags ? (FLAG_OF_PARAM[param] ?? param) : '--params-json');
  const canonical = canonicalOperation(operation as JobOperationName);
  // The job's own fields are not the operation's: check them with the job schema.
  const params: Record<string, unknown> = {};
  for (const [param, value] of Object.entries(merged)) {
    if (param === 'operation') continue;
    if (!(param in JobFields.shape)) {
      params[param] = value;
      continue;
    }
    const checked = JobFields.shape[param as keyof typeof JobFields.shape].safeParse(value);
    if (!checked.success) throw usage(`${flagOf(param)}: ${param}: ${checked.error.issues[0]?.message ?? 'invalid'}`);
  }
  const checked = OPERATION_PARAMS[canonical].safeParse(params);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      throw usage(`${flagOf(key)}: ${key} is not a parameter of ${operation}`);
    }
    const path = issue?.path.map(String) ?? [];
    const param = path[0] ?? '';
    if (param !== '' && params[param] === undefined) {
      throw usage(`${FLAG_OF_PARAM[param] ?? '--params-json'}: required by ${operation}`);
    }
    const flag = param === '' ? '--params-json' : flagOf(param);
    // A flag names its parameter; a deeper path, or a field of --params-json, is spelled out.
    const where = path.length > 1 || (flag === '--params-json' && path.length > 0) ? `${path.join('.')}: ` : '';
    throw usage(`${flag}: ${where}${issue?.message}`);
  }
  return { ...merged, operation } as UploadJobParams;
}
