// Makes dist/gen.blob, the V8 startup snapshot bin/gen starts when it can (the CLI already loaded
// and warmed up), from dist/gen-snapshot.cjs, which scripts/build.mjs bundled beside dist/gen.js.
// Needs nothing but node and touch: it ships in the npm package, where the snapshot cannot come
// ready-made (V8 accepts a snapshot only from the node binary that made it, and bin/gen only from
// the package root it was made for).
//
// Two callers:
//  - scripts/build.mjs, in a clone (npm ci, npm run build): makeSnapshot(), errors thrown;
//  - bin/gen, run as `node scripts/snapshot.mjs` in the background when it finds no snapshot it can
//    use (a new install, another node) and may write dist/ (under flock, so one at a time). A
//    failure is written to dist/gen.blob.failed, with the modification time of the node that
//    failed, so bin/gen does not try again with that node.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const genJs = join(dist, 'gen.js');
const blob = join(dist, 'gen.blob');
const stamp = join(dist, 'gen.blob.stamp');
const reference = join(dist, 'gen.blob.node');
/** Why the last try of bin/gen's background build failed; its modification time is that node's. */
export const FAILED_MARK = join(dist, 'gen.blob.failed');
/** The CommonJS script `node --build-snapshot` runs (scripts/build.mjs writes it). */
export const SNAPSHOT_ENTRY = join(dist, 'gen-snapshot.cjs');

// V8 flags the snapshot is built and run with (V8 refuses a snapshot under other flags; the stamp
// hands them to bin/gen). Each saves ~4 ms of a start (npm run bench, this 2-core machine):
// --no-rehash-snapshot: keep the hash seed baked into the snapshot instead of drawing a new one and
//   rehashing every string and table in the restored heap at each start. The seed is still random,
//   drawn when the snapshot is built; gen reads only its operator's own files.
// --no-opt: a single gen run is over before the optimizing compiler pays back its compile time.
//   `gen --inventory` turns it back on at run time (v8.setFlagsFromString): 10,000 hosts take 2.5x
//   as long without it.
const SNAPSHOT_FLAGS = ['--no-opt', '--no-rehash-snapshot'];

/** First line of dist/gen-snapshot.cjs: the digest of the files it must agree with. */
const INPUTS_PREFIX = '// born-tuned snapshot inputs: ';

/**
 * The banner scripts/build.mjs puts on dist/gen-snapshot.cjs: a digest of dist/gen.js and every
 * template as they are now. A snapshot made from that script is only right beside those same files
 * (it carries its own precompiled templates); modification times cannot tell, since npm gives every
 * installed file the time it was unpacked.
 */
export function snapshotInputsBanner() {
  return `${INPUTS_PREFIX}${inputsDigest()}`;
}

function inputsDigest() {
  const hash = createHash('sha256').update(readFileSync(genJs));
  const templates = join(root, 'templates');
  for (const name of readdirSync(templates)
    .filter((f) => f.endsWith('.hbs'))
    .sort())
    hash.update(`\0${name}\0`).update(readFileSync(join(templates, name)));
  return hash.digest('hex');
}

/** Temporary names are this process's own: a build in a clone may run beside bin/gen's. */
const tmpName = (file) => `${file}.${process.pid}.tmp`;

/** Removes the snapshot and everything that says it is usable or that it failed. */
export function dropSnapshot() {
  for (const f of [blob, stamp, reference, FAILED_MARK]) rmSync(f, { force: true });
}

/**
 * Builds dist/gen.blob from dist/gen-snapshot.cjs for this node and this package root, checks that
 * it prints, writes and exits exactly like dist/gen.js, then records the stamp bin/gen reads. Throws
 * (leaving the previous snapshot as it was) when any step fails or when dist/gen.js, a template or
 * the script changed meanwhile.
 */
