import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, run } from './helpers.ts';

/**
 * The first-boot apply script, run for real by dash against a fake /proc/sys: it meets each line
 * of the wanted file with the kernel's value in its mode, and writes what it computed to the
 * sysctl.d file later boots apply, so no boot applies less than the kernel had.
 */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-apply-'));
const script = join(dir, 'born-tuned-sysctl-apply');
const r = gen(['--profile', 'incus-dense', '--artifact', 'sysctl-apply']);
writeFileSync(script, r.stdout, { mode: 0o755 });

function fakeProc(values: Record<string, string>): string {
  const root = mkdtempSync(join(dir, 'proc-'));
  for (const [key, value] of Object.entries(values)) {
    const file = join(root, ...key.split('.'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${value}\n`);
  }
  return root;
}

const read = (root: string, key: string) => readFileSync(join(root, ...key.split('.')), 'utf8').trim();

/** Runs the script on WANTED text against the fake /proc/sys `proc`; OUT is beside it. */
function apply(proc: string, wanted: string) {
  const wantedFile = join(proc, 'sysctl.wanted');
  writeFileSync(wantedFile, wanted);
  const out = join(proc, '60-born-tuned.conf');
  const res = run('dash', [script, wantedFile, out], { env: { ...process.env, PROC_SYS: proc } });
  return { ...res, out };
}

/** The `key = value` lines of the written sysctl.d file. */
function written(out: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(' = ') as [string, string]),
  );
}

test('the script passes shellcheck and dash -n', () => {
  const sc = run('shellcheck', ['-S', 'style', '-s', 'sh', script]);
  assert.is(sc.status, 0, sc.stdout + sc.stderr);
  assert.is(run('dash', ['-n', script]).status, 0);
});

test('each mode against the kernel; the sysctl.d file holds what was computed, a higher host value included; a second run changes nothing', () => {
  const proc = fakeProc({
    'vm.max_map_count': '1048576',
    'fs.aio-max-nr': '65536',
    'net.ipv4.tcp_mem': '10\t400000\t20',
    'kernel.dmesg_restrict': '1',
    'net.ipv4.tcp_fin_timeout': '60',
    'net.ipv4.tcp_keepalive_time': '300',
  });
  const wanted =
    '# comment\n' +
    'raise vm.max_map_count = 262144\n' +
    'raise fs.aio-max-nr = 524288\n' +
    'raise net.ipv4.tcp_mem = 182757 243679 365514\n' +
    'exact kernel.dmesg_restrict = 0\n' +
    'lower net.ipv4.tcp_fin_timeout = 30\n' +
    'lower net.ipv4.tcp_keepalive_time = 600\n' +
    'raise fs.not.here = 5\n';
  const res = apply(proc, wanted);
  assert.is(res.status, 0, res.stderr);
  const after = {
    'vm.max_map_count': '1048576',
    'fs.aio-max-nr': '524288',
    'net.ipv4.tcp_mem': '182757 400000 365514',
    'kernel.dmesg_restrict': '0',
    'net.ipv4.tcp_fin_timeout': '30',
    'net.ipv4.tcp_keepalive_time': '300',
  };
  for (const [key, value] of Object.entries(after)) assert.is(read(proc, key), value, key);
  assert.match(res.stderr, /fs\.not\.here does not exist on this kernel; skipped/);
  // Every key the kernel has, as computed: the host's higher (raise) and lower (lower) values too.
  assert.equal(written(res.out), after);
  assert.is(statSync(res.out).mode & 0o777, 0o644);
  const bytes = readFileSync(res.out, 'utf8');

  const again = apply(proc, wanted);
  assert.is(again.status, 0, again.stderr);
  for (const [key, value] of Object.entries(after)) assert.is(read(proc, key), value, `${key} after a second run`);
  assert.is(readFileSync(again.out, 'utf8'), bytes, 'a second run writes the same file');
  assert.match(again.stdout, /vm\.max_map_count = 1048576 already/);
});

test("a value read on the host: 10gbe's backlog is the host's tcp_mem minimum, never lowering a higher backlog", () => {
  const wanted = gen(['--profile', 'incus-dense', '--profile', '10gbe', '--artifact', 'sysctl']).stdout;
  assert.not.match(wanted, /tcp_mem =/, 'tcp_mem is not set');
  assert.match(wanted, /^raise net\.core\.netdev_max_backlog from net\.ipv4\.tcp_mem 1$/m);
  // A 16 GiB Debian 12 guest's kernel defaults.
  const sixteenGiB = { 'net.ipv4.tcp_mem': '190194\t253595\t380388', 'net.core.netdev_max_backlog': '1000' };
  const proc = fakeProc(sixteenGiB);
  const res = apply(proc, wanted);
  assert.is(res.status, 0, res.stderr);
  assert.is(read(proc, 'net.core.netdev_max_backlog'), '190194');
  assert.is(read(proc, 'net.ipv4.tcp_mem'), '190194\t253595\t380388', 'tcp_mem is left as the kernel sized it');
  assert.equal(written(res.out), { 'net.core.netdev_max_backlog': '190194' });
  const again = apply(proc, wanted);
  assert.is(again.status, 0, again.stderr);
  assert.equal(written(again.out), { 'net.core.netdev_max_backlog': '190194' });

  const busy = fakeProc({ ...sixteenGiB, 'net.core.netdev_max_backlog': '500000' });
  const kept = apply(busy, wanted);
  assert.is(kept.status, 0, kept.stderr);
  assert.is(read(busy, 'net.core.netdev_max_backlog'), '500000');
  assert.equal(written(kept.out), { 'net.core.netdev_max_backlog': '500000' });

  // The source is read after the literal lines above it are applied.
  const raised = fakeProc({ 'net.ipv4.tcp_mem': '22368\t29824\t44736', 'net.core.netdev_max_backlog': '1000' });
  const chained = apply(raised, 'raise net.ipv4.tcp_mem = 30000 40000 60000\nraise net.core.netdev_max_backlog from net.ipv4.tcp_mem 1\n');
  assert.is(chained.status, 0, chained.stderr);
  assert.is(read(raised, 'net.core.netdev_max_backlog'), '30000');

  const noSource = apply(fakeProc({ 'net.core.netdev_max_backlog': '1000' }), wanted);
  assert.is(noSource.status, 0, noSource.stderr);
  assert.match(noSource.stderr, /netdev_max_backlog is read from net\.ipv4\.tcp_mem, which does not exist on this kernel; skipped/);
  assert.equal(written(noSource.out), {});
});

test('a value the kernel refuses makes the script fail (visible in cloud-init status) and stays out of the sysctl.d file', () => {
  const proc = fakeProc({ 'net.core.bpf_jit_limit': '264241152', 'fs.aio-max-nr': '65536' });
  const file = join(proc, 'net', 'core', 'bpf_jit_limit');
  chmodSync(file, 0o444);
  run('chattr', ['+i', file]);
  const res = apply(proc, 'raise net.core.bpf_jit_limit = 1000000000\nraise fs.aio-max-nr = 524288\n');
  run('chattr', ['-i', file]);
  assert.is(res.status, 1);
  assert.match(res.stderr, /the kernel refused net\.core\.bpf_jit_limit = 1000000000/);
  assert.equal(written(res.out), { 'fs.aio-max-nr': '524288' });
});

test('a line of another shape or an unknown mode fails the run; the other lines still apply', () => {
  const proc = fakeProc({ 'fs.aio-max-nr': '65536', 'vm.swappiness': '60' });
  const res = apply(proc, 'fs.aio-max-nr = 524288\nsometimes vm.swappiness = 10\nraise fs.aio-max-nr = 524288\n');
  assert.is(res.status, 1);
  assert.match(res.stderr, /cannot read the line "fs\.aio-max-nr = 524288"/);
  assert.match(res.stderr, /vm\.swappiness has the unknown mode sometimes/);
  assert.is(read(proc, 'vm.swappiness'), '60');
  assert.equal(written(res.out), { 'fs.aio-max-nr': '524288' });
  assert.ok(existsSync(res.out));
});

test.run();
