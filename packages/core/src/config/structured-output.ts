/**
 * How Sluice asks an upstream for structured output:
 * - `auto`: negotiate per upstream and model, best first (`json_schema`, then `json_object` with the
 *   schema, then the schema in the prompt only), and remember what worked;
 * - `json_schema`: `response_format: {type: "json_schema"}` only (OpenAI, vLLM, Ollama, llama-server);
 * - `json_object`: `response_format: {type: "json_object", schema}` (llama-cpp-python, DeepSeek), or
 *   TGI's `{type: "json", value: schema}` when that is refused; the schema is in the prompt too;
 * - `prompt`: no `response_format`; the schema is in the prompt and the answer is checked.
 */
export const STRUCTURED_OUTPUT_MODES = ['auto', 'json_schema', 'json_object', 'prompt'] as const;
export type StructuredOutputMode = (typeof STRUCTURED_OUTPUT_MODES)[number];

/** The compiled `SLUICE_STRUCTURED_OUTPUT`: a default mode and per-model exceptions. */
export interface StructuredOutputSetting {
  default: StructuredOutputMode;
  perModel: Record<string, StructuredOutputMode>;
}

function mode(value: string, where: string): StructuredOutputMode {
  const trimmed = value.trim();
  if ((STRUCTURED_OUTPUT_MODES as readonly string[]).includes(trimmed)) return trimmed as StructuredOutputMode;
  throw new Error(`${where}: expected one of ${STRUCTURED_OUTPUT_MODES.join(', ')}, got ${JSON.stringify(trimmed)}`);
}

/**
 * `json_object`, or `auto,smollm2=json_object,gpt-4o-mini=json_schema`: entries separated by commas,
 * a bare mode is the default, `model=mode` an exception for one model (split at the last `=`, as
 * model names may hold `:` and `/`).
 */
export function parseStructuredOutputSetting(text: string): StructuredOutputSetting {
  const setting: StructuredOutputSetting = { default: 'auto', perModel: {} };
  let defaults = 0;
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  entries.forEach((entry, index) => {
    const at = entry.lastIndexOf('=');
    const where = `entry ${index + 1}`;
    if (at === -1) {
      setting.default = mode(entry, where);
      defaults++;
      return;
    }
    const model = entry.slice(0, at).trim();
    if (!model) throw new Error(`${where}: a model name is missing before '='`);
    setting.perModel[model] = mode(entry.slice(at + 1), `${where} (${model})`);
  });
  if (defaults > 1) throw new Error('more than one default mode');
  return setting;
}

/** The mode for `model`: its own entry, else the default. */
export function structuredOutputModeFor(setting: StructuredOutputSetting, model: string): StructuredOutputMode {
  return setting.perModel[model] ?? setting.default;
}
