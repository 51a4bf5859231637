import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildSync } from 'esbuild';
import { generate, treeOf } from '../src/pipeline.ts';
import { GEN, ROOT, withoutSizeWarning } from './helpers.ts';
import { copyTree, firstDifference, genAsync, genSync, inventoryYaml, leftBeside, sameTree, treeSnapshot } from './out-helpers.ts';

/**
 * Issue 12, item 3: whatever instant gen is stopped at — kill -9 at each step of the swap, SIGINT,
 * SIGTERM, SIGHUP, a concurrent run — DIR holds the complete old tree or the complete new one once
 * the next run has recovered, and nothing of gen's is left beside it. The 30 kill -9 at random
 * moments of a 5,000-host --out are crash-kills.test.ts (npm test only).
 *
 * The trees live on tmpfs when there is one: a kill stops the process the same way on any file
 * system, and tmpfs spares this machine's ext4 the slow inode allocation that follows the removal
 * of many files (README, Performance).
 */
const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'born-tuned-crash-'));
// Enough hosts that a run signalled once its 50th host directory is written is still writing, and
// that two runs started together overlap.
const HOSTS = 2000;

const inventories = {
  old: join(base, 'old.yaml'),
  new: join(base, 'new.yaml'),
};
// Hosts with nothing of their own but a name: three files each.
writeFileSync(inventories.old, inventoryYaml(HOSTS, ['incus-dense', '10gbe']));
writeFileSync(inventories.new, inventoryYaml(HOSTS, ['incus-dense']));

/** The two reference trees, written by uninterrupted runs into fresh directories. */
const refs = await (async () => {
  const dirs = { old: join(base, 'ref-old'), new: join(base, 'ref-new') };
  const runs = await Promise.all(
    (['old', 'new'] as const).map((which) => genAsync(['--inventory', inventories[which], '--out', dirs[which]]).done),
  );
  for (const r of runs) if (r.status !== 0) throw new Error(`a reference tree: exit ${r.status}: ${r.stderr}`);
  return { dirs, old: treeSnapshot(dirs.old), new: treeSnapshot(dirs.new) };
})();

