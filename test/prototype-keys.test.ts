import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { genInProcess } from './helpers.ts';

/**
 * Keys that mean something to JavaScript objects, put at every level of every input kind gen
 * reads (as a key, as a name in a map of names, and as a reference to a name): none may change an
 * object's prototype, find a method of Object as a "defined" group or pool, or end in exit 3. A
 * `__proto__` key is a located error; every other key is a plain key, accepted where the format
 * allows such a name and a located error (unknown key, undefined name) where it does not.
 */
const SPECIAL_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  '__lookupSetter__',
  'propertyIsEnumerable',
  'toLocaleString',
];

/** A host profile that sets every section, so every mapping of the format exists to insert into. */
const PROFILE = {
  description: 'every section',
  manager: { name: 'lxd', install: 'present', version: '5.0' },
  target: { distro: 'debian', release: '12' },
  capacity: { instances: 50 },
  limits: { nofile: 1048576, memlock: 'unlimited' },
  sysctl: { 'fs.aio-max-nr': 524288 },
  dmesg_restrict: true,
  hide_instance_names: true,
  nics: { uplink: { match: { name: 'en*' }, txqueuelen: 10000 } },
  bridge: { name: 'lxdbr0', ipv4: '10.64.0.1/24', ipv6: 'none', nat: true },
  instances: { idmap_isolated: true, storage_pool: 'default' },
  storage_pools: { default: { driver: 'dir' } },
  server: { trust_password: { env: 'PROTOTYPE_TEST_TRUST' } },
};

const INVENTORY = {
  defaults: { profiles: ['lxd-small'] },
  groups: { edge: { profiles: ['lxd-small'] } },
  hosts: {
    node1: { group: 'edge', nics: { uplink: { mac: '52:54:00:00:00:01', addresses: ['192.0.2.11/24'] } }, cluster: { role: 'bootstrap' } },
    node2: {
      nics: { uplink: { mac: '52:54:00:00:00:02', addresses: ['192.0.2.12/24'] } },
      cluster: { role: 'join', token: { env: 'PROTOTYPE_TEST_TOKEN' } },
    },
  },
};

/** A value that would do harm if it became a prototype: a cluster membership, a description. */
const HARMFUL = { cluster: { role: 'join', token: { env: 'HOME' } }, description: 'from the prototype', driver: 'dir' };

/** Every path to a mapping in `doc`, inside lists too. */
function mappingPaths(doc: unknown, path: string[] = []): string[][] {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => mappingPaths(v, [...path, String(i)]));
  if (doc === null || typeof doc !== 'object') return [];
  return [path, ...Object.entries(doc).flatMap(([k, v]) => mappingPaths(v, [...path, k]))];
}

/** `doc` with `key: value` added at the mapping at `path` (an own property, even for __proto__). */
function withKey(doc: unknown, path: string[], key: string, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  let target = copy;
  for (const seg of path) target = target[seg] as Record<string, unknown>;
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
  return copy;
}

/** `doc` with the string at `path` replaced by `value`. */
function withValue(doc: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  let target = copy as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) target = target[seg] as Record<string | number, unknown>;
  target[path.at(-1)!] = value;
  return copy;
}

const dir = mkdtempSync(join(tmpdir(), 'born-tuned-proto-'));
process.env.PROTOTYPE_TEST_TRUST = 'trust-me-not';
process.env.PROTOTYPE_TEST_TOKEN = 'join-token';
let cases = 0;

/** Runs gen in-process and checks what every run must satisfy. */
async function runCase(
  label: string,
  file: string,
  text: string,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  writeFileSync(join(dir, file), text);
  const { status: code, stdout, stderr } = await genInProcess(argv, dir);
  cases++;
  const context = `${label}\n--- ${file}\n${text}\n--- stderr\n${stderr}`;
  assert.ok([0, 1, 2].includes(code), `exit ${code}: ${context}`);
  assert.not.match(stderr, /internal error|\n\s+at .+:\d+:\d+/, context);
  // Nothing was added to Object.prototype: a fresh object has no enumerable key.
  // eslint-disable-next-line no-unreachable-loop
  for (const k in {}) assert.unreachable(`Object.prototype gained "${k}": ${context}`);
  return { code, stdout, stderr };
}

/** Checks a run that had a special key: __proto__ is refused at its line, others are plain keys. */
function expectPlain(key: string, text: string, r: { code: number; stderr: string }, label: string): void {
  if (key === '__proto__') {
    const line = text.split('\n').findIndex((l) => l.includes('__proto__')) + 1;
    assert.is(r.code, 1, `${label}: exit`);
    assert.match(r.stderr, new RegExp(`:${line}:\\d+: error RESERVED_KEY: `), `${label}:\n${r.stderr}`);
  } else if (r.code !== 0) {
    // Refused like any unknown key or name, at a located line, naming the key.
    assert.match(r.stderr, /^[^:\n]+:\d+:\d+: error [A-Z_]+: /m, `${label}:\n${r.stderr}`);
  }
}

test('profiles: a special key at every level is refused at its line or kept as a plain key', async () => {
  for (const path of mappingPaths(PROFILE)) {
    for (const key of SPECIAL_KEYS) {
      for (const value of [HARMFUL, 'x']) {
        const text = stringify(withKey(PROFILE, path, key, value));
        const label = `profile ${[...path, key].join('.')} = ${JSON.stringify(value)}`;
        const r = await runCase(label, 'host.yaml', text, ['--profile', './host.yaml']);
        expectPlain(key, text, r, label);
        if (r.code === 0) assert.ok(r.stdout.startsWith('#cloud-config\n'), label);
      }
    }
  }
});

