/**
 * The placeholder syntax of `run`'s `user_prompt_template`, declared once: ingest checks templates
 * and items with it, the processor fills templates with it. `{name}` is an item field; a name is
 * an identifier. Names that are properties of every JavaScript object (`constructor`,
 * `__proto__`, ...) are refused at intake: they would read the object's machinery, not a field.
 */
export const TEMPLATE_PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Placeholder names no item field can have safely. */
export const RESERVED_TEMPLATE_FIELDS: ReadonlySet<string> = new Set([
  '__proto__',
  'prototype',
  ...Object.getOwnPropertyNames(Object.prototype),
]);

/** The item fields a template uses, each once, in order of first use. */
export function templateFields(template: string): string[] {
  return [...new Set([...template.matchAll(TEMPLATE_PLACEHOLDER)].map((m) => m[1] as string))];
}

/** The reserved names a template uses (refused at intake). */
export function reservedTemplateFields(template: string): string[] {
  return templateFields(template).filter((name) => RESERVED_TEMPLATE_FIELDS.has(name));
}

/** The item's own value for a placeholder; never one inherited from Object.prototype. */
export function templateValue(item: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(item, name) ? item[name] : undefined;
}

/** Fills `{field}` placeholders with the item's values (objects as JSON). Ingest checked they exist. */
export function renderTemplate(template: string, item: Record<string, unknown>): string {
  return template.replace(TEMPLATE_PLACEHOLDER, (whole, name: string) => {
    const value = templateValue(item, name);
    if (value === undefined) return whole;
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}
