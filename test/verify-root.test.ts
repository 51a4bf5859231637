import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../src/pipeline.ts';
import { MAX_LINKS, resolveInRoot } from '../src/verify/root-fs.ts';
import { verifyHost, type VerifyRow } from '../src/verify/verify.ts';
import { BIN_GEN, ROOT, type Run } from './helpers.ts';
import { goodHost } from './host-tree.ts';

/**
 * `gen verify --root DIR` reads DIR as a chroot would see it, and only what a kernel or an install
 * would put there: hostile link farms (absolute and relative links out, `..` chains, loops, links in
 * the middle of a path), FIFOs, devices, sockets, huge files and directories where files belong.
 * Every case must end (a guard kills a run that does not, and fails it), never print a byte of a
 * file outside the root, and say in its row what is wrong.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-verify-root-'));
const STACK = ['incus-dense', '10gbe'];
const STACK_ARGS = STACK.flatMap((p) => ['--profile', p]);

/** Outside every root: files whose text must never reach verify's output. */
const SENTINEL = `SENTINEL-${process.pid}-outside-the-root`;
const outside = join(scratch, 'outside');
for (const f of [
  'secret',
  'sysctl.conf',
  'net/core/netdev_max_backlog',
  'net/ipv4/tcp_mem',
  'net-dev/tx_queue_len',
  'net-dev/address',
  'net-class/enp5s0/tx_queue_len',
  'proc/sys/fs/aio-max-nr',
  'proc/4242/comm',
  'proc/4242/limits',
]) {
  mkdirSync(dirname(join(outside, f)), { recursive: true });
  writeFileSync(join(outside, f), `${SENTINEL}\n`);
}

