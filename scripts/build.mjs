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

// V8 flags the snapshot is built and run with (V8 refuses a snapshot under other flags; the stamp
// hands them to bin/gen). What each saves is in the README (Performance):
// --no-rehash-snapshot: keep the hash seed baked into the snapshot instead of drawing a new one and
//   rehashing every string and table in the restored heap at each start. The seed is still random,
//   drawn when the snapshot is built; gen reads only its operator's own files.
// --no-opt: a single gen run is over before the optimizing compiler pays back its compile time.
//   `gen --inventory` turns it back on at run time (v8.setFlagsFromString).
const SNAPSHOT_FLAGS = ['--no-opt', '--no-rehash-snapshot'];

// Modules the bundles take in place of others: each is a real, type-checked file under src/build/
// that says why.
const standIn = (name, filter, file, when = () => true) => ({
  name,
  setup(b) {
    b.onResolve({ filter }, (args) => (when(args) ? { path: join(root, 'src', 'build', file) } : undefined));
  },
});
/** node:child_process where commander imports it: loaded on first use. */
const lazyChildProcessForCommander = standIn('lazy-child-process-for-commander', /^node:child_process$/, 'lazy-child-process.cts', (args) => /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer));
/** src/require-builtin.ts: the bundle's own require instead of node:module. */
const bundledRequireBuiltin = standIn('bundled-require-builtin', /[\\/]require-builtin\.ts$/, 'bundled-require-builtin.ts');

const common = { absWorkingDir: root, bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning', plugins: [lazyChildProcessForCommander, bundledRequireBuiltin] };

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
  for (const f of [blob, stamp, `${blob}.node`, `${blob}.tmp`, `${stamp}.tmp`, `${blob}.node.tmp`]) rmSync(f, { force: true });
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
  // A snapshot needs one CommonJS script without top-level await: src/build/snapshot-entry.ts.
  await build({
    ...common,
    entryPoints: ['src/build/snapshot-entry.ts'],
    outfile: snapshotEntry,
    format: 'cjs',
    minify: true,
    keepNames: false,
    define: { 'import.meta.url': 'globalThis.__BORN_TUNED_URL', BORN_TUNED_BUNDLE: JSON.stringify(genJs) },
    plugins: [...common.plugins, await precompiledTemplates()],
  });

  const newBlob = `${blob}.tmp`;
  const made = spawnSync(process.execPath, [...SNAPSHOT_FLAGS, '--snapshot-blob', newBlob, '--build-snapshot', snapshotEntry], { cwd: root, encoding: 'utf8' });
  if (made.status !== 0 || !existsSync(newBlob)) throw new Error(`node --build-snapshot failed (exit ${made.status}): ${firstLine(made.stderr)}`);

  verifySnapshot(newBlob);

  // bin/gen uses the blob only from this package root, with these flags, and with this node binary:
  // the same file (test -ef) with the same modification time, to the nanosecond, as the reference
  // file dist/gen.blob.node that touch -r copies it to (test -nt/-ot: a stat, where a subprocess
  // would cost every start more, README "Performance"). An upgraded or rebuilt node has another mtime. Otherwise it runs
  // dist/gen.js (node itself would refuse a snapshot from another version, with exit 14).
  const reference = `${blob}.node`;
  writeFileSync(`${reference}.tmp`, '');
  const touched = spawnSync('touch', ['-r', process.execPath, `${reference}.tmp`], { encoding: 'utf8' });
  if (touched.status !== 0) throw new Error(`touch -r ${process.execPath} failed: ${firstLine(touched.stderr)}`);
  renameSync(`${reference}.tmp`, reference);
  const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
  writeFileSync(`${stamp}.tmp`, `bt_root=${q(root)}\nbt_node=${q(process.execPath)}\nbt_flags=${q(SNAPSHOT_FLAGS.join(' '))}\n`);
  renameSync(`${stamp}.tmp`, stamp);
  renameSync(newBlob, blob);
}

/**
 * Swaps src/render/template-source.ts (reads templates/*.hbs and compiles them with the full
 * Handlebars) for src/build/precompiled-template-source.ts, and gives it the module it imports,
 * born-tuned:template-specs: every template precompiled here, with the options of
 * src/render/compile-options.ts.
 */
async function precompiledTemplates() {
  const Handlebars = (await import('handlebars')).default;
  const options = await build({ ...common, entryPoints: ['src/render/compile-options.ts'], write: false, format: 'esm' });
  const { COMPILE_OPTIONS } = await import(`data:text/javascript,${encodeURIComponent(options.outputFiles[0].text)}`);
  const dir = join(root, 'templates');
  const specs = readdirSync(dir)
    .filter((f) => f.endsWith('.hbs'))
    .sort()
    .map((f) => `  ${JSON.stringify(f.slice(0, -'.hbs'.length))}: ${Handlebars.precompile(readFileSync(join(dir, f), 'utf8'), COMPILE_OPTIONS)},`);
  return {
    name: 'precompiled-templates',
    setup(b) {
      b.onResolve({ filter: /[\\/]template-source\.ts$/ }, () => ({ path: join(root, 'src', 'build', 'precompiled-template-source.ts') }));
      b.onResolve({ filter: /^born-tuned:template-specs$/ }, () => ({ path: 'template-specs', namespace: 'born-tuned' }));
      b.onLoad({ filter: /^template-specs$/, namespace: 'born-tuned' }, () => ({ contents: `export default {\n${specs.join('\n')}\n};\n`, loader: 'js' }));
    },
  };
}

/** Throws unless the snapshot prints, writes and exits exactly like dist/gen.js, from another cwd. */
function verifySnapshot(blob) {
  const cwd = mkdtempSync(join(tmpdir(), 'born-tuned-verify-'));
  try {
    copyFileSync(join(root, 'profiles', 'lxd-small.yaml'), join(cwd, 'host.yaml'));
    // --inventory runs with V8's optimizing compiler turned back on (SNAPSHOT_FLAGS): checked too.
    const host = (i) => [`  node${i}:`, '    nics:', `      uplink: {mac: "52:54:00:00:00:0${i}", addresses: ["10.0.0.${i}/24"], gateway: 10.0.0.254}`];
    writeFileSync(join(cwd, 'hosts.yaml'), ['defaults:', '  profiles: [incus-dense, 10gbe]', 'hosts:', ...host(1), ...host(2), ''].join('\n'));
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
      ['--inventory', 'hosts.yaml', '--out', 'OUT'],
    ];
    for (const args of cases) {
      const run = (tag, pre) => {
        const a = args.map((x) => (x === 'OUT' ? `out-${tag}` : x));
        const r = spawnSync(process.execPath, [...pre, genJs, ...a], { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
        const tree = args.includes('OUT') ? readTree(join(cwd, `out-${tag}`)) : '';
        return { status: r.status, stdout: r.stdout.replaceAll(`out-${tag}`, 'OUT'), stderr: r.stderr.replaceAll(`out-${tag}`, 'OUT'), tree };
      };
      const plain = run('plain', []);
      const snap = run('snap', [...SNAPSHOT_FLAGS, '--snapshot-blob', blob]);
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

