import { COMPILE_OPTIONS } from './compile-options.ts';
import { registerHelpers } from './helpers.ts';
import { createEnvironment, loadTemplate } from './template-source.ts';

/** One isolated Handlebars environment for every template, with only our helpers registered. */
const env = createEnvironment();
registerHelpers(env);

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Renders `templates/NAME.hbs` with `data`. Compiled templates are cached for the process. */
export function renderTemplate(name: string, data: object): string {
  let template = compiled.get(name);
  if (!template) {
    template = loadTemplate(env, name, COMPILE_OPTIONS);
    compiled.set(name, template);
  }
  return template(data);
}