// A child process that runs the real tree writer on a stack's tree and stops itself at an exact
// instant (a file count or a swap step) with a real signal; or fsyncs a tree (fsyncEach). Bundled
// once with esbuild, so that each child starts in a blink instead of compiling TypeScript again.
const driverSource = join(base, 'driver.ts');
const driver = join(base, 'driver.mjs');
const stackTree = join(base, 'stack-tree.json');
writeFileSync(
  driverSource,
  `import { readFileSync } from 'node:fs';
import { writeTree } from ${JSON.stringify(join(ROOT, 'src/output/write.ts'))};
import { fsyncEach } from ${JSON.stringify(join(ROOT, 'src/output/swap.ts'))};
const [mode, dir, stop, signal] = process.argv.slice(2);
if (mode === 'fsync-each') fsyncEach(dir);
else {
  let files = 0;
  const halt = () => process.kill(process.pid, signal);
  await writeTree(dir, JSON.parse(readFileSync(${JSON.stringify(stackTree)}, 'utf8')), { hooks: {
    afterFile: () => { if (stop === 'file-5' && ++files === 5) halt(); },
    atStep: (step) => { if (step === stop) halt(); },
  } });
}
`,
);
buildSync({ entryPoints: [driverSource], outfile: driver, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
{
  const g = generate({ profiles: ['incus-dense', '10gbe'] }, { packer: true, secrets: 'resolve' });
  writeFileSync(stackTree, JSON.stringify(treeOf(g.artifacts, g.stack.plan.stack)));
}

/** Writes the incus-dense + 10gbe tree at `dir` in a child that sends itself `signal` at `stop`. */
function killedAt(dir: string, stop: string, signal = 'SIGKILL'): { status: number | null; signal: string | null; stderr: string } {
  const r = spawnSync(process.execPath, [driver, 'write', dir, stop, signal], { encoding: 'utf8' });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

const stackRefs = (() => {
  const dirs = { old: join(base, 'stack-old'), new: join(base, 'stack-new') };
  assert.is(genSync(['-p', 'lxd-small', '--out', dirs.old]).status, 0);
  assert.is(genSync(['-p', 'incus-dense', '-p', '10gbe', '--out', dirs.new]).status, 0);
  return { dirs, old: treeSnapshot(dirs.old), new: treeSnapshot(dirs.new) };
})();

const badProfile = join(base, 'bad.yaml');
writeFileSync(badProfile, 'sysclt: {}\n');

// Each instant of the protocol, hit exactly: the kill lands there, the next run (with an invalid
// profile) recovers, and DIR is the tree that instant implies.
const crashPoints: [string, 'old' | 'new', (dir: string) => void][] = [
  [
    'file-5',
    'old',
    (dir) =>
      assert.ok(
        leftBeside(dir).some((e) => e.includes('.gen-tmp-')),
        'a partial temporary tree',
      ),
  ],
  ['synced', 'old', (dir) => assert.ok(existsSync(dir))],
  ['moved-aside', 'old', (dir) => assert.not.ok(existsSync(dir), 'killed between the renames: no DIR until the next run')],
  [
    'moved-in',
    'new',
    (dir) =>
      assert.ok(
        leftBeside(dir).some((e) => e.includes('.gen-old-')),
        'the old tree still aside',
      ),
  ],
  ['parent-synced', 'new', (dir) => assert.ok(leftBeside(dir).some((e) => e.includes('.gen-old-')))],
];
for (const [stop, expected, before] of crashPoints) {
  test(`kill -9 at "${stop}": the next run recovers the ${expected} tree`, () => {
    const dir = join(base, `point-${stop}`, 'out');
    copyTree(stackRefs.dirs.old, dir);
    const r = killedAt(dir, stop);
    assert.is(r.signal, 'SIGKILL', r.stderr);
    before(dir);
    const next = genSync(['--profile', badProfile, '--out', dir]);
    assert.is(next.status, 1, next.stderr);
    assert.equal(leftBeside(dir), []);
    const snap = treeSnapshot(dir);
    assert.ok(sameTree(snap, stackRefs[expected]), firstDifference(snap, stackRefs[expected]));
  });
}

test('a signal during the swap waits for it: SIGTERM at "moved-aside" ends with the new tree, exit 143', () => {
  const dir = join(base, 'swap-signal', 'out');
  copyTree(stackRefs.dirs.old, dir);
  const r = killedAt(dir, 'moved-aside', 'SIGTERM');
  assert.is(r.status, 143, r.stderr);
  // The user-data size warning may come before the stop, depending on when the signal lands.
  assert.match(withoutSizeWarning(r.stderr), /^gen: stopped by SIGTERM; --out .* holds the new tree\n$/);
  assert.equal(leftBeside(dir), []);
  assert.ok(sameTree(treeSnapshot(dir), stackRefs.new));
});

/**
 * Starts a replacement of the old tree and waits until its temporary tree holds host directories.
 * A run that ends before this process saw it writing (a loaded machine can leave the poll waiting
 * for the CPU through a whole run) proves nothing: it must have succeeded, and another is started,
 * up to five.
 */
async function midRun(dir: string) {
  const hostsWritten = (tmp: string) => {
    try {
      return readdirSync(join(dir, '..', tmp)).length;
    } catch {
      return 0; // swapped in or removed between the two reads
    }
  };
  for (let attempt = 1; attempt <= 5; attempt++) {
    copyTree(refs.dirs.old, dir);
    const run = genAsync(['--inventory', inventories.new, '--out', dir]);
    while (run.child.exitCode === null && run.child.signalCode === null) {
      const tmp = leftBeside(dir).find((e) => e.includes('.gen-tmp-'));
      if (tmp && hostsWritten(tmp) > 50) return run;
      await new Promise((r) => setTimeout(r, 5));
    }
    const r = await run.done;
    assert.is(r.status, 0, `a run that was not signalled: ${r.stderr}`);
  }
  assert.unreachable('five runs ended before they could be signalled while writing');
  throw new Error('unreachable');
}

test('SIGINT, SIGTERM, SIGHUP while hosts are written: the temporary tree and the lock are removed, the old tree stays, exit 130, 143, 129', async () => {
  await Promise.all(
    (
      [
        ['SIGINT', 130],
        ['SIGTERM', 143],
        ['SIGHUP', 129],
      ] as const
    ).map(async ([signal, status]) => {
      const dir = join(base, `signal-${signal}`, 'out');
      const run = await midRun(dir);
      run.child.kill(signal);
      const r = await run.done;
      assert.is(r.status, status, r.stderr);
      // The user-data size warning may come before the stop, depending on when the signal lands.
      assert.match(withoutSizeWarning(r.stderr), new RegExp(`^gen: stopped by ${signal}; --out .* was left as it was\\n$`));
      assert.equal(leftBeside(dir), []);
      assert.ok(sameTree(treeSnapshot(dir), refs.old), signal);
    }),
  );
});

test('two runs into one DIR started together: exactly one succeeds, the other exits 2 naming it', async () => {
  const dir = join(base, 'concurrent', 'out');
  copyTree(refs.dirs.old, dir);
  const a = genAsync(['--inventory', inventories.new, '--out', dir]);
  const b = genAsync(['--inventory', inventories.new, '--out', dir]);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal([ra.status, rb.status].sort(), [0, 2], ra.stderr + rb.stderr);
  const [winner, loser] = ra.status === 0 ? [a, rb] : [b, ra];
  assert.is(loser.stderr, `gen: another gen (pid ${winner.child.pid}) is writing ${dir}; wait until it ends\n`);
  assert.equal(leftBeside(dir), []);
  assert.ok(sameTree(treeSnapshot(dir), refs.new));
});

test('a lock left by a dead process, or by a pid now used by another process, is taken over; a live one is not', () => {
  const dir = join(base, 'stale-lock', 'out');
  copyTree(stackRefs.dirs.old, dir);
  const lock = join(dir, '..', '.out.gen-lock');
  const myStart = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19];
  writeFileSync(lock, `${process.pid} ${myStart}\n`);
  const held = genSync(['-p', 'incus-dense', '-p', '10gbe', '--out', dir]);
  assert.is(held.status, 2);
  assert.is(held.stderr, `gen: another gen (pid ${process.pid}) is writing ${dir}; wait until it ends\n`);
  assert.ok(sameTree(treeSnapshot(dir), stackRefs.old));
  for (const stale of [`${process.pid} 1\n`, '4194304 12345\n']) {
    writeFileSync(lock, stale);
    const r = genSync(['-p', 'incus-dense', '-p', '10gbe', '--out', dir]);
    assert.is(r.status, 0, r.stderr);
    assert.equal(leftBeside(dir), []);
  }
});

test('the new tree is on disk before the swap, and the parent directory after it (strace)', () => {
  const dir = join(base, 'strace', 'out');
  copyTree(stackRefs.dirs.old, dir);
  const log = join(base, 'strace.log');
  const r = spawnSync(
    'strace',
    [
      '-f',
      '-y',
      '-o',
      log,
      '-e',
      'trace=syncfs,fsync,fdatasync,rename,renameat,renameat2',
      process.execPath,
      GEN,
      '-p',
      'incus-dense',
      '--out',
      dir,
    ],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => /(syncfs|fsync|rename\w*)\(/.test(l) && !/resumed|unfinished/.test(l));
  const at = (re: RegExp) => calls.findIndex((l) => re.test(l));
  const synced = at(/syncfs\(\d+<[^>]*\/\.out\.gen-tmp-\w{6}>\) = 0/);
  const aside = at(/rename\w*\(.*"[^"]*\/out", .*"[^"]*\/\.out\.gen-old-\w{6}"\) = 0/);
  const swapped = at(/rename\w*\(.*"[^"]*\/\.out\.gen-tmp-\w{6}", .*"[^"]*\/out"\) = 0/);
  const parent = at(new RegExp(`fsync\\(\\d+<${join(dir, '..').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>\\) = 0`));
  assert.ok(synced >= 0 && aside > synced && swapped > aside && parent > swapped, `order of the calls:\n${calls.join('\n')}`);
});

test("where coreutils' sync is missing, every file and directory of the new tree is fsynced, children first (strace)", () => {
  const dir = join(base, 'fsync-each');
  copyTree(stackRefs.dirs.new, dir);
  const log = join(base, 'fsync-each.log');
  const r = spawnSync('strace', ['-f', '-y', '-o', log, '-e', 'trace=fsync', process.execPath, driver, 'fsync-each', dir], {
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const synced = readFileSync(log, 'utf8')
    .split('\n')
    .flatMap((l) => /fsync\(\d+<([^>]*)>\) = 0/.exec(l)?.[1] ?? [])
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  const all = [...treeSnapshot(dir).keys()].map((rel) => (rel === '.' ? dir : join(dir, rel)));
  assert.equal([...synced].sort(), [...all].sort());
  for (const path of all)
    if (path !== dir) assert.ok(synced.indexOf(path) < synced.indexOf(join(path, '..')), `${path} before its directory`);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
