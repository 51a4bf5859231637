import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { preseedProblems } from '../src/check/preseed-keys.ts';
import { renderHost, resolveStack } from '../src/pipeline.ts';
import { KNOWN_VERSIONS } from '../src/facts/managers.ts';
import { BIN_GEN, gen, profileArgs, readManifest, ROOT, run, stackName, STACKS } from './helpers.ts';

/**
 * Preseeds applied by the real daemons the tests can run here: LXD 5.0.2 (Debian 12) and Incus
 * 6.0.4 (bookworm-backports), each throw-away, in its own namespaces (test/real/preseed-apply.sh).
 * Versions that cannot run here are covered by the structural key check (src/check/preseed-keys.ts).
 */
const apply = join(ROOT, 'test', 'real', 'preseed-apply.sh');
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-preseed-'));

interface State {
  server_version: string;
  storage_pools: { name: string; driver: string }[];
  networks: { name: string; config: Record<string, string> }[];
  profiles: { name: string; config: Record<string, string>; devices: Record<string, Record<string, string>> }[];
}

for (const stack of STACKS) {
  test(`the real daemon applies the preseed of ${stackName(stack)}`, () => {
    const r = gen([...profileArgs(stack), '--artifact', 'preseed']);
    assert.is(r.status, 0, r.stderr);
    const manager = stack[0] === 'lxd-small' ? 'lxd' : 'incus';
    const file = join(scratch, `${stackName(stack)}.yaml`);
    // A pool on a device (incus-dense: btrfs on a disk the operator names) cannot be made here: it
    // is applied as a dir pool, the rest as rendered. The VM boot (test/e2e, pool-disk) creates the
    // btrfs and LVM thin pools on a real disk; their keys are checked structurally below too.
    const rendered = parse(r.stdout) as { storage_pools: { name: string; driver: string; config?: unknown }[] };
    const onDevice = rendered.storage_pools.some((p) => p.driver !== 'dir');
    if (onDevice) assert.equal(preseedProblems(rendered, manager, manager === 'lxd' ? '5.0' : '6.0'), []);
    rendered.storage_pools = rendered.storage_pools.map((p) => ({ name: p.name, driver: 'dir' }));
    writeFileSync(file, onDevice ? stringify(rendered) : r.stdout);
    const res = run('bash', [apply, manager, file]);
    assert.is(res.status, 0, `preseed-apply.sh ${manager} failed:\n${res.stderr}`);
    const state = JSON.parse(res.stdout) as State;
    const wanted = parse(r.stdout) as {
      networks: { name: string; config: Record<string, string> }[];
      profiles: { devices: Record<string, Record<string, string>>; config?: Record<string, string> }[];
    };
    assert.ok(
      state.storage_pools.some((p) => p.name === 'default' && p.driver === 'dir'),
      'storage pool default (dir)',
    );
    const bridge = state.networks.find((n) => n.name === wanted.networks[0]!.name);
    assert.ok(bridge, 'bridge created');
    for (const [k, v] of Object.entries(wanted.networks[0]!.config)) assert.is(bridge!.config[k], v, `bridge ${k}`);
    const profile = state.profiles.find((p) => p.name === 'default')!;
    assert.equal(profile.devices.eth0, wanted.profiles[0]!.devices.eth0, 'default profile NIC');
    assert.equal(profile.devices.root, wanted.profiles[0]!.devices.root, 'default profile root disk');
    assert.is(profile.config['security.idmap.isolated'], 'true');
    if (stack.includes('10gbe') && manager === 'incus') assert.is(profile.devices.eth0!['queue.tx.length'], '10000');
  });
}

test('the real daemons reject what they must: queue.tx.length on LXD 5.0.2, trust password on Incus', () => {
  const lxd = join(scratch, 'lxd-txq.yaml');
  writeFileSync(
    lxd,
    'profiles:\n  - name: default\n    devices:\n      eth0: {name: eth0, nictype: bridged, parent: lxdbr0, type: nic, queue.tx.length: "10000"}\n',
  );
  assert.is(run('bash', [apply, 'lxd', lxd]).status, 1);
  const incus = join(scratch, 'incus-trust.yaml');
  writeFileSync(incus, 'config:\n  core.trust_password: x\n');
  assert.is(run('bash', [apply, 'incus', incus]).status, 1);
});

test('structural check: every known version gets only keys it accepts', () => {
  const dir = mkdtempSync(join(scratch, 'versions-'));
  for (const [name, versions] of Object.entries(KNOWN_VERSIONS)) {
    for (const version of versions) {
      const install = name === 'lxd' ? 'snap' : 'present';
      writeFileSync(
        join(dir, 'v.yaml'),
        `extends: [${name === 'lxd' ? 'lxd-small' : 'incus-dense'}, 10gbe]\nmanager: {install: ${install}, version: "${version}"}\n`,
      );
      const generated = renderHost({ stack: resolveStack({ profiles: ['v'], profilesDir: dir }), packer: true, secrets: 'resolve' });
      const preseed = parse(generated.artifacts.find((a) => a.kind === 'preseed')!.text) as Record<string, unknown>;
      assert.equal(preseedProblems(preseed, name as 'lxd' | 'incus', version), [], `${name} ${version}`);
      const eth0 = (preseed.profiles as { devices: { eth0: Record<string, string> } }[])[0]!.devices.eth0;
      assert.is('queue.tx.length' in eth0, name === 'incus' || version !== '5.0', `${name} ${version} queue.tx.length`);
    }
  }
});

test('structural check catches keys a version lacks', () => {
  const preseed = {
    config: { 'core.trust_password': 'x' },
    storage_volumes: [],
    profiles: [{ name: 'default', devices: { eth0: { type: 'nic', 'queue.tx.length': '1' } } }],
  };
  assert.equal(preseedProblems(preseed, 'lxd', '5.0').length, 2);
  assert.equal(preseedProblems(preseed, 'incus', '6.0').length, 1);
  assert.equal(preseedProblems(preseed, 'lxd', '6.1').length, 1);
});

test('a trust password comes by reference, only into the preseed and the user-data that carries it', () => {
  const dir = mkdtempSync(join(scratch, 'secret-'));
  writeFileSync(join(dir, 's.yaml'), 'extends: lxd-small\nserver:\n  https_address: "[::]:8443"\n  trust_password: {env: BT_TEST_TRUST}\n');
  const canary = 'canary-7f3e-secret';
  const out = join(dir, 'out');
  const r = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 's', '--out', out], { env: { ...process.env, BT_TEST_TRUST: canary } });
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout + r.stderr, canary);
  const manifest = readManifest(out);
  for (const f of manifest) {
    const has = readFileSync(join(out, f.path), 'utf8').includes(canary);
    assert.is(has, ['preseed/lxd.yaml', 'user-data', 'packer/user-data'].includes(f.path), `secret in ${f.path}`);
    if (has) assert.is(f.mode, '0600', `${f.path} holds a secret`);
  }
  const missing = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 's'], { env: { ...process.env, BT_TEST_TRUST: '' } });
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /BT_TEST_TRUST, which is not set/);
});

test.run();
