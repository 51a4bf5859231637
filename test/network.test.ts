import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, readManifest, ROOT, run } from './helpers.ts';

/** netplan files checked by the real `netplan generate --root-dir` (test/real/check-netplan.sh). */
const checker = join(ROOT, 'test', 'real', 'check-netplan.sh');
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-net-'));
const VALID = join(ROOT, 'test', 'fixtures', 'valid');

test('a profile with host addressing gets a netplan file that the real netplan accepts', () => {
  const out = join(scratch, 'net-static');
  const r = gen(['--profiles-dir', VALID, '--profile', 'net-static', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const file = join(out, 'network', '60-born-tuned.yaml');
  const data = parse(readFileSync(file, 'utf8')) as { network: { ethernets: Record<string, { match: object; addresses?: string[] }> } };
  assert.equal(data.network.ethernets.lan!.match, { macaddress: '52:54:00:12:34:56' });
  assert.equal(data.network.ethernets.lan!.addresses, ['192.0.2.10/24', '2001:db8::10/64']);
  const check = run('bash', [checker, file]);
  assert.is(check.status, 0, check.stdout + check.stderr);
});

/** The files netplan generates for `file` (systemd-networkd's .netdev/.network/.link), by name. */
function networkdFiles(file: string): Record<string, string> {
  const keep = mkdtempSync(join(scratch, 'keep-'));
  const check = run('bash', [checker, '--keep', keep, file]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  const dir = join(keep, 'run', 'systemd', 'network');
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** `section` of a networkd file as `Key=value` lines, to assert on whole settings. */
function section(text: string | undefined, name: string): string[] {
  assert.ok(text !== undefined, `no such file`);
  const m = new RegExp(`^\\[${name}\\]\n([^[]*)`, 'm').exec(text);
  assert.ok(m, `no [${name}] in:\n${text}`);
  return m[1]!.split('\n').filter((l) => l !== '');
}

test('a bonded uplink with jumbo frames and VLANs: netplan accepts it and writes the bond, its members and VLANs for networkd', () => {
  const out = join(scratch, 'net-bonded');
  const r = gen(['--profiles-dir', VALID, '--profile', 'net-bonded', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const files = networkdFiles(join(out, 'network', '60-born-tuned.yaml'));
  assert.equal(section(files['10-netplan-bond0.netdev'], 'NetDev'), ['Name=bond0', 'MTUBytes=9000', 'Kind=bond']);
  assert.equal(section(files['10-netplan-bond0.netdev'], 'Bond'), [
    'Mode=802.3ad',
    'LACPTransmitRate=fast',
    'MIIMonitorSec=100ms',
    'TransmitHashPolicy=layer3+4',
  ]);
  // The member (a glob: both ports of the card) is enslaved and carries the bond's MTU.
  assert.equal(section(files['10-netplan-uplink.network'], 'Match'), ['Name=enp5s0f*']);
  assert.equal(section(files['10-netplan-uplink.network'], 'Link'), ['MTUBytes=9000']);
  assert.ok(section(files['10-netplan-uplink.network'], 'Network').includes('Bond=bond0'));
  assert.ok(section(files['10-netplan-bond0.network'], 'Network').includes('VLAN=bond0.100'));
  assert.ok(section(files['10-netplan-bond0.network'], 'Network').includes('Address=192.0.2.10/24'));
  // A VLAN without an MTU of its own takes the bond's from the kernel: netplan writes none.
  assert.equal(section(files['10-netplan-bond0.100.netdev'], 'NetDev'), ['Name=bond0.100', 'Kind=vlan']);
  assert.equal(section(files['10-netplan-bond0.100.netdev'], 'VLAN'), ['Id=100']);
  assert.equal(section(files['10-netplan-storage.netdev'], 'NetDev'), ['Name=storage', 'MTUBytes=1500', 'Kind=vlan']);
  // The bridge follows the smallest MTU of the addressed interfaces (bond0, bond0.100, mgmt: 9000;
  // the VLAN storage has no address).
  const preseed = parse(readFileSync(join(out, 'preseed', 'incus.yaml'), 'utf8')) as { networks: { config: Record<string, string> }[] };
  assert.is(preseed.networks[0]!.config['bridge.mtu'], '9000');
  const explain = gen(['--profiles-dir', VALID, '--profile', 'net-bonded', 'explain', '--format', 'json']);
  assert.is(explain.status, 0, explain.stderr);
  const rows = new Map((JSON.parse(explain.stdout) as { settings: { id: string; value: string }[] }).settings.map((s) => [s.id, s.value]));
  assert.is(rows.get('bond bond0'), '802.3ad of uplink, mii-monitor-interval 100, lacp-rate fast, transmit-hash-policy layer3+4');
  assert.is(rows.get('vlan bond0.100'), 'id 100 on bond0');
  assert.is(rows.get('mtu bond bond0'), '9000');
  assert.is(rows.get('mtu vlan bond0.100'), '9000');
  assert.is(rows.get('bridge.mtu'), '9000');
});

test('an active-backup bond of NICs matched by MAC: members enslaved, the primary marked, link monitoring on by default', () => {
  const dir = mkdtempSync(join(scratch, 'p-'));
  writeFileSync(
    join(dir, 'ab.yaml'),
    [
      'extends: lxd-small',
      'nics:',
      '  port1: {match: {mac: "52:54:00:00:0b:01"}}',
      '  port2: {match: {mac: "52:54:00:00:0b:02"}}',
      'bonds:',
      '  bond0: {interfaces: [port1, port2], mode: active-backup, parameters: {primary: port1}, dhcp4: true}',
      '',
    ].join('\n'),
  );
  const out = join(scratch, 'ab');
  const r = gen(['--profiles-dir', dir, '--profile', 'ab', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const files = networkdFiles(join(out, 'network', '60-born-tuned.yaml'));
  assert.equal(section(files['10-netplan-bond0.netdev'], 'Bond'), ['Mode=active-backup', 'MIIMonitorSec=100ms']);
  // netplan matches a member by its permanent MAC, which enslaving does not change.
  assert.equal(section(files['10-netplan-port1.network'], 'Match'), ['PermanentMACAddress=52:54:00:00:0b:01']);
  assert.equal(section(files['10-netplan-port1.network'], 'Network'), ['LinkLocalAddressing=no', 'Bond=bond0', 'PrimarySlave=true']);
  assert.equal(section(files['10-netplan-port2.network'], 'Network'), ['LinkLocalAddressing=no', 'Bond=bond0']);
  // No MTU anywhere: the bridge keeps the manager's default, and the preseed says nothing.
  assert.not.ok(Object.values(files).some((t) => t.includes('MTUBytes')));
  assert.not.match(readFileSync(join(out, 'preseed', 'lxd.yaml'), 'utf8'), /bridge\.mtu/);
});

test('verify knows a bond member by its permanent MAC, and checks the bond: mode, link monitoring, members enslaved with link up, MTU', () => {
  const dir = mkdtempSync(join(scratch, 'p-'));
  writeFileSync(
    join(dir, 'ab.yaml'),
    [
      'extends: lxd-small',
      'nics:',
      '  port1: {match: {mac: "52:54:00:00:0b:01"}, txqueuelen: 5000}',
      '  port2: {match: {mac: "52:54:00:00:0b:02"}, txqueuelen: 5000}',
      'bonds:',
      '  bond0: {interfaces: [port1, port2], mode: active-backup, mtu: 9000, parameters: {primary: port1}, dhcp4: true}',
      '',
    ].join('\n'),
  );
  // An active-backup bond as the kernel shows it: every device has the first member's MAC.
  const host = (port2Link: string) => {
    const root = mkdtempSync(join(scratch, 'root-'));
    const put = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), `${text}\n`);
    };
    for (const [dev, perm, link] of [
      ['enp1s0', '52:54:00:00:0b:01', 'up'],
      ['enp2s0', '52:54:00:00:0b:02', port2Link],
      ['bond0', undefined, undefined],
    ] as const) {
      put(`sys/class/net/${dev}/address`, '52:54:00:00:0b:01');
      put(`sys/class/net/${dev}/tx_queue_len`, '5000');
      put(`sys/class/net/${dev}/mtu`, '9000');
      if (perm) {
        put(`sys/class/net/${dev}/bonding_slave/perm_hwaddr`, perm);
        put(`sys/class/net/${dev}/bonding_slave/mii_status`, link!);
      }
    }
    put('sys/class/net/bond0/bonding/mode', 'active-backup 1');
    put('sys/class/net/bond0/bonding/miimon', '100');
    put('sys/class/net/bond0/bonding/slaves', 'enp1s0 enp2s0');
    put('sys/class/net/bond0/bonding/primary', 'enp1s0');
    const r = gen(['verify', '--profiles-dir', dir, '--profile', 'ab', '--root', root, '--format', 'json']);
    return (JSON.parse(r.stdout) as { rows: { check: string; status: string; actual: string }[] }).rows
      .filter((x) => /^(txqueuelen|bond|mtu)/.test(x.check))
      .map((x) => `${x.check} ${x.status} ${x.actual}`);
  };
  assert.equal(host('up'), [
    'txqueuelen nic port1 (enp1s0) PASS 5000',
    'txqueuelen nic port2 (enp2s0) PASS 5000',
    'txqueuelen bond bond0 (bond0) PASS 5000',
    'bond bond0 mode PASS active-backup',
    'bond bond0 mii-monitor-interval PASS 100',
    'bond bond0 member port1 PASS enp1s0 up',
    'bond bond0 member port2 PASS enp2s0 up',
    'bond bond0 primary PASS enp1s0',
    'mtu nic port1 (enp1s0) PASS 9000',
    'mtu nic port2 (enp2s0) PASS 9000',
    'mtu bond bond0 (bond0) PASS 9000',
  ]);
  // Negative control: a member whose link is down fails its row.
  assert.ok(host('down').includes('bond bond0 member port2 FAIL enp2s0 down'));
});

test('shipped profiles leave host addressing to the platform: no netplan file', () => {
  const out = join(scratch, 'dense');
  const r = gen(['--profile', 'incus-dense', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const manifest = readManifest(out);
  assert.not.ok(manifest.some((f) => f.kind === 'netplan'));
});

test('the real netplan check can fail: an unknown key is rejected', () => {
  const file = join(scratch, 'bad.yaml');
  writeFileSync(file, 'network:\n  version: 2\n  ethernets:\n    x:\n      dhcp44: true\n');
  const check = run('bash', [checker, file]);
  assert.is(check.status, 1, check.stdout + check.stderr);
});

test('static addresses on a NIC matched by a glob are a profile error', () => {
  const dir = mkdtempSync(join(scratch, 'p-'));
  writeFileSync(join(dir, 'glob.yaml'), 'extends: incus-dense\nnics:\n  uplink:\n    addresses: [192.0.2.10/24]\n');
  const r = gen(['--profiles-dir', dir, '--profile', 'glob']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /glob\.yaml:4:16: error INVALID_VALUE: NIC "uplink" matches the glob "en\*"/);
});

test.run();
