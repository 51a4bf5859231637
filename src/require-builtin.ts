import { createRequire } from 'node:module';

// Loads a Node built-in by name, synchronously, on first use (src/builtins.ts). Both bundles have
// a `require` of their own, and scripts/build.mjs swaps this module for one that uses it: loading
// node:module into the startup snapshot would cost every start more heap to restore.
let requireFromHere: NodeJS.Require | undefined;

/** `require(id)` for a Node built-in, from an ES module. */
export function requireBuiltin<T>(id: `node:${string}`): T {
  requireFromHere ??= createRequire(import.meta.url);
  return requireFromHere(id) as T;
}
