import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEN, ROOT, run } from './helpers.ts';

/**
 * bin/gen, what `npx gen` runs: it must start the startup snapshot exactly when the snapshot
 * belongs to this node binary, this package root, this dist/gen.js and these templates, and print
 * what dist/gen.js prints either way. Which path it took is read from `sh -x`'s trace of its exec.
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
  assert.ok(usesSnapshot(execLine(LAUNCHER)), 'bin/gen did not start dist/gen.blob (did scripts/build.mjs warn that it could not build it?)');
  assert.ok(usesSnapshot(execLine(LAUNCHER, {}, ROOT, 'bash')), 'under bash, bin/gen did not start dist/gen.blob');
});

test('drops NODE_EXTRA_CA_CERTS and adds the malloc huge-page tunable to the operator\'s own', () => {
  // node warns on stderr when it cannot load NODE_EXTRA_CA_CERTS, before any of gen's code runs:
  // silence proves the launcher dropped it, on the snapshot path and on the fallback.
  const missing = { NODE_EXTRA_CA_CERTS: join(ROOT, 'no-such-ca-file.pem') };
  assert.match(run(process.execPath, ['-e', '0'], { env: { ...env, ...missing } }).stderr, /Ignoring extra certs/, 'node itself should warn');
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
    for (const args of [['--profile', 'incus-dense'], ['--profile', 'lxd-small', '--profile', '10gbe', '--artifact', 'preseed'], ['--profile', 'no-such-profile'], ['--bogus']]) {
      // What dist/gen.js prints depends on the working directory (paths in messages).
      const want = new Map([tmp, ROOT].map((cwd) => [cwd, run(process.execPath, [GEN, ...args], { cwd, env })]));
      for (const [cmd, cwd] of [[LAUNCHER, tmp], ['bin/gen', ROOT], [link, tmp]] as const) {
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
      const line = execLine(launcher, why.startsWith('NODE_OPTIONS') ? { NODE_OPTIONS: '--no-warnings' } : {});
      assert.ok(!usesSnapshot(line) && /exec node \S*dist\/gen\.js --version$/.test(line), `${why}: ${line}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
