import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../src/pipeline.ts';
import type { ManagerQuery } from '../src/verify/manager-query.ts';
import { verifyHost, type VerifyRow } from '../src/verify/verify.ts';
import { gen, ROOT } from './helpers.ts';
import { goodHost as buildGoodHost } from './host-tree.ts';

/** explain, diff, verify, list and schema. */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-cmd-'));

test('list: the shipped profiles with descriptions, 10gbe marked as an overlay', () => {
  const r = gen(['list', '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  const { profiles } = JSON.parse(r.stdout) as { profiles: { name: string; kind: string; description: string }[] };
  assert.equal(
    profiles.map((p) => [p.name, p.kind]),
    [
      ['10gbe', 'overlay'],
      ['incus-dense', 'host'],
      ['lxd-small', 'host'],
    ],
  );
  assert.ok(profiles.every((p) => p.description.length > 10));
  assert.match(gen(['list']).stdout, /^10gbe\s+overlay\s+-\s+Network bandwidth/m);
});

test('schema: gen schema is the committed schema/profile.schema.json (drift check)', () => {
  const r = gen(['schema']);
  assert.is(r.status, 0);
  assert.is(
    r.stdout,
    readFileSync(join(ROOT, 'schema', 'profile.schema.json'), 'utf8'),
    'run: node dist/gen.js schema > schema/profile.schema.json',
  );
  assert.is(gen(['schema', 'profile']).stdout, r.stdout, 'profile is the default');
  const schema = JSON.parse(r.stdout) as { $id: string; properties: Record<string, unknown>; additionalProperties: boolean };
  assert.is(schema.$id, 'urn:born-tuned:schema:profile');
  assert.ok('extends' in schema.properties && 'sysctl' in schema.properties);
  assert.is(schema.additionalProperties, false);
});

test('schema: gen schema inventory is the committed schema/inventory.schema.json (drift check)', () => {
  const r = gen(['schema', 'inventory']);
  assert.is(r.status, 0);
  assert.is(
    r.stdout,
    readFileSync(join(ROOT, 'schema', 'inventory.schema.json'), 'utf8'),
    'run: node dist/gen.js schema inventory > schema/inventory.schema.json',
  );
  const schema = JSON.parse(r.stdout) as { $id: string; required: string[]; additionalProperties: boolean };
  assert.is(schema.$id, 'urn:born-tuned:schema:inventory');
  assert.equal(schema.required, ['hosts']);
  assert.is(schema.additionalProperties, false);
});

test('schema: a document gen has no schema for is a usage error', () => {
  const r = gen(['schema', 'inventroy']);
  assert.is(r.status, 2);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /Allowed choices are profile, inventory/);
});

test('shipped profiles start with the yaml-language-server $schema modeline', () => {
  for (const p of ['lxd-small', 'incus-dense', '10gbe']) {
    const first = readFileSync(join(ROOT, 'profiles', `${p}.yaml`), 'utf8').split('\n')[0];
    assert.is(first, '# yaml-language-server: $schema=../schema/profile.schema.json');
  }
});

test('explain KEY: value, file:line, kernel default, why, the error it prevents, source', () => {
  const r = gen(['explain', '--profile', 'incus-dense', '--profile', '10gbe', 'fs.inotify.max_user_watches', '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  const { settings } = JSON.parse(r.stdout) as { settings: Record<string, any>[] };
  assert.is(settings.length, 1);
  const s = settings[0]!;
  assert.is(s.value, '20480000');
  assert.equal(s.origin, { derived: "8192 per instance (the kernel's per-user default) for capacity.instances 2500, at least 1048576" });
  const set = gen(['explain', '-p', 'incus-dense', 'vm.max_map_count', '--format', 'json']);
  assert.equal(JSON.parse(set.stdout).settings[0].origin, {
    file: 'profiles/incus-dense.yaml',
    line: 41,
    profile: 'incus-dense',
    inherited: false,
  });
  assert.is(s.kernelDefault, '8192 to 1048576 by memory');
  assert.match(s.prevents, /inotify resources exhausted/);
  assert.match(s.source, /001/);
  const text = gen(['explain', '-p', 'incus-dense', 'kernel.keys.maxkeys']).stdout;
  assert.match(text, /from: +derived: greater than capacity\.instances 2500/);
});

test('explain names the profile a value was inherited from through extends, and never a secret', () => {
  const dir = mkdtempSync(join(scratch, 'inh-'));
  writeFileSync(join(dir, 'child.yaml'), 'extends: lxd-small\nserver:\n  trust_password: {env: BT_EXPLAIN_SECRET}\n');
  const r = gen(['explain', '--profiles-dir', dir, '-p', 'child', '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  const { settings } = JSON.parse(r.stdout) as { settings: { id: string; value: string; origin: Record<string, unknown> }[] };
  assert.equal(settings.find((s) => s.id === 'sysctl vm.max_map_count')!.origin, {
    file: 'profiles/lxd-small.yaml',
    line: 45,
    profile: 'lxd-small',
    inherited: true,
  });
  assert.is(settings.find((s) => s.id === 'server.trust_password')!.value, 'from $BT_EXPLAIN_SECRET (not shown)');
});

test('diff: exit 0 when equal, 1 with the differing settings and artifacts, 2 for an invalid side', () => {
  const same = gen(['diff', 'lxd-small', 'lxd-small']);
  assert.is(same.status, 0, same.stderr);
  const d = gen(['diff', 'incus-dense', 'incus-dense+10gbe', '--format', 'json']);
  assert.is(d.status, 1, d.stderr);
  const out = JSON.parse(d.stdout) as {
    settings: { id: string; a: string | null; b: string | null }[];
    artifacts: { path: string; change: string }[];
  };
  assert.equal(
    out.settings.find((s) => s.id === 'sysctl net.core.netdev_max_backlog'),
    { id: 'sysctl net.core.netdev_max_backlog', a: null, b: 'word 1 of net.ipv4.tcp_mem on the host' },
  );
  assert.ok(out.artifacts.some((a) => a.path === 'network/81-born-tuned-txqueuelen.rules' && a.change === 'only in b'));
  assert.ok(out.artifacts.some((a) => a.path === 'preseed/incus.yaml' && a.change === 'changed'));
  assert.is(gen(['diff', 'lxd-small', '10gbe']).status, 2);
  assert.is(gen(['diff', 'lxd-small', 'nope']).status, 2);
});

function goodHost(profiles: string[]): string {
  return buildGoodHost(scratch, profiles);
}

function statusOf(rows: VerifyRow[], check: string): string | undefined {
  return rows.find((r) => r.check === check)?.status;
}

test('verify --root: a host with everything passes (sched_debug absent is reported, not failed)', () => {
  const root = goodHost(['incus-dense', '10gbe']);
  const r = gen(['verify', '-p', 'incus-dense', '-p', '10gbe', '--root', root, '--format', 'json']);
  assert.is(r.status, 0, r.stdout);
  const out = JSON.parse(r.stdout) as { rows: VerifyRow[]; summary: { fail: number } };
  assert.is(out.summary.fail, 0);
  assert.is(statusOf(out.rows, 'mode /proc/sched_debug'), 'ABSENT');
  assert.is(out.rows.find((x) => x.check === 'sysctl vm.max_map_count')!.note, 'higher than wanted: kept (raise)');
  assert.is(statusOf(out.rows, 'txqueuelen nic uplink (enp5s0)'), 'PASS');
  const text = gen(['verify', '-p', 'incus-dense', '-p', '10gbe', '--root', root]).stdout;
  assert.match(text, /^\d+ passed, 0 failed, \d+ absent$/m);
});

const breakers: [string, string, (root: string) => void][] = [
  [
    'sysctl below wanted',
    'sysctl fs.inotify.max_user_watches',
    (r) => writeFileSync(join(r, 'proc/sys/fs/inotify/max_user_watches'), '8192\n'),
  ],
  [
    "backlog below the host's tcp_mem minimum",
    'sysctl net.core.netdev_max_backlog',
    (r) => writeFileSync(join(r, 'proc/sys/net/core/netdev_max_backlog'), '1000\n'),
  ],
  ['exact choice differs', 'sysctl kernel.dmesg_restrict', (r) => writeFileSync(join(r, 'proc/sys/kernel/dmesg_restrict'), '0\n')],
  [
    'daemon limit too low',
    'daemon limit nofile',
    (r) =>
      writeFileSync(
        join(r, 'proc/4242/limits'),
        'Max open files            1024                 524288               files\nMax locked memory         unlimited            unlimited            bytes\n',
      ),
  ],
  ['NIC txqueuelen', 'txqueuelen nic uplink (enp5s0)', (r) => writeFileSync(join(r, 'sys/class/net/enp5s0/tx_queue_len'), '1000\n')],
  [
    'bridge txqueuelen',
    'txqueuelen bridge incusbr0 (incusbr0)',
    (r) => writeFileSync(join(r, 'sys/class/net/incusbr0/tx_queue_len'), '1000\n'),
  ],
  ['slab mode', 'mode /sys/kernel/slab', (r) => chmodSync(join(r, 'sys/kernel/slab'), 0o755)],
  ['sched_debug mode', 'mode /proc/sched_debug', (r) => writeFileSync(join(r, 'proc/sched_debug'), 'x', { mode: 0o444 })],
  [
    'wanted file edited',
    'file /etc/born-tuned/sysctl.wanted',
    (r) => writeFileSync(join(r, 'etc/born-tuned/sysctl.wanted'), 'raise vm.max_map_count = 1\n'),
  ],
  [
    'computed sysctl.d file lower than wanted',
    'file /etc/sysctl.d/60-born-tuned.conf',
    (r) =>
      writeFileSync(
        join(r, 'etc/sysctl.d/60-born-tuned.conf'),
        readFileSync(join(r, 'etc/sysctl.d/60-born-tuned.conf'), 'utf8').replace('vm.max_map_count = 1048576', 'vm.max_map_count = 65530'),
      ),
  ],
  [
    'computed sysctl.d file emptied',
    'file /etc/sysctl.d/60-born-tuned.conf',
    (r) => writeFileSync(join(r, 'etc/sysctl.d/60-born-tuned.conf'), ''),
  ],
  [
    'file mode',
    'file /etc/security/limits.d/60-born-tuned.conf',
    (r) => chmodSync(join(r, 'etc/security/limits.d/60-born-tuned.conf'), 0o600),
  ],
];

for (const [name, check, breakIt] of breakers) {
  test(`verify --root fails one row when the host breaks it: ${name}`, () => {
    const root = goodHost(['incus-dense', '10gbe']);
    breakIt(root);
    const r = gen(['verify', '-p', 'incus-dense', '-p', '10gbe', '--root', root, '--format', 'json']);
    assert.is(r.status, 1);
    const out = JSON.parse(r.stdout) as { rows: VerifyRow[] };
    assert.equal(
      out.rows.filter((x) => x.status === 'FAIL').map((x) => x.check),
      [check],
    );
  });
}

test('verify reports ABSENT for a kernel without a sysctl, a stopped daemon and a NIC that is not there', async () => {
  const rows = await verifyHost(generate({ profiles: ['lxd-small', '10gbe'] }, { packer: true, secrets: 'resolve' }), {
    root: join(scratch, 'nowhere'),
  });
  assert.is(statusOf(rows, 'sysctl vm.max_map_count'), 'ABSENT');
  assert.is(statusOf(rows, 'daemon limit nofile'), 'ABSENT');
  assert.is(statusOf(rows, 'txqueuelen nic uplink'), 'ABSENT');
  assert.is(statusOf(rows, 'lxd storage pool default'), 'ABSENT');
});

/** A fake manager API: the object at a path, or the client's refusal when there is none. */
function fakeApi(api: Record<string, unknown>, asked: string[] = []): ManagerQuery {
  return async (p) => (asked.push(p), p in api ? { kind: 'answer', value: api[p] } : { kind: 'refused', status: 1 });
}

test('verify asks the live manager: pool, bridge, default profile (queue.tx.length, isolated id maps)', async () => {
  const generated = generate({ profiles: ['incus-dense', '10gbe'] }, { packer: true, secrets: 'resolve' });
  const root = goodHost(['incus-dense', '10gbe']);
  const api: Record<string, unknown> = {
    '/1.0': { api_version: '1.0' },
    '/1.0/storage-pools/default': { driver: 'btrfs' },
    '/1.0/networks/incusbr0': { config: { 'ipv4.address': '10.64.0.1/20', 'ipv6.address': 'none' } },
    '/1.0/profiles/default': {
      config: { 'security.idmap.isolated': 'true' },
      devices: { eth0: { network: 'incusbr0', 'queue.tx.length': '10000' }, root: { pool: 'default' } },
    },
  };
  const asked: string[] = [];
  const good = await verifyHost(generated, { root, query: fakeApi(api, asked) });
  assert.equal(
    good.filter((x) => x.status !== 'PASS' && x.status !== 'ABSENT'),
    [],
  );
  // Every answer is a client subprocess on a real host: each path is asked once.
  assert.equal(asked, [...new Set(asked)]);
  assert.equal([...asked].sort(), Object.keys(api).sort());
  assert.is(statusOf(good, 'incus default profile eth0 queue.tx.length'), 'PASS');
  api['/1.0/profiles/default'] = { config: {}, devices: { eth0: { network: 'incusbr0' }, root: { pool: 'default' } } };
  const bad = await verifyHost(generated, { root, query: fakeApi(api) });
  assert.equal(
    bad.filter((x) => x.status === 'FAIL').map((x) => x.check),
    ['incus default profile eth0 queue.tx.length', 'incus default profile security.idmap.isolated'],
  );
  // A manager that answers must have its daemon running and its bridge created.
  const bare = mkdtempSync(join(scratch, 'bare-'));
  const noDaemon = await verifyHost(generated, { root: bare, query: fakeApi(api) });
  assert.is(statusOf(noDaemon, 'daemon limit nofile'), 'FAIL');
  assert.is(statusOf(noDaemon, 'txqueuelen bridge incusbr0'), 'FAIL');
  assert.is(statusOf(noDaemon, 'txqueuelen nic uplink'), 'ABSENT');
  const down = await verifyHost(generated, { root, query: fakeApi({}) });
  assert.ok(
    down
      .filter((x) => x.check.startsWith('incus '))
      .every((x) => x.status === 'FAIL' && x.note === 'the incus daemon does not answer (incus query /1.0 exited with status 1)'),
  );
});

test.run();
