import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { generate } from '../src/pipeline.ts';
import { procSysPath } from '../src/facts/sysctl-names.ts';
import { verifyHost } from '../src/verify/verify.ts';
import { gen, run } from './helpers.ts';

/**
 * Every sysctl has a mode, and the generated files honour it: the plan's modes reach the wanted
 * file (read from the user-data), the script (run for real by dash against a fake
 * /proc/sys) sets each key in its mode, verify judges it in that mode, explain says it.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-modes-'));
const profilesDir = join(scratch, 'profiles');
mkdirSync(profilesDir);
writeFileSync(
  join(profilesDir, 'modes.yaml'),
  `extends: incus-dense
sysctl:
  vm.swappiness: 10
  net.ipv4.ip_local_port_range: "40000 50000"
  net.ipv4.conf.all.accept_redirects: 0
  kernel.sysrq: 0
  net/ipv4/conf/eth0.100/rp_filter: 2
  net.ipv4.tcp_rmem: "4096 131072 6291456"
  kernel.msgmax: 16384
  kernel.keys.root_maxkeys: 1000000
  net.ipv4.tcp_fin_timeout: {value: 30, mode: lower}
  net.ipv4.tcp_keepalive_time: {value: 600, mode: lower}
  fs.aio-max-nr: {value: 524288, mode: exact}
`,
);
const stackArgs = ['--profiles-dir', profilesDir, '--profile', 'modes'];

/** What the host had before first boot, as the kernel shows it (tabs in vectors). */
const HOST_BEFORE: Record<string, string> = {
  'vm.swappiness': '60',
  'net.ipv4.ip_local_port_range': '32768\t60999',
  'net.ipv4.conf.all.accept_redirects': '1',
  'kernel.sysrq': '438',
  'net.ipv4.conf.eth0/100.rp_filter': '0',
  'net.ipv4.tcp_rmem': '4096\t131072\t33554432',
  'kernel.msgmax': '8192',
  'kernel.keys.root_maxkeys': '1000000',
  'net.ipv4.tcp_fin_timeout': '60',
  'net.ipv4.tcp_keepalive_time': '300',
  'fs.aio-max-nr': '1048576',
  'vm.max_map_count': '1048576',
};

