import { requireBuiltin } from './require-builtin.ts';

// Node built-ins that only some commands need, loaded on first use instead of at start: each one
// costs every run of gen its loading, and the startup snapshot its heap, restored at every start
// (node:child_process ~270 KB).

/** node:child_process (verify's queries to the manager). */
export const childProcess = () => requireBuiltin<typeof import('node:child_process')>('node:child_process');

/** node:crypto (manifest checksums). */
export const crypto = () => requireBuiltin<typeof import('node:crypto')>('node:crypto');

/** node:zlib (`--encoding gzip`). */
export const zlib = () => requireBuiltin<typeof import('node:zlib')>('node:zlib');

/** node:os (the passwd home directory, which `--out` must never name). */
export const os = () => requireBuiltin<typeof import('node:os')>('node:os');
