// The startup snapshot's script (scripts/build.mjs bundles it as CommonJS and runs
// `node --build-snapshot` on it): it loads the CLI (src/cli.ts, free of side effects), runs a few
// commands so the code they need is compiled into the snapshot, and hands each later start to
// main() through the deserialize hook, in place of src/main.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { main, processIo, type Io } from '../cli.ts';

declare global {
  /** What `import.meta.url` reads in the snapshot's modules (the build defines it so): the bundle's
   * URL while building, the script bin/gen passes at run time (src/source/package-root.ts). */
  var __BORN_TUNED_URL: string;
}

// While the snapshot is made, the modules find the package root from dist/gen.js beside this script
// (the package the snapshot is made in: a clone's build, or an installed package's first run); at
// run time bin/gen only uses the snapshot from the package root it was made in.
globalThis.__BORN_TUNED_URL = pathToFileURL(join(__dirname, 'gen.js')).href;

/** The warm-up: output goes nowhere; --out writes to a temporary directory removed at once. */
async function warmUp(): Promise<void> {
  const sink: Io = { stdout: () => true, stderr: () => true, isTTY: false };
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-snapshot-'));
  try {
    for (const argv of [
      ['--profile', 'incus-dense'],
      ['--profile', 'incus-dense', '--profile', '10gbe'],
      ['--profile', 'lxd-small', '--profile', '10gbe', '--out', join(tmp, 'out')],
      ['--profile', 'lxd-small', '--artifact', 'sysctl'],
    ])
      await main(argv, sink);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

void warmUp();

startupSnapshot.setDeserializeMainFunction(async () => {
  globalThis.__BORN_TUNED_URL = pathToFileURL(process.argv[1]!).href;
  process.exitCode = await main(process.argv.slice(2), processIo);
});
