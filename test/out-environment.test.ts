import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, withoutSizeWarning } from './helpers.ts';
import { firstDifference, genSync, inventoryYaml, leftBeside, sameTree, treeSnapshot, type GenResult } from './out-helpers.ts';

/**
 * Issue 12, items 3 and 8: a machine that refuses — a full file system (bytes or inodes), a
 * read-only one, a permission, a busy directory — is exit 2 with one sentence, never exit 3 or a
 * stack trace, and the old tree stays byte-identical with nothing of gen's left beside it. Real
 * mounts and a real unprivileged user (the suite runs as root, like the rest of test:fast).
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-env-'));
chmodSync(scratch, 0o755);
const mounted: string[] = [];
const sh = (cmd: string, ...args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
};
function mountTmpfs(dir: string, options: string): void {
  mkdirSync(dir, { recursive: true });
  sh('mount', '-t', 'tmpfs', '-o', options, 'tmpfs', dir);
  mounted.unshift(dir);
}

const inventory = join(scratch, 'hosts.yaml');
// ~6 MB of seeds: more than the small file systems below can hold.
writeFileSync(inventory, inventoryYaml(500, ['incus-dense', '10gbe'], true));
chmodSync(inventory, 0o644);

/** Writes the old tree (lxd-small) at `dir`. */
function oldTree(dir: string): Map<string, string> {
  const r = genSync(['-p', 'lxd-small', '--out', dir]);
  assert.is(r.status, 0, r.stderr);
  return treeSnapshot(dir);
}

/** Exit 2, one line "gen: cannot …" matching `message`, the old tree as it was, nothing beside it. */
function refusedCleanly(r: GenResult, dir: string, before: Map<string, string>, message: RegExp): void {
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, message);
  assert.is(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  assert.not.match(r.stderr, /internal error|\n\s+at /);
  assert.is(r.stdout, '');
  const after = treeSnapshot(dir);
  assert.ok(sameTree(before, after), firstDifference(before, after));
  assert.equal(leftBeside(dir), []);
}

test('ENOSPC while the new tree is written (a 4 MiB tmpfs, a 500-host inventory): exit 2, the old tree stays', () => {
  const mnt = join(scratch, 'small');
  mountTmpfs(mnt, 'size=4m');
  const dir = join(mnt, 'out');
  const before = oldTree(dir);
  const r = genSync(['--inventory', inventory, '--out', dir]);
  refusedCleanly(
    r,
    dir,
    before,
    /^gen: cannot write the new tree beside --out .*\/small\/out: no space left on the device \(ENOSPC\); .*\/small\/out was left as it was\n$/,
  );
});

test('ENOSPC when the file system has no inode left: exit 2, the old tree stays', () => {
  const mnt = join(scratch, 'inodes');
  mountTmpfs(mnt, 'size=64m,nr_inodes=40');
  const dir = join(mnt, 'out');
  const before = oldTree(dir);
  const r = genSync(['--inventory', inventory, '--out', dir]);
  refusedCleanly(
    r,
    dir,
    before,
    /^gen: cannot write the new tree beside --out .*: no space left on the device \(ENOSPC\); .* was left as it was\n$/,
  );
});

test('ENOSPC on a full file system (not even the lock can be written): exit 2, the old tree stays', () => {
  const mnt = join(scratch, 'full');
  mountTmpfs(mnt, 'size=1m');
  const dir = join(mnt, 'out');
  const before = oldTree(dir);
  // Fill it: dd stops at ENOSPC.
  spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=64k']);
  const r = genSync(['-p', 'incus-dense', '--out', dir]);
  refusedCleanly(
    r,
    dir,
    before,
    /^gen: cannot create the lock .*\/\.out\.gen-lock beside --out .*: no space left on the device \(ENOSPC\)\n$/,
  );
});

test('EROFS (a tmpfs remounted read-only): exit 2, with or without --force, the old tree stays', () => {
  const mnt = join(scratch, 'ro');
  mountTmpfs(mnt, 'size=16m');
  const dir = join(mnt, 'out');
  const before = oldTree(dir);
  sh('mount', '-o', 'remount,ro', mnt);
  for (const force of [[], ['--force']]) {
    const r = genSync(['-p', 'incus-dense', '--out', dir, ...force]);
    refusedCleanly(r, dir, before, /^gen: cannot create the lock .* beside --out .*: the file system is read-only \(EROFS\)\n$/);
  }
});

