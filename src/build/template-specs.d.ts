// The module scripts/build.mjs generates for the startup snapshot: each template of templates/,
// precompiled (Handlebars.precompile), by name.
declare module 'born-tuned:template-specs' {
  const specs: Readonly<Record<string, TemplateSpecification>>;
  export default specs;
}
