import Handlebars from 'handlebars/runtime';
import SPECS from 'born-tuned:template-specs';
import type * as Original from '../render/template-source.ts';

// Stands in for src/render/template-source.ts in the startup snapshot (scripts/build.mjs): every
// template precompiled at build time (with render/compile-options.ts), run by Handlebars' runtime,
// so the snapshot carries neither the compiler nor its source-map library nor the template files.

/** A fresh, isolated Handlebars environment (runtime only: it runs precompiled templates). */
export const createEnvironment: typeof Original.createEnvironment = () => Handlebars.create();

/** The template NAME, precompiled; the options it was compiled with are the build's. */
export const loadTemplate: typeof Original.loadTemplate = (env, name) => {
  if (!Object.hasOwn(SPECS, name)) throw new Error(`no template named ${name}`);
  return env.template(SPECS[name]!);
};
