/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed (a batch failed, the server is unreachable, ...). */
  failure: 1,
  /** Bad arguments or configuration: nothing was done. */
  usage: 2,
  /** `wait` gave up before the batch finished. */
  timeout: 3,
} as const;

/** An error the CLI reports as one line on stderr, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}

export function parseNumber(
  name: string,
  value: string,
  { min = -Infinity, max = Infinity, integer = false } = {},
): number {
  const number = Number(value);
  if (
    value.trim() === '' ||
    !Number.isFinite(number) ||
    (integer && !Number.isInteger(number)) ||
    number < min ||
    number > max
  ) {
    const range = `${integer ? 'an integer' : 'a number'}${Number.isFinite(min) ? ` >= ${min}` : ''}${Number.isFinite(max) ? ` and <= ${max}` : ''}`;
    throw new CliError(`${name}: expected ${range}, got '${value}'`, EXIT.usage);
  }
  return number;
}
