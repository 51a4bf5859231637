import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEN, ROOT, run } from './helpers.ts';

/**
 * bin/gen, what `npx gen` runs: it must start the startup snapshot exactly when the snapshot
 * belongs to this node binary, this package root, this dist/gen.js and these templates, and print
 * what dist/gen.js prints either way. Which path it took is read from `sh -x`'s trace of its exec.
 * Without a usable snapshot it starts scripts/snapshot.mjs in the background, only when it may
 * (test/package.test.ts lets a real one run in an installed package).
 */
const LAUNCHER = join(ROOT, 'bin', 'gen');
const env = { ...process.env, NODE_OPTIONS: '' };

function execLine(launcher: string, extraEnv: NodeJS.ProcessEnv = {}, cwd = ROOT, shell = 'sh'): string {
  const r = run(shell, ['-x', launcher, '--version'], { cwd, env: { ...env, ...extraEnv } });
  assert.is(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('+ exec '));
  assert.ok(line, `no exec in the trace:\n${r.stderr}`);
  return line!;
}
const usesSnapshot = (line: string) => / --snapshot-blob \S*dist\/gen\.blob \S*dist\/gen\.js --version$/.test(line);

test('shellcheck accepts the launcher', () => {
  const r = run('shellcheck', ['-S', 'style', LAUNCHER]);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test('the build made a snapshot, and the launcher starts it (under dash and bash)', () => {
  assert.ok(
    usesSnapshot(execLine(LAUNCHER)),
    'bin/gen did not start dist/gen.blob (did scripts/build.mjs warn that it could not build it?)',
  );
  assert.ok(usesSnapshot(execLine(LAUNCHER, {}, ROOT, 'bash')), 'under bash, bin/gen did not start dist/gen.blob');
});

test("drops NODE_EXTRA_CA_CERTS and adds the malloc huge-page tunable to the operator's own", () => {
  // node warns on stderr when it cannot load NODE_EXTRA_CA_CERTS, before any of gen's code runs:
  // silence proves the launcher dropped it, on the snapshot path and on the fallback.
  const missing = { NODE_EXTRA_CA_CERTS: join(ROOT, 'no-such-ca-file.pem') };
  assert.match(
    run(process.execPath, ['-e', '0'], { env: { ...env, ...missing } }).stderr,
    /Ignoring extra certs/,
    'node itself should warn',
  );
  // Any NODE_OPTIONS sends bin/gen to dist/gen.js; this one leaves warnings on.
  for (const extra of [{}, { NODE_OPTIONS: '--stack-trace-limit=10' }]) {
    const r = run('sh', [LAUNCHER, '--version'], { env: { ...env, ...missing, ...extra } });
    assert.equal([r.status, r.stderr], [0, ''], JSON.stringify(extra));
  }
  const trace = run('sh', ['-x', LAUNCHER, '--version'], { env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.check=0' } }).stderr;
  assert.match(trace, /^\+ GLIBC_TUNABLES=glibc\.malloc\.check=0:glibc\.malloc\.hugetlb=1$/m);
});

test('prints what dist/gen.js prints, called by path, relatively, or through a symlink', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-launcher-'));
  try {
    const link = join(tmp, 'gen');
    symlinkSync(LAUNCHER, link);
    assert.ok(usesSnapshot(execLine(link, {}, tmp)), 'a symlinked bin/gen did not find its snapshot');
    for (const args of [
      ['--profile', 'incus-dense'],
      ['--profile', 'lxd-small', '--profile', '10gbe', '--artifact', 'preseed'],
      ['--profile', 'no-such-profile'],
      ['--bogus'],
    ]) {
      // What dist/gen.js prints depends on the working directory (paths in messages).
      const want = new Map([tmp, ROOT].map((cwd) => [cwd, run(process.execPath, [GEN, ...args], { cwd, env })]));
      for (const [cmd, cwd] of [
        [LAUNCHER, tmp],
        ['bin/gen', ROOT],
        [link, tmp],
      ] as const) {
        assert.equal(run('sh', [cmd, ...args], { cwd, env }), want.get(cwd), `${cmd} ${args.join(' ')}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('falls back to dist/gen.js whenever the snapshot may not match', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-launcher-'));
  try {
    // A copy of the package whose stamp names the copy: the launcher logic is what is under test.
    for (const d of ['bin', 'dist', 'templates']) cpSync(join(ROOT, d), join(tmp, d), { recursive: true, preserveTimestamps: true });
    const stamp = join(tmp, 'dist', 'gen.blob.stamp');
    const original = readFileSync(stamp, 'utf8');
    const own = original.replace(/^bt_root=.*$/m, `bt_root='${tmp}'`);
    const launcher = join(tmp, 'bin', 'gen');
    const blob = join(tmp, 'dist', 'gen.blob');
    const later = (f: string) => utimesSync(f, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const nodeTime = join(tmp, 'dist', 'gen.blob.node');
    const fresh = () => {
      writeFileSync(stamp, own);
      writeFileSync(nodeTime, '');
      assert.is(run('touch', ['-r', join(ROOT, 'dist', 'gen.blob.node'), nodeTime]).status, 0);
      for (const d of ['dist/gen.js', 'templates/user-data.hbs']) utimesSync(join(tmp, d), new Date(0), new Date(0));
      utimesSync(blob, new Date(), new Date());
    };
    fresh();
    assert.ok(usesSnapshot(execLine(launcher)), 'the copy with its own stamp should start its snapshot');
    const cases: [string, () => void][] = [
      ['NODE_OPTIONS is set', () => {}],
      ['the stamp names another package root', () => writeFileSync(stamp, original)],
      ['the stamp names another node binary', () => writeFileSync(stamp, own.replace(/^bt_node=.*$/m, "bt_node='/bin/sh'"))],
      ['node was modified after the snapshot was built', () => utimesSync(nodeTime, new Date(0), new Date(0))],
      ['node is older than recorded', () => later(nodeTime)],
      ["node's recorded modification time is missing", () => rmSync(nodeTime)],
      ['dist/gen.js is newer than the snapshot', () => later(join(tmp, 'dist', 'gen.js'))],
      ['a template is newer than the snapshot', () => later(join(tmp, 'templates', 'user-data.hbs'))],
      ['there is no stamp', () => rmSync(stamp)],
    ];
    for (const [why, change] of cases) {
      fresh();
      change();
      // The background maker a fallback may start is the next test's subject.
      const line = execLine(launcher, {
        BORN_TUNED_NO_SNAPSHOT: '1',
        ...(why.startsWith('NODE_OPTIONS') ? { NODE_OPTIONS: '--no-warnings' } : {}),
      });
      assert.ok(!usesSnapshot(line) && /exec node \S*dist\/gen\.js --version$/.test(line), `${why}: ${line}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('without a snapshot it can use, starts scripts/snapshot.mjs in the background when it may', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-launcher-'));
  try {
    // A copy of the package without its snapshot, and a stand-in flock(1) that records how it was
    // started (its stdin, stdout, stderr and NODE_OPTIONS) instead of making one.
    for (const d of ['bin', 'dist', 'templates', 'profiles', 'scripts']) cpSync(join(ROOT, d), join(tmp, d), { recursive: true });
    const dist = join(tmp, 'dist');
    for (const f of ['gen.blob', 'gen.blob.stamp', 'gen.blob.node', 'gen.blob.failed', 'gen.blob.lock'])
      rmSync(join(dist, f), { force: true });
    const fakeBin = join(tmp, 'fake-bin');
    mkdirSync(fakeBin);
    const record = join(tmp, 'flock-started');
    writeFileSync(
      join(fakeBin, 'flock'),
      `#!/bin/sh\nfds=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2)\nprintf '%s\\n' "$*" "$fds" "NODE_OPTIONS=\${NODE_OPTIONS-unset}" > '${record}.tmp' && mv '${record}.tmp' '${record}'\n`,
    );
    chmodSync(join(fakeBin, 'flock'), 0o755);
    const node = run('sh', ['-c', 'command -v node']).stdout.trim();
    const launcher = join(tmp, 'bin', 'gen');
    // Whether a maker was started is read from the trace, where the background shell prints its
    // command before it redirects its stderr; its writes may land inside the launcher's own lines,
    // so each is looked for by one word of it (the shell writes a word at once).
    const started = (extraEnv: NodeJS.ProcessEnv = {}, uid?: number) => {
      const r = run(
        '/usr/bin/setpriv',
        [...(uid === undefined ? [] : [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']), '/bin/sh', '-x', launcher, '--version'],
        { cwd: tmp, env: { ...env, PATH: `${fakeBin}:${process.env.PATH}`, ...extraEnv } },
      );
      // It runs dist/gen.js meanwhile: in this copy the snapshot is absent or an empty file that
      // node would refuse, so the version on stdout can only come from dist/gen.js. (The trace
      // cannot show it: dash writes a traced line a word at a time, and the maker's trace may land
      // between "exec" and "node", as it once did in CI.)
      assert.equal([r.status, r.stdout], [0, run(process.execPath, [GEN, '--version']).stdout], r.stderr);
      return r.stderr.includes('dist/gen.blob.lock');
    };
    // Only node (and no flock) on the PATH.
    const nodeOnly = join(tmp, 'node-only');
    mkdirSync(nodeOnly);
    symlinkSync(process.execPath, join(nodeOnly, 'node'));

    assert.ok(started({ NODE_OPTIONS: '--no-warnings' }), 'no snapshot at all: a maker should start');
    // It is in the background: wait for the stand-in's record (a guard ends the wait).
    for (let i = 0; i < 600 && !existsSync(record); i++) run('sleep', ['0.05']);
    assert.equal(readFileSync(record, 'utf8').split('\n'), [
      `-n ${tmp}/bin/../dist/gen.blob.lock ${node} ${tmp}/bin/../scripts/snapshot.mjs`,
      '/dev/null',
      '/dev/null',
      '/dev/null',
      'NODE_OPTIONS=',
      '',
    ]);

    assert.not.ok(started({ BORN_TUNED_NO_SNAPSHOT: '1' }), 'BORN_TUNED_NO_SNAPSHOT=1');
    assert.not.ok(started({ PATH: nodeOnly }), 'no flock(1) to keep makers apart');
    chmodSync(tmp, 0o755);
    chmodSync(dist, 0o555);
    assert.not.ok(started({}, 65534), 'dist/ not writable by the user running gen');
    chmodSync(dist, 0o755);
    assert.ok(started({}, 0), 'the same as root');

    // A failure is recorded with the modification time of the node that failed: no second try
    // with that node, a new try with another one.
    const failed = join(dist, 'gen.blob.failed');
    writeFileSync(failed, 'node --build-snapshot failed\n');
    assert.is(run('touch', ['-r', node, failed]).status, 0);
    assert.not.ok(started(), 'this node already failed');
    utimesSync(failed, new Date(0), new Date(0));
    assert.ok(started(), 'another node failed');
    rmSync(failed);

    // A snapshot from another node binary (its recorded time differs) is replaced.
    writeFileSync(join(dist, 'gen.blob'), '');
    writeFileSync(join(dist, 'gen.blob.stamp'), `bt_root='${tmp}'\nbt_node='${node}'\nbt_flags=''\n`);
    writeFileSync(join(dist, 'gen.blob.node'), '');
    utimesSync(join(dist, 'gen.blob.node'), new Date(0), new Date(0));
    assert.ok(started(), "the snapshot is another node's");
    // A usable snapshot is never remade, NODE_OPTIONS or not.
    assert.is(run('touch', ['-r', node, join(dist, 'gen.blob.node')]).status, 0);
    assert.not.ok(started({ NODE_OPTIONS: '--no-warnings' }), 'a usable snapshot, skipped for NODE_OPTIONS');

    rmSync(join(dist, 'gen-snapshot.cjs'));
    rmSync(join(dist, 'gen.blob'));
    assert.not.ok(started(), 'no dist/gen-snapshot.cjs to make one from (a build with BORN_TUNED_NO_SNAPSHOT=1)');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
