import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProfileError, UsageError } from '../src/diagnostics/errors.ts';
import { derivedGcThresh3, derivedMaxKeys } from '../src/facts/capacity.ts';
import { renderHost, resolveStack } from '../src/pipeline.ts';
import { mergeLayers } from '../src/resolve/merge.ts';
import type { Source } from '../src/source/load.ts';

const HOST = `manager: {name: incus, install: deb}
target: {distro: debian, release: "12"}
capacity: {instances: 10}
dmesg_restrict: true
bridge: {ipv4: 10.1.0.1/24}
`;

/** Writes profiles into a fresh directory and returns it. */
function profiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'born-tuned-unit-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.yaml`), text);
  return dir;
}

function setting(stack: ReturnType<typeof resolveStack>, key: string) {
  return stack.plan.sysctl.find((s) => s.key === key);
}

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProfileError) return e.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code);
    throw e;
  }
  return [];
}

test('merge: maps merge key by key, scalars override, lists replace', () => {
  const src = {} as Source;
  const m = mergeLayers([
    { source: src, value: { a: { x: 1, y: 2 }, l: [1, 2, 3], s: 'one' } },
    { source: src, value: { a: { y: 3, z: 4 }, l: [9], s: 'two' } },
  ]);
  // The merged data is prototype-free (a key such as "constructor" finds only what a file set).
  assert.equal(JSON.parse(JSON.stringify(m.value)), { a: { x: 1, y: 3, z: 4 }, l: [9], s: 'two' });
  assert.is(Object.getPrototypeOf(m.value), null);
  assert.is(Object.getPrototypeOf(m.value.a), null);
});

test('extends: parents first, a shared parent merged once, later profiles win', () => {
  const dir = profiles({
    base: `${HOST}sysctl: {vm.max_map_count: 262144, fs.aio-max-nr: 100000}\n`,
    a: 'extends: base\nsysctl: {fs.aio-max-nr: 200000}\n',
    b: 'extends: [base]\noverlay: true\nsysctl: {vm.max_map_count: 300000}\n',
  });
  const stack = resolveStack({ profiles: ['a', 'b'], profilesDir: dir });
  assert.equal(stack.plan.layers, ['base', 'a', 'b']);
  assert.is(setting(stack, 'fs.aio-max-nr')!.value, '200000', 'base must not override a when b re-extends it');
  assert.is(setting(stack, 'vm.max_map_count')!.value, '300000');
});

test('10gbe stacked on incus-dense adds txqueuelen on NICs, bridge, instances and the backlog sysctls', () => {
  const stack = resolveStack({ profiles: ['incus-dense', '10gbe'] });
  assert.equal(
    stack.plan.txqueuelen.map((r) => [r.kind, r.txqueuelen]),
    [
      ['nic', 10000],
      ['bridge', 10000],
    ],
  );
  assert.is(stack.plan.instances.nicTxqueuelen, 10000);
  // The guides' rule, read on the host at first boot: the backlog is tcp_mem's minimum there.
  const backlog = setting(stack, 'net.core.netdev_max_backlog')!;
  assert.equal(backlog.fromHost, { key: 'net.ipv4.tcp_mem', word: 1 });
  assert.is(backlog.mode, 'raise');
  assert.is(backlog.value, 'word 1 of net.ipv4.tcp_mem on the host');
  assert.is(setting(stack, 'net.ipv4.tcp_mem'), undefined, "tcp_mem is left as the host's kernel sized it");
  const plain = resolveStack({ profiles: ['incus-dense'] });
  assert.is(plain.plan.txqueuelen.length, 0);
  assert.is(setting(plain, 'net.core.netdev_max_backlog'), undefined);
});

test('capacity derives maxkeys and gc_thresh3 when the profile leaves them out', () => {
  assert.ok(derivedMaxKeys(2500) > 2500);
  assert.ok(derivedGcThresh3(9000) > 9000);
  const dir = profiles({ host: HOST.replace('instances: 10', 'instances: 6000').replace('10.1.0.1/24', '10.1.0.1/18') });
  const stack = resolveStack({ profiles: ['host'], profilesDir: dir });
  assert.is(setting(stack, 'kernel.keys.maxkeys')!.value, String(derivedMaxKeys(6000)));
  assert.is(setting(stack, 'net.ipv4.neigh.default.gc_thresh3')!.value, '16384');
  assert.is(setting(stack, 'net.ipv6.neigh.default.gc_thresh3')!.value, '16384');
  assert.ok('derived' in setting(stack, 'kernel.keys.maxkeys')!.from);
});

