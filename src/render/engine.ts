import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../source/package-root.ts';
import { registerHelpers } from './helpers.ts';

/**
 * One isolated Handlebars environment for every template: no HTML escaping (wrong for every format
 * we emit), strict lookups (a missing value is a bug, not an empty string) and only our helpers,
 * each of which escapes for its own output context.
 */
const env = Handlebars.create();
registerHelpers(env);

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Names of the helpers templates may use; `knownHelpersOnly` rejects any other. */
export const KNOWN_HELPERS = { yaml: true, ini: true, comment: true, udev: true, sh: true, hcl: true, json: true } as const;

/** Renders `templates/NAME.hbs` with `data`. Compiled templates are cached for the process. */
export function renderTemplate(name: string, data: object): string {
  let template = compiled.get(name);
  if (!template) {
    const text = readFileSync(templatePath(name), 'utf8');
    template = env.compile(text, { noEscape: true, strict: true, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true });
    compiled.set(name, template);
  }
  return template(data);
}

/** Absolute path of a template file. */
export function templatePath(name: string): string {
  return join(packageRoot(), 'templates', `${name}.hbs`);
}
