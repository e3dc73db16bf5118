import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** The role or component, e.g. `processor`. */
  name: string;
  /** pino level. Default `info`. */
  level?: string;
  /** Write to this stream instead of stdout (tests pass a sink). */
  destination?: NodeJS.WritableStream;
}

/** Structured JSON logs on stdout; one logger per role, children per component. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { name: options.name, level: options.level ?? 'info', base: {} };
  return options.destination ? pino(base, options.destination) : pino(base);
}

/** A logger that drops everything, for libraries used without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