test('profiles: a special key as a pool, NIC or sysctl name is a name like any other', async () => {
  for (const key of SPECIAL_KEYS.filter((k) => /^[a-z]+$/.test(k.toLowerCase()) && k === k.toLowerCase())) {
    // `constructor`, `prototype`: valid lower-case names; they must work exactly as "default" does.
    const doc = withValue(withValue(PROFILE, ['storage_pools'], { [key]: { driver: 'dir' } }), ['instances', 'storage_pool'], key);
    const r = await runCase(`pool named ${key}`, 'host.yaml', stringify(doc), ['--profile', './host.yaml', '--artifact', 'preseed']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`name: ${key}\\n`));
  }
});

test('profiles: a reference to a special name that is not defined is an error, not a method of Object', async () => {
  for (const key of SPECIAL_KEYS.filter((k) => k !== '__proto__' && /^[a-z0-9][a-z0-9_-]*$/.test(k))) {
    const text = stringify(withValue(PROFILE, ['instances', 'storage_pool'], key));
    const r = await runCase(`storage_pool ${key}`, 'host.yaml', text, ['--profile', './host.yaml']);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`storage pool "${key}" is not defined`));
  }
  for (const key of SPECIAL_KEYS) {
    const text = stringify(withValue(PROFILE, ['sysctl'], { [key]: 1 }));
    const r = await runCase(`sysctl ${key}`, 'host.yaml', text, ['--profile', './host.yaml']);
    assert.is(r.code, 1, r.stderr);
  }
});

test('inventories: a special key at every level is refused at its line or kept as a plain key', async () => {
  for (const path of mappingPaths(INVENTORY)) {
    for (const key of SPECIAL_KEYS) {
      const text = stringify(withKey(INVENTORY, path, key, HARMFUL));
      const label = `inventory ${[...path, key].join('.')}`;
      const r = await runCase(label, 'hosts.yaml', text, ['--inventory', './hosts.yaml', '--out', join(dir, `out-${cases}`)]);
      expectPlain(key, text, r, label);
    }
  }
});

test('inventories: a group named like a method of Object is found only when defined', async () => {
  for (const key of ['constructor', 'prototype']) {
    const undefinedGroup = stringify(withValue(INVENTORY, ['hosts', 'node1', 'group'], key));
    const r = await runCase(`group ${key} undefined`, 'hosts.yaml', undefinedGroup, [
      '--inventory',
      './hosts.yaml',
      '--out',
      join(dir, `out-${cases}`),
    ]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`group "${key}" is not defined`));
    const defined = stringify(
      withValue(withValue(INVENTORY, ['groups'], { [key]: { profiles: ['lxd-small', '10gbe'] } }), ['hosts', 'node1', 'group'], key),
    );
    const ok = await runCase(`group ${key} defined`, 'hosts.yaml', defined, [
      '--inventory',
      './hosts.yaml',
      '--out',
      join(dir, `out-${cases}`),
    ]);
    assert.is(ok.code, 0, ok.stderr);
  }
});

/** An operator's cloud-config with nested mappings at several levels. */
const INCLUDE = {
  users: [{ name: 'ops', groups: 'sudo', shell: '/bin/bash' }],
  apt: { sources: { ops: { source: 'deb http://deb.example.net/ops bookworm main' } } },
  write_files: [{ path: '/etc/ops.conf', content: 'x\n', permissions: '0644' }],
  runcmd: [['echo', 'hello']],
};

test('includes: a special key at every level is refused at its line or carried as a plain key', async () => {
  for (const path of mappingPaths(INCLUDE)) {
    for (const key of SPECIAL_KEYS) {
      const text = `#cloud-config\n${stringify(withKey(INCLUDE, path, key, HARMFUL))}`;
      const label = `include ${[...path, key].join('.')}`;
      const r = await runCase(label, 'inc.yaml', text, ['--profile', 'lxd-small', '--include', './inc.yaml']);
      expectPlain(key, text, r, label);
      // Carried: the user-data is ours with the key in it, never the include's text in its place.
      if (r.code === 0) {
        assert.ok(r.stdout.startsWith('#cloud-config\n# Generated by born-tuned'), label);
        assert.match(r.stdout, new RegExp(`\\b${key}:`), label);
      }
    }
  }
  // The same include inside a MIME document.
  for (const key of SPECIAL_KEYS) {
    const text = `#cloud-config\n${stringify(withKey(INCLUDE, [], key, HARMFUL))}`;
    const r = await runCase(`mime include ${key}`, 'inc.yaml', text, ['--profile', 'lxd-small', '--include', './inc.yaml', '--mime']);
    expectPlain(key, text, r, `mime include ${key}`);
  }
});

test("inventories: one host's include with __proto__ never turns another host into a cluster member", async () => {
  const inventory = { defaults: { profiles: ['lxd-small'] }, hosts: { node1: { include: ['evil.yaml'] }, node2: {} } };
  writeFileSync(join(dir, 'evil.yaml'), '#cloud-config\n__proto__:\n  cluster: {role: join, token: {env: HOME}}\n');
  const r = await runCase('inventory include __proto__', 'hosts.yaml', stringify(inventory), [
    '--inventory',
    './hosts.yaml',
    '--out',
    join(dir, `out-${cases}`),
  ]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /evil\.yaml:2:1: error RESERVED_KEY: /);
});

test('every case above really ran', () => {
  assert.ok(cases > 400, `only ${cases} cases`);
  console.log(`prototype keys: ${cases} cases`);
});

test.run();
