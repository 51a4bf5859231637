import { COMPILE_OPTIONS } from './compile-options.ts';
import { registerHelpers } from './helpers.ts';
import { createEnvironment, loadTemplate } from './template-source.ts';

/** One isolated Handlebars environment for every template, with only our helpers registered. */
const env = createEnvironment();
registerHelpers(env);

/** Templates that others include with `{{> NAME}}`: code several artifacts share, kept in one place. */
const PARTIALS = ['packer-root-paths.sh'] as const;
let partialsRegistered = false;

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Renders `templates/NAME.hbs` with `data`. Compiled templates are cached for the process. */
export function renderTemplate(name: string, data: object): string {
  let template = compiled.get(name);
  if (!template) {
    // On first use, not at load: commands that render nothing (`gen --version`) read no template.
    if (!partialsRegistered) {
      for (const partial of PARTIALS) env.registerPartial(partial, loadTemplate(env, partial, COMPILE_OPTIONS));
      partialsRegistered = true;
    }
    template = loadTemplate(env, name, COMPILE_OPTIONS);
    compiled.set(name, template);
  }
  return template(data);
}
