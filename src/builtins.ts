import { requireBuiltin } from './require-builtin.ts';

// Node built-ins that only some commands need, loaded on first use instead of at start: each one
// costs every run of gen its loading, and the startup snapshot its heap, restored at every start
// (README, Performance).

/** node:child_process (verify's queries to the manager). */
export const childProcess = () => requireBuiltin<typeof import('node:child_process')>('node:child_process');

/** node:crypto (manifest checksums). */
export const crypto = () => requireBuiltin<typeof import('node:crypto')>('node:crypto');

/** node:zlib (`--encoding gzip`). */
export const zlib = () => requireBuiltin<typeof import('node:zlib')>('node:zlib');

/**
 * A full garbage collection now. A run that drops a large structure (the syntax tree of a
 * 50,000-host inventory, ~400 MB) before a long phase would otherwise carry it as garbage until
 * V8's next full collection, which its heuristics schedule at about twice the live size: the peak
 * memory of the whole run. `--expose-gc` set at run time makes `gc` available to a new context.
 */
export function collectGarbage(): void {
  requireBuiltin<typeof import('node:v8')>('node:v8').setFlagsFromString('--expose-gc');
  (requireBuiltin<typeof import('node:vm')>('node:vm').runInNewContext('gc') as () => void)();
}

/** node:os (the passwd home directory, which `--out` must never name). */
export const os = () => requireBuiltin<typeof import('node:os')>('node:os');