function hostRoot(values: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, 'host-'));
  for (const [key, value] of Object.entries(values)) {
    const file = join(root, procSysPath(key));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${value}\n`);
  }
  return root;
}
const read = (root: string, key: string) => readFileSync(join(root, procSysPath(key)), 'utf8').trim();

test('keys the kernel documents are accepted, in either spelling, with no warning', () => {
  const r = gen(['--artifact', 'sysctl', ...stackArgs]);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.match(r.stdout, /^exact net\.ipv4\.conf\.eth0\/100\.rp_filter = 2$/m);
  assert.match(r.stdout, /^exact kernel\.msgmax = 16384$/m);
  assert.match(r.stdout, /^exact net\.ipv4\.tcp_rmem = 4096 131072 6291456$/m);
});

test('the apply step sets each key in its mode, and the sysctl.d file it writes holds what it computed', () => {
  const userData = parse(gen(stackArgs).stdout) as { runcmd: string[][]; write_files: { path: string; content: string }[] };
  const step = userData.runcmd.find((c) => c[1] === 'sysctl')!;
  assert.equal(step.slice(2), [
    '/usr/local/sbin/born-tuned-sysctl-apply',
    '/etc/born-tuned/sysctl.wanted',
    '/etc/sysctl.d/60-born-tuned.conf',
  ]);
  const wanted = userData.write_files.find((f) => f.path === '/etc/born-tuned/sysctl.wanted')!.content;
  assert.ok(
    userData.write_files.every((f) => !f.path.startsWith('/etc/sysctl.d/')),
    'user-data writes no sysctl.d file: systemd-sysctl applies only what first boot computed',
  );
  for (const line of [
    'exact vm.swappiness = 10',
    'exact net.ipv4.conf.eth0/100.rp_filter = 2',
    'lower net.ipv4.tcp_fin_timeout = 30',
    'exact fs.aio-max-nr = 524288',
    'raise vm.max_map_count = 262144',
    'exact net.ipv4.ip_local_port_range = 40000 50000',
  ])
    assert.ok(wanted.split('\n').includes(line), `${line} in the wanted file`);

  const script = join(scratch, 'apply');
  writeFileSync(script, gen(['--artifact', 'sysctl-apply', ...stackArgs]).stdout, { mode: 0o755 });
  const wantedFile = join(scratch, 'sysctl.wanted');
  writeFileSync(wantedFile, wanted);
  const root = hostRoot(HOST_BEFORE);
  const out = join(root, '60-born-tuned.conf');
  const env = { ...process.env, PROC_SYS: join(root, 'proc/sys') };
  const res = run('dash', [script, wantedFile, out], { env });
  assert.is(res.status, 0, res.stderr);
  const after = {
    'vm.swappiness': '10',
    'net.ipv4.ip_local_port_range': '40000 50000',
    'net.ipv4.conf.all.accept_redirects': '0',
    'kernel.sysrq': '0',
    'net.ipv4.conf.eth0/100.rp_filter': '2',
    'net.ipv4.tcp_rmem': '4096 131072 6291456',
    'kernel.msgmax': '16384',
    'kernel.keys.root_maxkeys': '1000000',
    'net.ipv4.tcp_fin_timeout': '30',
    'net.ipv4.tcp_keepalive_time': '300',
    'fs.aio-max-nr': '524288',
    'vm.max_map_count': '1048576',
  };
  for (const [key, value] of Object.entries(after)) assert.is(read(root, key), value, key);
  assert.is(readFileSync(join(root, 'proc/sys/net/ipv4/conf/eth0.100/rp_filter'), 'utf8').trim(), '2', 'the VLAN name has its dot');
  // The file later boots apply: the computed value of every key this kernel has (the others were skipped).
  const persisted = readFileSync(out, 'utf8');
  for (const [key, value] of Object.entries(after))
    assert.ok(persisted.split('\n').includes(`${key} = ${value}`), `${key} = ${value} persisted`);
  assert.not.match(persisted, /kernel\.keys\.maxkeys/, 'a key the fake kernel lacks is left out');

  const again = run('dash', [script, wantedFile, out], { env });
  assert.is(again.status, 0, again.stderr);
  assert.is(readFileSync(out, 'utf8'), persisted, 'a second run changes nothing');
  assert.ok(existsSync(out));
});

test('verify judges each key in its mode: exact as a whole, raise and lower number by number', async () => {
  const generated = generate({ profiles: ['modes'], profilesDir }, { packer: false, secrets: 'resolve' });
  const sysctlRows = async (values: Record<string, string>) =>
    Object.fromEntries(
      (await verifyHost(generated, { root: hostRoot(values) }))
        .filter((r) => r.check.startsWith('sysctl '))
        .map((r) => [r.check.slice('sysctl '.length), r]),
    );
  const good = {
    ...HOST_BEFORE,
    'vm.swappiness': '10',
    'net.ipv4.ip_local_port_range': '40000\t50000',
    'net.ipv4.conf.all.accept_redirects': '0',
    'kernel.sysrq': '0',
    'net.ipv4.conf.eth0/100.rp_filter': '2',
    'net.ipv4.tcp_rmem': '4096\t131072\t6291456',
    'kernel.msgmax': '16384',
    'net.ipv4.tcp_fin_timeout': '30',
    'fs.aio-max-nr': '524288',
  };
  const rows = await sysctlRows(good);
  for (const key of Object.keys(good)) assert.is(rows[key]?.status, 'PASS', `${key}: ${JSON.stringify(rows[key])}`);
  assert.is(rows['net.ipv4.tcp_keepalive_time']!.wanted, '<= 600');
  assert.is(rows['vm.max_map_count']!.wanted, '>= 262144');

  const bad = await sysctlRows({
    ...good,
    'vm.swappiness': '60',
    'net.ipv4.ip_local_port_range': '40000\t60999',
    'net.ipv4.tcp_keepalive_time': '900',
    'fs.aio-max-nr': '1048576',
    'net.ipv4.conf.eth0/100.rp_filter': '0',
  });
  for (const key of [
    'vm.swappiness',
    'net.ipv4.ip_local_port_range',
    'net.ipv4.tcp_keepalive_time',
    'fs.aio-max-nr',
    'net.ipv4.conf.eth0/100.rp_filter',
  ])
    assert.is(bad[key]!.status, 'FAIL', key);
  assert.is(bad['vm.max_map_count']!.status, 'PASS');
});

test('explain says each sysctl mode and why', () => {
  const mode = (key: string) => /^ {2}mode: +(.*)$/m.exec(gen(['explain', ...stackArgs, key]).stdout)?.[1];
  assert.match(mode('vm.swappiness')!, /^exact \(not in the catalogue/);
  assert.match(mode('fs.aio-max-nr')!, /^exact \(chosen in the profile\)/);
  assert.match(mode('vm.max_map_count')!, /^raise \(catalogue: a limit/);
  assert.match(mode('tcp_fin_timeout')!, /^lower \(chosen in the profile\)/);
});

test.run();
