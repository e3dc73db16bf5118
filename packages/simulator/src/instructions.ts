/** What the system message (chat `system`/`developer` messages, `instructions` for responses) asks of answers. */
export interface Instructions {
  /** "At most 20 words", "under 20 words", "in 20 words or fewer": a cap on summaries and plain answers. */
  maxWords?: number;
  /** "Extract contact, title and company.": the snake_case keys a json_object answer should have. */
  extractKeys?: string[];
}

const WORD_LIMIT = /\b(?:at most|under|no more than)\s+(\d+)\s+words?\b|\b(\d+)\s+words?\s+or\s+(?:fewer|less)\b/giu;

/** "Extract" and what follows, up to the end of the sentence (or of the line). */
const EXTRACT = /\bextract\b([^.!?\n]*)/giu;

/** Items like these name no field ("Extract structured data from the message.", "Extract the following fields."). */
const GENERIC_ITEM =
  /^(?:following|key|relevant|important|structured|main|all|any|some)?\s*(?:data|information|info|details|fields|entities|values|keys|facts|json|everything|it|them)?$/iu;

export function readInstructions(system: string): Instructions {
  const instructions: Instructions = {};
  const limits = [...system.matchAll(WORD_LIMIT)].map((m) => Number(m[1] ?? m[2])).filter((n) => n >= 1);
  if (limits.length > 0) instructions.maxWords = Math.min(...limits);
  const keys = extractionKeys(system);
  if (keys !== undefined) instructions.extractKeys = keys;
  return instructions;
}

/** The fields of the last "Extract a, b and c." request that names fields. */
function extractionKeys(system: string): string[] | undefined {
  let found: string[] | undefined;
  for (const match of system.matchAll(EXTRACT)) {
    let list = match[1] ?? '';
    const colon = list.lastIndexOf(':');
    if (colon >= 0) list = list.slice(colon + 1);
    // "Extract the name and email from the message": the fields end where the source begins.
    list = list.replace(/\s(?:from|in|out of|within)\s.*$/iu, '');
    if (list.trim() === '' && colon >= 0) list = bulletsAfter(system, match.index + match[0].length);
    const items = list
      .split(/\s*(?:[,;&]|\band\b)\s*/iu)
      .map((item) => item.trim().replace(/^(?:the|a|an|any|all|their|its)\s+/iu, ''))
      .filter((item) => item !== '');
    const named = items.length > 0 && items.every((item) => /^[\p{L}][\p{L}\p{N}_' -]*$/u.test(item));
    if (!named || items.some((item) => item.split(/\s+/u).length > 4)) continue;
    if (items.every((item) => GENERIC_ITEM.test(item))) continue;
    const keys = [...new Set(items.map(snakeCase).filter((key) => key !== ''))];
    if (keys.length > 0) found = keys;
  }
  return found;
}

/** "Extract the following fields:" followed by "- contact" lines. */
function bulletsAfter(text: string, from: number): string {
  const items: string[] = [];
  for (const line of text.slice(from).split('\n').slice(1)) {
    const bullet = /^\s*(?:[-*•]|\d+[.)])\s+([^:(\n]+)/u.exec(line);
    if (bullet === null) break;
    items.push(bullet[1]?.trim() ?? '');
  }
  return items.join(', ');
}

/** "Seat count" / "seatCount" / "seat-count" → "seat_count". */
export function snakeCase(name: string): string {
  return name
    .replace(/['’]/gu, '')
    .replace(/([a-z0-9])([A-Z])/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/gu, '');
}