const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// The unprivileged user runs a copy of the package in the scratch directory: the checkout itself
// may sit in a directory only root can enter (mktemp -d makes one), which is not under test here.
const nobodysGen = join(scratch, 'package');
for (const part of ['package.json', 'dist', 'templates', 'profiles']) cpSync(join(ROOT, part), join(nobodysGen, part), { recursive: true });
const asNobody = { prefix: nobody, command: [process.execPath, join(nobodysGen, 'dist', 'gen.js')] };

test('an unprivileged user whose working directory it cannot enter still writes --out elsewhere', () => {
  const closed = join(scratch, 'closed');
  mkdirSync(join(closed, 'cwd'), { recursive: true, mode: 0o700 });
  const open = join(scratch, 'open');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  const r = genSync(['-p', 'incus-dense', '--out', join(open, 'out')], { ...asNobody, cwd: join(closed, 'cwd') });
  assert.equal([r.status, withoutSizeWarning(r.stderr)], [0, '']);
  assert.ok(treeSnapshot(join(open, 'out')).size > 10);
});

test("EACCES (an unprivileged user, a directory of root's): exit 2, the old tree stays", () => {
  const parent = join(scratch, 'roots');
  mkdirSync(parent, { mode: 0o755 });
  const dir = join(parent, 'out');
  const before = oldTree(dir);
  for (const force of [[], ['--force']]) {
    const r = genSync(['-p', 'incus-dense', '--out', dir, ...force], asNobody);
    refusedCleanly(r, dir, before, /^gen: cannot create the lock .* beside --out .*: permission denied \(EACCES\)\n$/);
  }
});

test("EACCES reading a tree of root's in a shared directory, EPERM replacing it there with --force: exit 2, the old tree stays", () => {
  const parent = join(scratch, 'shared');
  mkdirSync(parent);
  chmodSync(parent, 0o1777);
  const dir = join(parent, 'out');
  const before = oldTree(dir);
  const read = genSync(['-p', 'incus-dense', '--out', dir], asNobody);
  refusedCleanly(read, dir, before, /^gen: cannot read --out .*\/shared\/out: permission denied \(EACCES\); .* was left as it was\n$/);
  // With --force the tree is written in full beside DIR; the sticky directory forbids the rename.
  const swap = genSync(['-p', 'incus-dense', '--out', dir, '--force'], asNobody);
  refusedCleanly(
    swap,
    dir,
    before,
    /^gen: cannot replace --out .*\/shared\/out: operation not permitted \(EPERM\); .* was left as it was\n$/,
  );
});

test('EBUSY (DIR bind-mounted on itself, so the rename is refused at the swap): exit 2, the old tree stays', () => {
  const dir = join(scratch, 'busy', 'out');
  const before = oldTree(dir);
  sh('mount', '--bind', dir, dir);
  mounted.unshift(dir);
  const r = genSync(['-p', 'incus-dense', '--out', dir]);
  refusedCleanly(
    r,
    dir,
    before,
    /^gen: cannot replace --out .*\/busy\/out: the file or directory is busy \(a mount point\?\) \(EBUSY\); .* was left as it was\n$/,
  );
});

test('DIR is a mount point of its own file system: refused before anything is written', () => {
  const dir = join(scratch, 'mountpoint');
  mountTmpfs(dir, 'size=16m');
  const before = oldTree(join(dir, 'inner'));
  const r = genSync(['-p', 'incus-dense', '--out', dir, '--force']);
  assert.is(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /^gen: --out .*\/mountpoint is a mount point: gen replaces DIR by renaming, which a mount point does not allow; use a directory inside it\n$/,
  );
  assert.ok(sameTree(before, treeSnapshot(join(dir, 'inner'))));
  assert.equal(readdirSync(dir), ['inner']);
});

test.after(() => {
  for (const dir of mounted) spawnSync('umount', ['-l', dir]);
  rmSync(scratch, { recursive: true, force: true });
});
test.run();
