/**
 * A tokenizer-free token estimate (about four characters per token for English text), used to
 * reserve rate-limit capacity before a call and to check length limits. Reconciled with the
 * upstream's reported `usage` after each call.
 */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}
