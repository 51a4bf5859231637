import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