/** Runs the built CLI under a guard: a run still going after two minutes is killed and fails the test. */
function genGuarded(args: string[]): Run {
  const r = spawnSync(BIN_GEN, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL', maxBuffer: 1 << 26 });
  assert.is(r.signal, null, `gen ${args.join(' ')} did not end: the guard killed it`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** verify --root DIR as JSON (and as the table when asked), checked for what every case must hold. */
function verifyTree(root: string, table = false): { status: number; rows: VerifyRow[] } {
  const runs = [
    genGuarded(['verify', ...STACK_ARGS, '--root', root, '--format', 'json']),
    ...(table ? [genGuarded(['verify', ...STACK_ARGS, '--root', root])] : []),
  ];
  for (const r of runs) {
    for (const out of [r.stdout, r.stderr]) assert.not.ok(out.includes('SENTINEL'), `a file outside the root was printed:\n${out}`);
    assert.is(r.stderr, '', 'no trace, no warning');
    assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
    assert.is(r.status, runs[0]!.status);
  }
  if (table) assert.match(runs[1]!.stdout, /\n\d+ passed, \d+ failed, \d+ absent\n$/);
  return { status: runs[0]!.status, rows: (JSON.parse(runs[0]!.stdout) as { rows: VerifyRow[] }).rows };
}

/**
 * Makes the parent directories of `path` under `root` without following a link: the harness must
 * never write outside the root itself (a link farm's `proc -> /` would take a plain mkdir -p to the
 * host's /). False when a parent is a link or not a directory: that entry of a farm is left out.
 */
function parentsInTree(root: string, path: string): boolean {
  let here = root;
  for (const name of path.split('/').filter(Boolean).slice(0, -1)) {
    here = join(here, name);
    let st;
    try {
      st = lstatSync(here);
    } catch {
      mkdirSync(here);
      continue;
    }
    if (!st.isDirectory()) return false;
  }
  return true;
}

/** Replaces `path` under root (whatever it was) with what `make` creates there; false when a parent is not a real directory. */
function replaceIn(root: string, path: string, make: (full: string) => void): boolean {
  if (!parentsInTree(root, path)) return false;
  rmSync(join(root, path), { recursive: true, force: true }); // removes a link, never what it points to
  make(join(root, path));
  return true;
}
const replace = (root: string, path: string, make: (full: string) => void) =>
  assert.ok(replaceIn(root, path, make), `${path} is not inside the tree`);
const link = (root: string, path: string, target: string) => replace(root, path, (full) => symlinkSync(target, full));
const fifo = (full: string) => spawnSync('mkfifo', [full], { stdio: 'inherit' }).status === 0 || assert.unreachable(`mkfifo ${full}`);
const devZero = (full: string) =>
  spawnSync('mknod', [full, 'c', '1', '5'], { stdio: 'inherit' }).status === 0 ||
  assert.unreachable(`mknod ${full} (the suite runs as root)`);
/** A relative link target from `path` (under root) to `to` (an absolute host path), through `..`. */
const upTo = (root: string, path: string, to: string) => relative(dirname(join(root, path)), to);

const ALL_SYSCTL_NET = (rows: VerifyRow[]) => rows.filter((r) => r.check.startsWith('sysctl net.')).map((r) => r.check);

/** Each case: what it does to a good host, and the rows that must fail (all others as on a good host). */
const cases: {
  name: string;
  make: (root: string) => void;
  fails: string[] | ((rows: VerifyRow[]) => string[]);
  note: RegExp;
  actual?: RegExp;
  table?: boolean;
}[] = [
  {
    name: "root's first subuid range as Debian's lxd package leaves it (10000001 ids, 151 isolated instances)",
    make: (r) => writeFileSync(join(r, 'etc/subuid'), '_lxd:100000:10000001\nroot:100000:10000001\n'),
    fails: ['ids root in /etc/subuid'],
    note: /holds 151 isolated instances; first boot's subids step grows it/,
    actual: /^root:100000:10000001$/,
  },
  {
    name: 'a larger root range that comes second (the daemon maps from the first one only)',
    make: (r) => writeFileSync(join(r, 'etc/subgid'), 'root:100000:65536\nroot:1000000:1000000000\n'),
    fails: ['ids root in /etc/subgid'],
    note: /holds 0 isolated instances/,
    actual: /^root:100000:65536$/,
  },
  {
    name: 'nf_conntrack not loaded (modules-load.d did not act)',
    make: (r) => rmSync(join(r, 'sys/module/nf_conntrack'), { recursive: true }),
    fails: ['module nf_conntrack'],
    note: /nf_conntrack_max exists only once it is loaded/,
    actual: /^not loaded$/,
  },
  {
    name: 'an absolute link out of the root',
    make: (r) => link(r, 'proc/sys/fs/aio-max-nr', join(outside, 'secret')),
    fails: ['sysctl fs.aio-max-nr'],
    note: /^\/proc\/sys\/fs\/aio-max-nr is a symbolic link out of \/proc$/,
    table: true,
  },
  {
    name: 'a relative link out through ..',
    make: (r) => link(r, 'proc/sys/fs/aio-max-nr', `../../../../../../../..${join(outside, 'secret')}`),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a symbolic link out of \/proc$/,
  },
  {
    name: 'a relative link that climbs exactly to the outside file',
    make: (r) => link(r, 'proc/sys/fs/aio-max-nr', upTo(r, 'proc/sys/fs/aio-max-nr', join(outside, 'proc/sys/fs/aio-max-nr'))),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a symbolic link out of \/proc$/,
  },
  {
    name: 'a link in the middle of a path (a directory link out)',
    make: (r) => link(r, 'proc/sys/net', join(outside, 'net')),
    fails: ALL_SYSCTL_NET,
    note: /is a symbolic link out of \/proc$/,
  },
  {
    name: 'a .. chain in the middle of a path',
    make: (r) => link(r, 'proc/sys/vm', '../../../../../../../../../..'),
    fails: ['sysctl vm.max_map_count'],
    note: /is a symbolic link out of \/proc$/,
  },
  {
    name: 'a link loop (a -> b -> a)',
    make: (r) => (link(r, 'proc/sys/kernel/dmesg_restrict', 'loop'), link(r, 'proc/sys/kernel/loop', 'dmesg_restrict')),
    fails: ['sysctl kernel.dmesg_restrict'],
    note: /is a symbolic link loop \(more than 40 links to follow\)$/,
  },
  {
    name: 'a link to itself, on an installed file',
    make: (r) => link(r, 'etc/born-tuned/sysctl.wanted', 'sysctl.wanted'),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /is a symbolic link loop/,
    actual: /^unreadable$/,
  },
  {
    name: 'a chain of one link more than the kernel follows',
    make: (r) => chain(r, 'proc/sys/fs/aio-max-nr', MAX_LINKS + 1),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a symbolic link loop/,
  },
  {
    name: '/proc linked out of the root (to the host /proc: a loop under the root)',
    make: (r) => link(r, 'proc', '/proc'),
    fails: (rows) => rows.filter((x) => /^(sysctl |daemon limit |mode \/proc)/.test(x.check)).map((x) => x.check),
    note: /is a symbolic link loop/,
  },
  {
    name: '/proc linked to a copy of a host /proc outside the root',
    make: (r) => link(r, 'proc', join(outside, 'proc')),
    fails: (rows) => rows.filter((x) => /^(sysctl |daemon limit |mode \/proc)/.test(x.check)).map((x) => x.check),
    note: /is a symbolic link out of \/proc$/,
    table: true,
  },
  {
    name: '/sys/class/net/X linking out',
    make: (r) => link(r, 'sys/class/net/enp5s0', join(outside, 'net-dev')),
    fails: ['txqueuelen nic uplink (enp5s0)'],
    note: /^\/sys\/class\/net\/enp5s0\/tx_queue_len is a symbolic link out of \/sys$/,
  },
  {
    name: '/sys/class/net linking out',
    make: (r) => link(r, 'sys/class/net', join(outside, 'net-class')),
    fails: ['txqueuelen nic uplink', 'txqueuelen bridge incusbr0'],
    note: /^\/sys\/class\/net is a symbolic link out of \/sys$/,
  },
  {
    name: 'a FIFO as a sysctl',
    make: (r) => replace(r, 'proc/sys/kernel/dmesg_restrict', fifo),
    fails: ['sysctl kernel.dmesg_restrict'],
    note: /^\/proc\/sys\/kernel\/dmesg_restrict is a FIFO \(named pipe\), not a regular file$/,
  },
  {
    name: "a FIFO as the daemon's limits",
    make: (r) => replace(r, 'proc/4242/limits', fifo),
    fails: ['daemon limit nofile', 'daemon limit memlock'],
    note: /^\/proc\/4242\/limits is a FIFO/,
  },
  {
    name: 'a FIFO as an installed file',
    make: (r) => replace(r, 'etc/born-tuned/sysctl.wanted', fifo),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /is a FIFO \(named pipe\), not a regular file$/,
    actual: /^not a regular file, 0644$/,
  },
  {
    name: "a FIFO as a NIC's tx_queue_len",
    make: (r) => replace(r, 'sys/class/net/enp5s0/tx_queue_len', fifo),
    fails: ['txqueuelen nic uplink (enp5s0)'],
    note: /is a FIFO/,
  },
  {
    name: 'a FIFO instead of /sys/class/net',
    make: (r) => replace(r, 'sys/class/net', fifo),
    fails: ['txqueuelen nic uplink', 'txqueuelen bridge incusbr0'],
    note: /^\/sys\/class\/net is a FIFO \(named pipe\), not a directory$/,
  },
  {
    name: 'a FIFO as /proc/sched_debug',
    make: (r) => replace(r, 'proc/sched_debug', fifo),
    fails: ['mode /proc/sched_debug'],
    note: /^\/proc\/sched_debug is a FIFO \(named pipe\), not a regular file$/,
  },
  {
    name: 'a directory as /proc/sched_debug',
    make: (r) => replace(r, 'proc/sched_debug', (f) => mkdirSync(f, { mode: 0o400 })),
    fails: ['mode /proc/sched_debug'],
    note: /is a directory, not a regular file$/,
  },
  {
    name: 'a character device (/dev/zero, mknod) as a sysctl',
    make: (r) => replace(r, 'proc/sys/fs/aio-max-nr', devZero),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a character device, not a regular file$/,
  },
  {
    name: "/dev/zero by a link to the image's own /dev/zero, on an installed file",
    make: (r) => (replace(r, 'dev/zero', devZero), link(r, 'etc/born-tuned/sysctl.wanted', '/dev/zero')),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /is a character device, not a regular file$/,
  },
  {
    name: "/dev/zero by a link to the image's own /dev/zero, as a sysctl",
    make: (r) => (replace(r, 'dev/zero', devZero), link(r, 'proc/sys/fs/aio-max-nr', '/dev/zero')),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a symbolic link out of \/proc$/,
  },
  {
    name: 'a socket as a sysctl',
    make: (r) => replace(r, 'proc/sys/fs/aio-max-nr', socketAt),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a socket, not a regular file$/,
  },
  {
    name: 'a sysctl larger than the cap',
    make: (r) => writeFileSync(join(r, 'proc/sys/fs/aio-max-nr'), '9'.repeat(64 * 1024 + 1)),
    fails: ['sysctl fs.aio-max-nr'],
    note: /^\/proc\/sys\/fs\/aio-max-nr is larger than 65536 bytes$/,
  },
  {
    name: 'a 16 GiB (sparse) sysctl',
    make: (r) => truncateSync(join(r, 'proc/sys/fs/aio-max-nr'), 16 * 2 ** 30),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is larger than 65536 bytes$/,
  },
  {
    name: 'a 16 GiB (sparse) installed file',
    make: (r) => truncateSync(join(r, 'etc/born-tuned/sysctl.wanted'), 16 * 2 ** 30),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /^$/,
    actual: /^different bytes, 0644$/,
  },
  {
    name: 'an installed file with one byte more',
    make: (r) =>
      writeFileSync(join(r, 'etc/born-tuned/sysctl.wanted'), `${readFileSync(join(r, 'etc/born-tuned/sysctl.wanted'), 'utf8')}#`),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /^$/,
    actual: /^different bytes, 0644$/,
  },
  {
    name: 'a directory as a sysctl',
    make: (r) => replace(r, 'proc/sys/fs/aio-max-nr', (f) => mkdirSync(f)),
    fails: ['sysctl fs.aio-max-nr'],
    note: /is a directory, not a regular file$/,
  },
  {
    name: 'a directory as an installed file',
    make: (r) => replace(r, 'etc/born-tuned/sysctl.wanted', (f) => mkdirSync(f, { mode: 0o644 })),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /is a directory, not a regular file$/,
    actual: /^not a regular file, 0644$/,
  },
  {
    name: 'an installed file linked to a host file that is not under the root',
    make: (r) => link(r, 'etc/born-tuned/sysctl.wanted', join(outside, 'sysctl.conf')),
    fails: ['file /etc/born-tuned/sysctl.wanted'],
    note: /^$/,
    actual: /^missing$/,
  },
];

/** Makes `path` a chain of `n` links (path -> path.1 -> ... -> path.real) to the file it held. */
function chain(root: string, path: string, n: number): void {
  const full = join(root, path);
  const name = path.split('/').pop()!;
  writeFileSync(`${full}.real`, readFileSync(full));
  unlinkSync(full);
  const links = [name, ...Array.from({ length: n - 1 }, (_, i) => `${name}.${i + 1}`)];
  links.forEach((l, i) => symlinkSync(i + 1 < links.length ? links[i + 1]! : `${name}.real`, join(dirname(full), l)));
}

/** A Unix socket file at `full` (bound by a short-lived process; the file stays). */
function socketAt(full: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', full], {
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
}

const good = verifyTree(goodHost(scratch, STACK));
test('the good host passes: the baseline every hostile case differs from', () => {
  assert.is(good.status, 0);
  assert.equal(
    good.rows.filter((r) => r.status === 'FAIL'),
    [],
  );
});

for (const c of cases) {
  test(`verify --root, ${c.name}: ends, fails exactly its rows with a clear note, prints nothing from outside`, () => {
    const root = goodHost(scratch, STACK);
    c.make(root);
    const { status, rows } = verifyTree(root, c.table);
    const fails = typeof c.fails === 'function' ? c.fails(good.rows) : c.fails;
    assert.ok(fails.length > 0);
    assert.equal(
      rows
        .filter((r) => r.status === 'FAIL')
        .map((r) => r.check)
        .sort(),
      [...fails].sort(),
    );
    assert.is(status, 1);
    for (const r of rows.filter((x) => x.status === 'FAIL')) {
      assert.match(r.note ?? '', c.note, `${r.check}: ${r.note}`);
      if (c.actual) assert.match(r.actual, c.actual, r.check);
    }
    // Everything else reads as on the good host.
    const others = (rs: VerifyRow[]) => rs.filter((r) => !fails.includes(r.check) && !fails.some((f) => r.check.startsWith(`${f} (`)));
    assert.equal(others(rows), others(good.rows));
  });
}

test('a preseed that held a trust password is verified as first boot leaves it, without the secret; one that still holds it fails', () => {
  const dir = mkdtempSync(join(scratch, 'trusted-'));
  const profile = join(dir, 'trusted.yaml');
  writeFileSync(profile, 'extends: lxd-small\nserver:\n  trust_password: {env: BT_VERIFY_TRUST}\n');
  process.env.BT_VERIFY_TRUST = 'canary-verify-trust';
  const root = goodHost(dir, [profile]);
  delete process.env.BT_VERIFY_TRUST;
  const preseed = join(root, 'etc/born-tuned/preseed.yaml');
  const verify = () => {
    // verify never reads the secret: its variable is unset here.
    const r = genGuarded(['verify', '--profile', profile, '--root', root, '--format', 'json']);
    return (JSON.parse(r.stdout) as { rows: VerifyRow[] }).rows.find((row) => row.check === 'file /etc/born-tuned/preseed.yaml');
  };
  assert.not.ok(readFileSync(preseed, 'utf8').includes('canary'));
  assert.is(verify()?.status, 'PASS');
  // Negative: the password still in the file (the scrub did not run) is a difference.
  writeFileSync(preseed, readFileSync(preseed, 'utf8').replace('config:\n', 'config:\n  core.trust_password: canary-verify-trust\n'));
  assert.equal(verify(), {
    check: 'file /etc/born-tuned/preseed.yaml',
    status: 'FAIL',
    wanted: 'as generated, 0600',
    actual: 'different bytes, 0600',
  });
});

test('a value read from the host is held to what first boot recorded, not re-read after a reboot moved its source', () => {
  const root = goodHost(scratch, ['incus-dense', '10gbe']);
  // tcp_mem is sized from the memory free at boot: a reboot moved it a few pages (seen in a
  // Debian 13 guest: 190308 at first boot, 190311 after the reboot).
  writeFileSync(join(root, 'proc/sys/net/ipv4/tcp_mem'), '190311\t253600\t380400\n');
  const moved = verifyTree(root);
  assert.is(moved.status, 0, JSON.stringify(moved.rows.filter((r) => r.status === 'FAIL')));
  const backlog = moved.rows.find((r) => r.check === 'sysctl net.core.netdev_max_backlog')!;
  assert.equal([backlog.status, backlog.wanted], ['PASS', '190194 (net.ipv4.tcp_mem word 1 at first boot)']);
  // Below what first boot recorded is drift.
  writeFileSync(join(root, 'proc/sys/net/core/netdev_max_backlog'), '190193\n');
  const drifted = verifyTree(root);
  assert.is(drifted.status, 1);
  assert.equal(
    drifted.rows.filter((r) => r.status === 'FAIL').map((r) => r.check),
    ['sysctl net.core.netdev_max_backlog'],
  );
  // An image not yet booted has no record: the word is read from the host now.
  rmSync(join(root, 'etc/sysctl.d/60-born-tuned.conf'));
  const unbooted = verifyTree(root).rows.find((r) => r.check === 'sysctl net.core.netdev_max_backlog')!;
  assert.equal([unbooted.status, unbooted.wanted], ['FAIL', '>= 190311 (net.ipv4.tcp_mem word 1)']);
});

test('links that stay inside the root are followed as a chroot follows them (absolute ones from the root)', () => {
  const root = goodHost(scratch, STACK);
  // An absolute target means the same path under the root: the copy there is read, not the host's.
  const installed = 'etc/born-tuned/sysctl.wanted';
  mkdirSync(join(root, outside), { recursive: true });
  writeFileSync(join(root, outside, 'sysctl.conf'), readFileSync(join(root, installed)));
  link(root, installed, join(outside, 'sysctl.conf'));
  // /sys/class/net entries are links into /sys/devices on a real kernel.
  mkdirSync(join(root, 'sys/devices/virtual/net'), { recursive: true });
  rmSync(join(root, 'sys/class/net/enp5s0'), { recursive: true });
  mkdirSync(join(root, 'sys/devices/virtual/net/enp5s0'));
  writeFileSync(join(root, 'sys/devices/virtual/net/enp5s0/tx_queue_len'), '10000\n');
  symlinkSync('../../devices/virtual/net/enp5s0', join(root, 'sys/class/net/enp5s0'));
  // A chain of exactly as many links as the kernel follows.
  chain(root, 'proc/sys/fs/aio-max-nr', MAX_LINKS);
  // `..` above the root stays at the root.
  link(root, 'proc/sys/kernel/dmesg_restrict', '../../../../../../../../proc/sys/kernel/real-dmesg_restrict');
  writeFileSync(join(root, 'proc/sys/kernel/real-dmesg_restrict'), '1\n');
  const { status, rows } = verifyTree(root);
  assert.is(status, 0, JSON.stringify(rows.filter((r) => r.status === 'FAIL')));
  assert.equal(rows, good.rows);
});

test('a character device bind-mounted over a sysctl and an installed file is not opened', () => {
  const root = goodHost(scratch, STACK);
  const targets = ['proc/sys/fs/aio-max-nr', 'etc/born-tuned/sysctl.wanted'];
  const mounted: string[] = [];
  try {
    for (const t of targets) {
      const m = spawnSync('mount', ['--bind', '/dev/zero', join(root, t)], { encoding: 'utf8' });
      assert.is(m.status, 0, `mount --bind (the suite runs as root): ${m.stderr}`);
      mounted.push(join(root, t));
    }
    const { status, rows } = verifyTree(root);
    assert.is(status, 1);
    assert.equal(
      rows.filter((r) => r.status === 'FAIL').map((r) => [r.check, r.note]),
      [
        ['sysctl fs.aio-max-nr', '/proc/sys/fs/aio-max-nr is a character device, not a regular file'],
        ['file /etc/born-tuned/sysctl.wanted', '/etc/born-tuned/sysctl.wanted is a character device, not a regular file'],
      ],
    );
  } finally {
    for (const m of mounted) spawnSync('umount', [m]);
  }
});

test('a FIFO as a process name under /proc is skipped while looking for the daemon, never opened', () => {
  const root = goodHost(scratch, STACK);
  replace(root, 'proc/4242/comm', fifo);
  const { status, rows } = verifyTree(root);
  assert.is(status, 0);
  assert.equal(
    rows.filter((r) => r.check.startsWith('daemon limit')).map((r) => [r.status, r.note]),
    [
      ['ABSENT', 'incus daemon not running'],
      ['ABSENT', 'incus daemon not running'],
    ],
  );
});

test('--root that is mistyped is a usage error (exit 2, one sentence), not a table of FAILs', () => {
  const file = join(scratch, 'a-file');
  writeFileSync(file, 'x');
  const pipe = join(scratch, 'a-fifo');
  fifo(pipe);
  const dangling = join(scratch, 'dangling');
  symlinkSync(join(scratch, 'nowhere'), dangling);
  for (const [dir, why] of [
    [join(scratch, 'nowhere'), 'does not exist'],
    [join(scratch, 'a-file', 'x'), 'does not exist'],
    [dangling, 'does not exist'],
    [file, 'is a regular file, not a directory'],
    [pipe, 'is a FIFO (named pipe), not a directory'],
    ['/dev/zero', 'is a character device, not a directory'],
  ] as const) {
    const r = genGuarded(['verify', ...STACK_ARGS, '--root', dir]);
    assert.is(r.status, 2, `${dir}: ${r.stdout}`);
    assert.is(r.stdout, '');
    assert.is(r.stderr, `gen: --root ${dir} ${why}: name the directory of a mounted image or fixture tree\n`);
  }
  const json = genGuarded(['verify', ...STACK_ARGS, '--root', pipe, '--format', 'json']);
  assert.is(json.status, 2);
  assert.equal(JSON.parse(json.stderr), {
    version: 1,
    diagnostics: [
      {
        severity: 'error',
        code: 'USAGE',
        message: `--root ${pipe} is a FIFO (named pipe), not a directory: name the directory of a mounted image or fixture tree`,
      },
    ],
  });
  const empty = genGuarded(['verify', ...STACK_ARGS, '--root', '']);
  assert.is(empty.status, 2);
  assert.match(empty.stderr, /^gen: --root is empty: /);
});

test("an empty directory is a valid --root: kernel rows ABSENT, installed files FAIL as missing (the fence's unit not enabled), the first boot's sysctl.d file ABSENT", () => {
  const dir = mkdtempSync(join(scratch, 'empty-'));
  const { status, rows } = verifyTree(dir);
  assert.is(status, 1);
  for (const r of rows) {
    // An image not yet booted has no computed sysctl.d file, and must not have one.
    if (r.check === 'file /etc/sysctl.d/60-born-tuned.conf') assert.match(r.note!, /an image not yet booted has none/);
    if (r.check === 'file /etc/sysctl.d/60-born-tuned.conf') assert.is(r.status, 'ABSENT');
    else if (r.check.startsWith('file ')) assert.equal([r.status, r.actual], ['FAIL', 'missing'], r.check);
    else if (r.check.startsWith('fence unit ')) assert.equal([r.status, r.actual], ['FAIL', 'not enabled'], r.check);
    else assert.is(r.status, 'ABSENT', r.check);
  }
  // A link to a directory is followed (the operator named it).
  const viaLink = join(scratch, 'link-to-empty');
  symlinkSync(dir, viaLink);
  assert.equal(verifyTree(viaLink).rows, rows);
});

test('the live root / goes through the same resolver: real /proc and /sys values, /sys/class/net links followed', async () => {
  const rows = await verifyHost(generate({ profiles: ['lxd-small'] }, { packer: false, secrets: 'resolve' }), { root: '/' });
  const row = rows.find((r) => r.check === 'sysctl vm.max_map_count')!;
  assert.is(row.actual, readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
  // On a live host the file first boot computes is never just absent: missing there is a failure.
  assert.is.not(rows.find((r) => r.check === 'file /etc/sysctl.d/60-born-tuned.conf')!.status, 'ABSENT');
  const lo = resolveInRoot('/', '/sys/class/net/lo/tx_queue_len');
  assert.ok(lo.ok && lo.inRoot.startsWith('/sys/devices/'), JSON.stringify(lo));
});

// --- the resolver against the kernel's own: openat2(RESOLVE_IN_ROOT) ------------------------------

/** One python3 process resolves, for each job, every path under its root with
 * openat2(RESOLVE_IN_ROOT), the kernel's chroot-style resolution, and answers the real path or the
 * errno name. */
const ORACLE = `
import ctypes, errno, json, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_openat2, O_PATH, RESOLVE_IN_ROOT = 437, 0o10000000, 0x10
answers = []
for job in json.load(sys.stdin):
    rootfd = os.open(job['root'], os.O_PATH | os.O_DIRECTORY)
    out = []
    for path in job['paths']:
        how = ctypes.create_string_buffer(struct.pack('QQQ', O_PATH, 0, RESOLVE_IN_ROOT))
        fd = libc.syscall(SYS_openat2, rootfd, path.encode(), how, 24)
        if fd < 0:
            out.append({'error': errno.errorcode[ctypes.get_errno()]})
        else:
            out.append({'path': os.readlink('/proc/self/fd/%d' % fd)})
            os.close(fd)
    os.close(rootfd)
    answers.append(out)
print(json.dumps(answers))
`;

const NAMES = ['a', 'b', 'c', 'proc'];
const component = fc.constantFrom(...NAMES, '..', '.', '');
const relPath = fc.array(component, { minLength: 1, maxLength: 6 }).map((cs) => cs.join('/'));
/** A link target: relative, absolute (from the root), or naming the outside directory. */
const target = fc.oneof(
  relPath,
  relPath.map((p) => `/${p}`),
  relPath.map((p) => `${outside}/${p}`),
  fc.constant(join(outside, 'secret')),
);
const entry = fc.record({
  path: fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }).map((cs) => cs.join('/')),
  // Files stand for every non-directory (FIFOs are in the cases above: each costs a process here).
  kind: fc.constantFrom('dir', 'file', 'link', 'link'),
  target,
});

test('property: the resolver answers what the kernel answers (openat2 RESOLVE_IN_ROOT) for any link farm and path', () => {
  // 100 random farms, built first and put to the kernel in one python3 (a process each was most of
  // this test's time).
  const cases = fc
    .sample(
      fc.tuple(
        fc.array(entry, { maxLength: 25 }),
        fc.array(
          relPath.map((p) => `/${p}`),
          { minLength: 1, maxLength: 12 },
        ),
      ),
      100,
    )
    .map(([entries, paths]) => {
      const root = mkdtempSync(join(scratch, 'farm-'));
      for (const e of entries) {
        // Never through a link, never over an existing entry: the farm stays inside its root.
        if (!parentsInTree(root, e.path)) continue;
        const full = join(root, e.path);
        if (lstatOrUndefined(full) !== undefined) continue;
        if (e.kind === 'dir') mkdirSync(full);
        else if (e.kind === 'file') writeFileSync(full, SENTINEL, { flag: 'wx' });
        else if (e.target !== '') symlinkSync(e.target, full);
      }
      return { root, paths, entries };
    });
  const oracle = spawnSync('/usr/bin/python3', ['-c', ORACLE], {
    input: JSON.stringify(cases.map(({ root, paths }) => ({ root, paths }))),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  assert.is(oracle.status, 0, oracle.stderr);
  const kernel = JSON.parse(oracle.stdout) as ({ path: string } | { error: string })[][];
  assert.is(kernel.length, cases.length);
  cases.forEach(({ root, paths, entries }, c) => {
    paths.forEach((p, i) => {
      const ours = resolveInRoot(root, p);
      const theirs = kernel[c]![i]!;
      const mine = ours.ok ? { path: ours.path } : { error: ours.problem.code };
      assert.equal(mine, theirs, `${p} in ${root}, a farm of ${JSON.stringify(entries)}`);
      if (ours.ok) assert.ok(ours.path === root || ours.path.startsWith(`${root}/`));
    });
    rmSync(root, { recursive: true });
  });
});

test('property: no link farm in a host tree makes verify print a byte from outside the root', async () => {
  const generated = generate({ profiles: STACK }, { packer: false, secrets: 'resolve' });
  const places = [
    'proc',
    'proc/sys',
    'proc/sys/fs',
    'proc/sys/fs/aio-max-nr',
    'proc/sys/net',
    'proc/4242',
    'proc/4242/limits',
    'sys',
    'sys/class/net',
    'sys/class/net/enp5s0',
    'etc',
    'etc/born-tuned/sysctl.wanted',
    'etc/sysctl.d/60-born-tuned.conf',
  ];
  const out = fc.oneof(
    fc.constantFrom(outside, join(outside, 'secret'), join(outside, 'proc'), join(outside, 'net-class'), '/proc', '/etc'),
    relPath.map((p) => `../../../../../../..${outside}/${p}`),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...places), out), { minLength: 1, maxLength: 4 }), async (links) => {
      const root = goodHost(scratch, STACK);
      for (const [at, to] of links) replaceIn(root, at, (full) => symlinkSync(to, full));
      const rows = await verifyHost(generated, { root });
      assert.not.ok(JSON.stringify(rows).includes('SENTINEL'));
      for (const r of rows) assert.ok(typeof r.check === 'string' && typeof r.actual === 'string' && typeof r.wanted === 'string');
      rmSync(root, { recursive: true });
    }),
    { numRuns: 60 },
  );
});

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

test.after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

test.run();
