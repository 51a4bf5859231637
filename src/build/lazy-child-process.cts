// Stands in for node:child_process where commander imports it (scripts/build.mjs): commander loads
// it at start for executable subcommands, which gen does not have, and it would cost every start
// of gen its loading and the startup snapshot its heap. The real module is loaded on first use.
import type * as ChildProcess from 'node:child_process';

let real: typeof ChildProcess | undefined;

export = new Proxy({} as typeof ChildProcess, {
  get: (_, key) => (real ??= require('node:child_process') as typeof ChildProcess)[key as keyof typeof ChildProcess],
});
