// Builds the CLI:
//  1. dist/gen.js: one ESM bundle, so `gen` starts without a TypeScript loader (what the tests run);
//  2. dist/gen.blob: a V8 startup snapshot of the same code, already loaded and warmed up (every
//     module evaluated, the templates compiled), which bin/gen starts when it is usable. Loading and
//     evaluating the bundle is most of what `gen` costs; the snapshot skips it.
//
// The snapshot is an optimisation only: when it cannot be built, or when it does not print exactly
// what dist/gen.js prints for a set of commands, it is left out (with a warning) and bin/gen runs
// dist/gen.js. Set BORN_TUNED_NO_SNAPSHOT=1 to skip it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const genJs = join(dist, 'gen.js');
const blob = join(dist, 'gen.blob');
const stamp = join(dist, 'gen.blob.stamp');
const snapshotEntry = join(dist, 'gen-snapshot.cjs');

const common = { absWorkingDir: root, bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };

await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: genJs,
  format: 'esm',
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});

// The old blob stays in place while the new one is built (bin/gen ignores it: dist/gen.js is now
// newer), so a gen started meanwhile still works; the new one replaces it by rename.
const dropSnapshot = () => {
  for (const f of [blob, stamp, `${blob}.tmp`, `${stamp}.tmp`]) rmSync(f, { force: true });
};
if (process.env.BORN_TUNED_NO_SNAPSHOT) {
  dropSnapshot();
  rmSync(snapshotEntry, { force: true });
} else {
  try {
    await buildSnapshot();
  } catch (e) {
    dropSnapshot();
    console.warn(`build: no startup snapshot, bin/gen will run dist/gen.js (slower start): ${e instanceof Error ? e.message : e}`);
  }
}

async function buildSnapshot() {
  // A snapshot needs one CommonJS script without top-level await: it imports the CLI (src/cli.ts,
  // free of side effects) and runs main() from the deserialize hook instead of src/main.ts.
  const entry = `
import { startupSnapshot } from 'node:v8';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { main, processIo } from './src/cli.ts';

// import.meta.url of the bundled modules (src/source/package-root.ts): dist/gen.js, whose package
// root is this one. At run time it is the script path bin/gen passes (argv[1]); bin/gen only uses
// the snapshot from the package root it was built in (package-root.ts caches that root).
globalThis.__BORN_TUNED_URL = pathToFileURL(${JSON.stringify(genJs)}).href;

// Warm-up while building: compiles the code paths and templates a run needs, so the snapshot holds
// them. Output goes nowhere; --out writes to a temporary directory removed at once.
const sink = { stdout: () => true, stderr: () => true, isTTY: false };
const warm = async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-snapshot-'));
  try {
    for (const argv of [
      ['--profile', 'incus-dense'],
      ['--profile', 'incus-dense', '--profile', '10gbe'],
      ['--profile', 'lxd-small', '--profile', '10gbe', '--out', join(tmp, 'out')],
      ['--profile', 'lxd-small', '--artifact', 'sysctl'],
    ]) await main(argv, sink);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
};
warm();

startupSnapshot.setDeserializeMainFunction(async () => {
  globalThis.__BORN_TUNED_URL = pathToFileURL(process.argv[1]).href;
  process.exitCode = await main(process.argv.slice(2), processIo);
});
`;
  await build({
    ...common,
    stdin: { contents: entry, resolveDir: root, sourcefile: 'snapshot-entry.mjs', loader: 'ts' },
    outfile: snapshotEntry,
    format: 'cjs',
    minify: true,
    keepNames: true,
    define: { 'import.meta.url': 'globalThis.__BORN_TUNED_URL' },
  });

  const newBlob = `${blob}.tmp`;
  const made = spawnSync(process.execPath, ['--snapshot-blob', newBlob, '--build-snapshot', snapshotEntry], { cwd: root, encoding: 'utf8' });
  if (made.status !== 0 || !existsSync(newBlob)) throw new Error(`node --build-snapshot failed (exit ${made.status}): ${firstLine(made.stderr)}`);

  verifySnapshot(newBlob);

  // bin/gen uses the blob only with this node binary (same device, inode, size, mtime) and from
  // this package root; otherwise it runs dist/gen.js.
  const st = statSync(process.execPath);
  const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
  writeFileSync(`${stamp}.tmp`, `bt_root=${q(root)}\nbt_node=${q(`${st.dev}:${st.ino}:${st.size}:${Math.floor(st.mtimeMs / 1000)}`)}\n`);
  renameSync(`${stamp}.tmp`, stamp);
  renameSync(newBlob, blob);
}

/** Throws unless the snapshot prints, writes and exits exactly like dist/gen.js, from another cwd. */
function verifySnapshot(blob) {
  const cwd = mkdtempSync(join(tmpdir(), 'born-tuned-verify-'));
  try {
    copyFileSync(join(root, 'profiles', 'lxd-small.yaml'), join(cwd, 'host.yaml'));
    const cases = [
      ['--profile', 'incus-dense'],
      ['--profile', 'incus-dense', '--profile', '10gbe'],
      ['--profile', 'lxd-small', '--profile', '10gbe', '--artifact', 'packer-scripts'],
      ['--profile', './host.yaml', '--profile', '10gbe', '--artifact', 'sysctl'],
      ['--profile', 'incus-dense', '--format', 'json', '--artifact', 'preseed'],
      ['--profile', 'no-such-profile'],
      ['--profile', '10gbe'],
      ['--bogus'],
      ['--help'],
      ['--version'],
      ['list'],
      ['schema'],
      ['explain', '--profile', 'incus-dense', 'fs.inotify.max_user_watches'],
      ['diff', 'lxd-small', 'incus-dense+10gbe'],
      ['--profile', 'incus-dense', '--profile', '10gbe', '--out', 'OUT'],
    ];
    for (const args of cases) {
      const run = (tag, pre) => {
        const a = args.map((x) => (x === 'OUT' ? `out-${tag}` : x));
        const r = spawnSync(process.execPath, [...pre, genJs, ...a], { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
        const tree = args.includes('OUT') ? readTree(join(cwd, `out-${tag}`)) : '';
        return { status: r.status, stdout: r.stdout.replaceAll(`out-${tag}`, 'OUT'), stderr: r.stderr.replaceAll(`out-${tag}`, 'OUT'), tree };
      };
      const plain = run('plain', []);
      const snap = run('snap', ['--snapshot-blob', blob]);
      for (const k of ['status', 'stdout', 'stderr', 'tree']) {
        if (plain[k] !== snap[k]) throw new Error(`the snapshot differs from dist/gen.js on \`gen ${args.join(' ')}\` (${k}): ${firstLine(snap.stderr) || JSON.stringify(String(snap[k]).slice(0, 200))}`);
      }
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** Every file under dir with its mode and bytes, as one string. */
function readTree(dir) {
  if (!existsSync(dir)) return '(none)';
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${(statSync(p).mode & 0o7777).toString(8)}\n${readFileSync(p, 'latin1')}`);
    }
  };
  walk(dir);
  return out.join('\n');
}

function firstLine(s) {
  return String(s ?? '').trim().split('\n')[0] ?? '';
}

