// How every template is compiled, in one place: src/render/template-source.ts compiles with these
// at run time, scripts/build.mjs precompiles the snapshot's templates with the same.

/** Names of the helpers templates may use; `knownHelpersOnly` rejects any other. */
export const KNOWN_HELPERS = { yaml: true, ini: true, comment: true, udev: true, sh: true, hcl: true, nftIfname: true } as const;

/** No HTML escaping (wrong for every format we emit), strict lookups (a missing value is a bug, not
 * an empty string), only our helpers (each escapes for its own output context). */
export const COMPILE_OPTIONS = { noEscape: true, strict: true, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true } as const;
