// Runs every test/*.test.ts suite (each a uvu file that runs itself) in parallel worker slots and
// prints uvu's own summary lines at the end ("Total: N", "Passed: M"), which test/run.sh reads.
// Most suites spend their time in subprocesses (gen, cloud-init, shellcheck, bash, python), so
// running one suite per core (at least two) roughly halves the wall time on the 2-core CI machine.
// Each suite's output is printed whole when it ends, so suites never interleave. A suite that
// ends without a summary (it crashed while loading) counts as one failed test.
//
// The suites are bundled first, all at once, by esbuild (the transform tsx uses) and run by plain
// node: through tsx's loader each suite spent ~1.5 s of CPU loading src/ before its first test
// (node 20 runs loader hooks on a thread of their own, one round trip per module), ~1 minute of
// CPU over all suites. `npx tsx test/NAME.test.ts` still runs one suite from its source.
//
// Tiers: a suite whose first line is `// tier: full — WHY` is run by `npm test` and left out by
// `--fast` (npm run test:fast), which names it and its reason. Only suites that are long by
// nature belong there; README (Development) lists them.
// Usage: node test/run-suites.mjs [--fast] [FILE...]   (default: every test/*.test.ts)
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const fast = args.includes('--fast');
const given = args.filter((a) => a !== '--fast');
const all = (given.length ? given.map((f) => join(process.cwd(), f)) : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => join(root, 'test', f)))
  // Largest first: long suites start early, short ones fill the gaps at the end.
  .sort((a, b) => statSync(b).size - statSync(a).size);

/** The reason a suite gives for running in `npm test` only, from its `// tier: full — WHY` first line. */
function fullOnly(file) {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  return /^\/\/ tier: full\b/.exec(first) ? first.replace(/^\/\/ tier: full\s*(—|-)?\s*/, '') || 'long by nature' : undefined;
}
const leftOut = fast ? all.flatMap((f) => (fullOnly(f) === undefined ? [] : [[f, fullOnly(f)]])) : [];
const files = all.filter((f) => !leftOut.some(([l]) => l === f));
const slots = Math.max(2, availableParallelism());

// Inside the package (dist/ is ignored by git), so that src/ still finds the package root and
// node_modules from the bundles; one directory per run, removed at the end.
mkdirSync(join(root, 'dist'), { recursive: true });
const bundles = mkdtempSync(join(root, 'dist', 'suites-'));
// The suites' scratch directories (os.tmpdir(), mktemp, python's tempfile: TMPDIR) go to tmpfs when
// there is one, in a directory of this run removed at the end: on this machine's ext4, creating a
// file within minutes of deleting many costs ~0.7 ms of kernel time (README, Performance), and the
// suites create and delete tens of thousands. Nothing they check depends on the file system; those
// that need one of a kind (out-environment's small and read-only tmpfs) mount it themselves.
const scratch = existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', 'born-tuned-suites-')) : undefined;
// Like /tmp: suites that run gen as an unprivileged user (out-environment) reach their directories.
if (scratch) chmodSync(scratch, 0o1777);
const cleanUp = () => {
  rmSync(bundles, { recursive: true, force: true });
  if (!scratch) return;
  try {
    rmSync(scratch, { recursive: true, force: true });
  } catch (e) {
    // A suite that crashed may have left a mount in it.
    console.log(`note: ${scratch} was not removed: ${e.message}`);
  }
};
process.on('exit', cleanUp);
for (const [signal, n] of Object.entries({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })) {
  process.on(signal, () => {
    console.log(`\nrun-suites: stopped by ${signal}`);
    process.exit(128 + n);
  });
}
await build({
  absWorkingDir: root,
  entryPoints: files,
  entryNames: '[name]',
  outdir: bundles,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

let total = 0;
let passed = 0;
let crashed = 0;
const queue = [...files];

function runOne(file) {
  return new Promise((done) => {
    const started = Date.now();
    const bundle = join(bundles, `${basename(file, '.ts')}.mjs`);
    // --enable-source-maps: a failure's stack names the .ts file and line.
    const child = spawn(process.execPath, ['--enable-source-maps', bundle], { cwd: root, env: { ...process.env, FORCE_COLOR: '0', ...(scratch && { TMPDIR: scratch }) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks).toString('utf8');
      process.stdout.write(`\n${relative(root, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)\n${out}`);
      const t = /^\s*Total:\s*(\d+)/m.exec(out);
      const p = /^\s*Passed:\s*(\d+)/m.exec(out);
      if (!t || !p) {
        crashed++;
        process.stdout.write(`FAIL: ${relative(root, file)} ended without a summary (exit ${code ?? signal})\n`);
      } else {
        total += Number(t[1]);
        passed += Number(p[1]);
        // A suite that reported all passed but exited non-zero failed somewhere outside a test.
        if (code !== 0 && t[1] === p[1]) crashed++;
      }
      done();
    });
  });
}

async function worker() {
  for (let file = queue.shift(); file; file = queue.shift()) await runOne(file);
}

await Promise.all(Array.from({ length: Math.min(slots, files.length) }, worker));
for (const [file, why] of leftOut) console.log(`\nleft for npm test: ${relative(root, file)} (${why})`);
// The summary in uvu's words; a crashed suite is one test more, and failed.
console.log(`\n  Total:     ${total + crashed}\n  Passed:    ${passed}`);
process.exitCode = passed === total + crashed ? 0 : 1;
