import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, profileArgs, ROOT, run, stackName } from './helpers.ts';

/** The txqueuelen udev rule checked by the real udev 252 (test/real/check-udev-rules.sh): it must
 * parse without a diagnostic and really set tx_queue_len on matching devices in a throw-away netns. */
const checker = join(ROOT, 'test', 'real', 'check-udev-rules.sh');
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-udev-'));

const cases: [string[], string[]][] = [
  [
    ['incus-dense', '10gbe'],
    ['enp5s0=10000', 'incusbr0=10000', 'eth7>enp7s0=10000', 'wlan0=1000', 'lxdbr0=1000'],
  ],
  [
    ['lxd-small', '10gbe'],
    ['eno1=10000', 'lxdbr0=10000', 'eth3>ens3=10000', 'incusbr0=1000'],
  ],
];

for (const [stack, expect] of cases) {
  test(`real udev applies the txqueuelen rule of ${stackName(stack)}`, () => {
    const r = gen([...profileArgs(stack), '--artifact', 'udev-txqueuelen']);
    assert.is(r.status, 0, r.stderr);
    const file = join(dir, `${stackName(stack)}.rules`);
    writeFileSync(file, r.stdout);
    const check = run('bash', [checker, file, ...expect], { env: { ...process.env, RULES_NAME: '81-born-tuned-txqueuelen.rules' } });
    assert.is(check.status, 0, `check-udev-rules.sh exit ${check.status}:\n${check.stdout}${check.stderr}`);
    for (const e of expect) assert.match(check.stdout, new RegExp(`^ok ${e.split('=')[0]!.replace(/[>.]/g, '.')}`, 'm'));
  });
}

test('real udev applies the txqueuelen rules of a bonded uplink: the members, the bond and its VLANs', () => {
  // test/fixtures/valid/net-bonded.yaml: 10gbe's uplink (the bond's member glob), bond0 and
  // bond0.100 taking its 10000, the VLAN storage its own 2000; devices are dummies by those names.
  const r = gen(['--profiles-dir', join(ROOT, 'test', 'fixtures', 'valid'), '--profile', 'net-bonded', '--artifact', 'udev-txqueuelen']);
  assert.is(r.status, 0, r.stderr);
  const file = join(dir, 'net-bonded.rules');
  writeFileSync(file, r.stdout);
  const expect = ['enp5s0f0=10000', 'enp5s0f1=10000', 'bond0=10000', 'bond0.100=10000', 'storage=2000', 'incusbr0=10000', 'eno1=1000'];
  const check = run('bash', [checker, file, ...expect], { env: { ...process.env, RULES_NAME: '81-born-tuned-txqueuelen.rules' } });
  assert.is(check.status, 0, `check-udev-rules.sh exit ${check.status}:\n${check.stdout}${check.stderr}`);
  for (const e of expect) assert.match(check.stdout, new RegExp(`^ok ${e.split('=')[0]!.replace(/\./g, '\\.')} `, 'm'));
});

test('the real udev check can fail: a rule with a typo is reported', () => {
  const file = join(dir, 'broken.rules');
  writeFileSync(file, 'ACTION=="add", SUBSYSTEM=="net", KERNEL=="en*", ATRR{tx_queue_len}="10000"\n');
  const check = run('bash', [checker, file, 'enp5s0=10000']);
  assert.is(check.status, 1, check.stdout + check.stderr);
});

test.run();
