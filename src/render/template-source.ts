import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../source/package-root.ts';

// Where templates come from when gen runs from src/ (tests) or from dist/gen.js: the .hbs files
// under templates/, compiled on first use. The startup snapshot is built with a precompiled
// replacement of this module (scripts/build.mjs) exporting the same two functions, so it carries
// neither the Handlebars compiler nor the template files.

/** A fresh, isolated Handlebars environment (full build: it can compile). */
export function createEnvironment(): typeof Handlebars {
  return Handlebars.create();
}

/** Compiles `templates/NAME.hbs` in `env` with `options`. */
export function loadTemplate(env: typeof Handlebars, name: string, options: CompileOptions): HandlebarsTemplateDelegate {
  return env.compile(readFileSync(templatePath(name), 'utf8'), options);
}

/** Absolute path of a template file. */
function templatePath(name: string): string {
  return join(packageRoot(), 'templates', `${name}.hbs`);
}