export function makeSnapshot() {
  const entryStat = () => `${statSync(SNAPSHOT_ENTRY).mtimeMs} ${statSync(SNAPSHOT_ENTRY).size}`;
  const entryBefore = entryStat();
  const matchesInputs = () => readFileSync(SNAPSHOT_ENTRY, 'utf8').split('\n', 1)[0] === snapshotInputsBanner();
  if (!matchesInputs())
    throw new Error('dist/gen-snapshot.cjs was not built with this dist/gen.js and these templates (npm run build makes both)');

  removeOrphanedTemporaries();
  const newBlob = tmpName(blob);
  const newReference = tmpName(reference);
  const newStamp = tmpName(stamp);
  try {
    const made = spawnSync(process.execPath, [...SNAPSHOT_FLAGS, '--snapshot-blob', newBlob, '--build-snapshot', SNAPSHOT_ENTRY], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    if (made.status !== 0 || !existsSync(newBlob))
      throw new Error(`node --build-snapshot failed (exit ${made.status}): ${firstLine(made.stderr)}`);

    verifySnapshot(newBlob);

    // bin/gen uses the blob only from this package root, with these flags, and with this node
    // binary: the same file (test -ef) with the same modification time, to the nanosecond, as the
    // reference file dist/gen.blob.node that touch -r copies it to (test -nt/-ot, no subprocess: a
    // stat costs ~1.5 ms of every start). An upgraded or rebuilt node has another mtime. Otherwise
    // it runs dist/gen.js (node itself would refuse a snapshot from another version, with exit 14).
    stampWithNodeTime(newReference, '');
    const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
    writeFileSync(newStamp, `bt_root=${q(root)}\nbt_node=${q(process.execPath)}\nbt_flags=${q(SNAPSHOT_FLAGS.join(' '))}\n`);
    if (entryStat() !== entryBefore || !matchesInputs())
      throw new Error('dist/gen.js, dist/gen-snapshot.cjs or a template changed while the snapshot was being built');
    // bin/gen needs all three: the old blob goes first (it may be another node's, which the new
    // reference and stamp would vouch for), the new one last.
    rmSync(blob, { force: true });
    renameSync(newReference, reference);
    renameSync(newStamp, stamp);
    renameSync(newBlob, blob);
    rmSync(FAILED_MARK, { force: true });
  } finally {
    for (const f of [newBlob, newReference, newStamp]) rmSync(f, { force: true });
  }
}

/** Removes the temporary files of makers that died midway (bin/gen's runs in the background). */
function removeOrphanedTemporaries() {
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return e.code === 'EPERM';
    }
  };
  for (const name of readdirSync(dist)) {
    const m = /^gen\.blob(?:\.node|\.stamp|\.failed)?\.(\d+)\.tmp$/.exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(dist, name), { force: true });
  }
}

/** Writes `text` to `file` and gives it the modification time of this node binary. */
function stampWithNodeTime(file, text) {
  writeFileSync(file, text);
  const touched = spawnSync('touch', ['-r', process.execPath, file], { encoding: 'utf8' });
  if (touched.status !== 0) throw new Error(`touch -r ${process.execPath} failed: ${firstLine(touched.stderr) || touched.error?.message}`);
}

/** Throws unless the snapshot prints, writes and exits exactly like dist/gen.js, from another cwd. */
function verifySnapshot(blob) {
  const cwd = mkdtempSync(join(tmpdir(), 'born-tuned-verify-'));
  try {
    copyFileSync(join(root, 'profiles', 'lxd-small.yaml'), join(cwd, 'host.yaml'));
    // --inventory runs with V8's optimizing compiler turned back on (SNAPSHOT_FLAGS): checked too.
    const host = (i) => [
      `  node${i}:`,
      '    nics:',
      `      uplink: {mac: "52:54:00:00:00:0${i}", addresses: ["10.0.0.${i}/24"], gateway: 10.0.0.254}`,
    ];
    writeFileSync(
      join(cwd, 'hosts.yaml'),
      ['defaults:', '  profiles: [incus-dense, 10gbe]', 'hosts:', ...host(1), ...host(2), ''].join('\n'),
    );
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
        return {
          status: r.status,
          stdout: r.stdout.replaceAll(`out-${tag}`, 'OUT'),
          stderr: r.stderr.replaceAll(`out-${tag}`, 'OUT'),
          tree,
        };
      };
      const plain = run('plain', []);
      const snap = run('snap', [...SNAPSHOT_FLAGS, '--snapshot-blob', blob]);
      for (const k of ['status', 'stdout', 'stderr', 'tree']) {
        if (plain[k] !== snap[k])
          throw new Error(
            `the snapshot differs from dist/gen.js on \`gen ${args.join(' ')}\` (${k}): ${firstLine(snap.stderr) || JSON.stringify(String(snap[k]).slice(0, 200))}`,
          );
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

/** The first line of a process's output, for an error message. */
function firstLine(s) {
  return (
    String(s ?? '')
      .trim()
      .split('\n')[0] ?? ''
  );
}

// Run by bin/gen: nothing is printed (its output goes nowhere); the reason for a failure is kept in
// dist/gen.blob.failed, whose modification time is this node's.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    makeSnapshot();
  } catch (e) {
    const reason = `${e instanceof Error ? e.message : e}\n`;
    try {
      const mark = tmpName(FAILED_MARK);
      stampWithNodeTime(mark, `node ${process.execPath} ${process.version}: ${reason}`);
      renameSync(mark, FAILED_MARK);
    } catch {
      // dist/ may have become unwritable: bin/gen will try again, which is all that is lost.
    }
    process.exitCode = 1;
  }
}
