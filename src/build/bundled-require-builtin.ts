import type * as Original from '../require-builtin.ts';

// Stands in for src/require-builtin.ts in both bundles (scripts/build.mjs): each already has a
// `require` in scope (dist/gen.js from its banner, the snapshot's CommonJS script its own), and
// loading node:module while the snapshot is built would put it, and the stderr stream its
// "not yet verified in snapshots" warning opens, into the snapshot heap.

/** `require(id)` for a Node built-in, with the bundle's own require. */
export const requireBuiltin: typeof Original.requireBuiltin = (id) => require(id);