test('capacity derives inotify, pty, conntrack, gc_thresh1/2 and the subordinate ids; a value the profile sets wins', () => {
  const dir = profiles({
    host: `${HOST.replace('instances: 10', 'instances: 6000').replace('10.1.0.1/24', '10.1.0.1/18')}instances: {idmap_isolated: true}\n`,
    set: `${HOST}sysctl: {net.ipv4.neigh.default.gc_thresh1: 3000, fs.inotify.max_user_watches: 4096}\n`,
  });
  const stack = resolveStack({ profiles: ['host'], profilesDir: dir });
  const value = (key: string) => setting(stack, key)!.value;
  assert.is(value('fs.inotify.max_user_instances'), '1048576');
  assert.is(value('fs.inotify.max_user_watches'), String(6000 * 8192));
  assert.is(value('kernel.pty.max'), String(1024 + 6000 * 4));
  assert.is(value('net.netfilter.nf_conntrack_max'), String(6000 * 256));
  for (const family of ['ipv4', 'ipv6']) {
    assert.is(value(`net.${family}.neigh.default.gc_thresh1`), '2048');
    assert.is(value(`net.${family}.neigh.default.gc_thresh2`), '8192');
    assert.ok('derived' in setting(stack, `net.${family}.neigh.default.gc_thresh2`)!.from);
  }
  assert.is(stack.plan.subordinateIds!.ids, 65536 * 6001);
  assert.equal(
    stack.plan.modules.map((m) => m.name),
    ['nf_conntrack'],
  );
  // A small plan keeps the kernel's and the documents' floors; a set gc_thresh1 pulls thresh2 up.
  const small = resolveStack({ profiles: ['set'], profilesDir: dir });
  assert.is(setting(small, 'kernel.pty.max')!.value, '4096');
  assert.is(setting(small, 'net.netfilter.nf_conntrack_max')!.value, '262144');
  assert.is(setting(small, 'fs.inotify.max_user_watches')!.value, '4096');
  assert.is(setting(small, 'net.ipv4.neigh.default.gc_thresh2')!.value, '4096');
  assert.is(setting(small, 'net.ipv4.neigh.default.gc_thresh1')!.value, '3000');
  assert.is(setting(small, 'net.ipv6.neigh.default.gc_thresh1')!.value, '1024');
  assert.is(small.plan.subordinateIds!.ids, 65536);
});

test('rules: bpf_jit_limit cap, nofile above nr_open, capacity conflicts, dmesg_restrict in sysctl', () => {
  const dir = profiles({
    bpf: `${HOST}sysctl: {net.core.bpf_jit_limit: 3000000000}\n`,
    nofile: `${HOST}limits: {nofile: 2000000}\n`,
    nofileok: `${HOST}limits: {nofile: 2000000}\nsysctl: {fs.nr_open: 2000000}\n`,
    keys: `${HOST}sysctl: {kernel.keys.maxkeys: 10}\n`,
    dmesg: `${HOST}sysctl: {kernel.dmesg_restrict: 1}\n`,
  });
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['bpf'], profilesDir: dir })),
    ['BPF_JIT_LIMIT_TOO_HIGH'],
  );
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['nofile'], profilesDir: dir })),
    ['NOFILE_ABOVE_NR_OPEN'],
  );
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['nofileok'], profilesDir: dir })),
    [],
  );
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['keys'], profilesDir: dir })),
    ['CAPACITY_CONFLICT'],
  );
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['dmesg'], profilesDir: dir })),
    ['USE_TOP_LEVEL_KEY'],
  );
});

test('a value below the kernel default of a raise key is a warning, not an error', () => {
  const dir = profiles({ low: `${HOST}sysctl: {fs.inotify.max_user_watches: 100}\n` });
  const stack = resolveStack({ profiles: ['low'], profilesDir: dir });
  assert.equal(
    stack.diagnostics.map((d) => [d.severity, d.code]),
    [['warning', 'VALUE_BELOW_DEFAULT']],
  );
});

test('an unknown requested profile is a usage error; an overlay alone is a profile error', () => {
  assert.throws(
    () => resolveStack({ profiles: ['nope'] }),
    (e: unknown) => e instanceof UsageError,
  );
  assert.equal(
    errorsOf(() => resolveStack({ profiles: ['10gbe'] })),
    ['OVERLAY_ALONE'],
  );
});

test('dmesg_restrict is an exact choice; catalogue keys are raised (mode raise)', () => {
  const stack = resolveStack({ profiles: ['lxd-small'] });
  assert.is(setting(stack, 'kernel.dmesg_restrict')!.mode, 'exact');
  assert.is(setting(stack, 'vm.max_map_count')!.mode, 'raise');
});

test('memlock reaches the daemon only: its drop-in has it, no login line does (issue 14, item 5)', () => {
  for (const memlock of ['unlimited', '65536']) {
    const dir = profiles({ host: `${HOST}limits: {memlock: ${memlock}}\n` });
    const files = renderHost({
      stack: resolveStack({ profiles: ['host'], profilesDir: dir }),
      packer: false,
      secrets: 'resolve',
    }).artifacts;
    const limits = files.find((a) => a.kind === 'limits')!.text;
    assert.not.match(limits, /^\S+\s+(soft|hard)\s+memlock\b/m, 'limits.conf reaches every login');
    assert.match(limits, /^\* hard nofile /m);
    const dropIn = files.find((a) => a.kind === 'service-dropin')!.text;
    assert.match(dropIn, new RegExp(`^LimitMEMLOCK=${memlock === 'unlimited' ? 'infinity' : 65536 * 1024}$`, 'm'));
  }
});

test("nofile is judged against the host's fs.nr_open, which a lower profile value cannot lower (raise-only)", () => {
  const dir = profiles({
    lower: `${HOST}limits: {nofile: 1048576}\nsysctl: {fs.nr_open: 500000}\n`,
    above: `${HOST}limits: {nofile: 2097152}\n`,
  });
  assert.ok(resolveStack({ profiles: ['lower'], profilesDir: dir }));
  try {
    resolveStack({ profiles: ['above'], profilesDir: dir });
    assert.unreachable('nofile 2097152 is above the host');
  } catch (e) {
    assert.instance(e, ProfileError);
    assert.match((e as ProfileError).diagnostics[0]!.message, /host's fs\.nr_open 1048576 at boot \(Debian 12/);
  }
});

test.run();
