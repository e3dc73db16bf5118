/**
 * A password, key or token read from the configuration. It prints as `[secret]` everywhere a value
 * can leak into a log line (string conversion, JSON, `util.inspect`), so logging a config object or
 * an options bag never writes the secret; only `reveal()` hands it to the library that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[secret]';
  }
}
