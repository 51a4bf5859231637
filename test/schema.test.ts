import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDocument } from 'yaml';
import { genInProcess, ROOT } from './helpers.ts';

/**
 * The JSON Schemas gen prints (committed as schema/profile.schema.json and
 * schema/inventory.schema.json; test/commands.test.ts holds them to `gen schema`) are documentation:
 * every property has a description, and a real validator (python3-jsonschema, Draft 2020-12, one
 * process for every document) accepts every valid document and refuses every invalid fixture whose
 * problem a schema can express. Each invalid fixture is classified below, one way or the other; a
 * new one that is not fails this suite.
 */
type Kind = 'profile' | 'inventory';
type JsonSchema = { [keyword: string]: unknown };
const SCHEMAS: Record<Kind, JsonSchema> = {
  profile: JSON.parse(readFileSync(join(ROOT, 'schema', 'profile.schema.json'), 'utf8')),
  inventory: JSON.parse(readFileSync(join(ROOT, 'schema', 'inventory.schema.json'), 'utf8')),
};

/**
 * Invalid fixtures a schema refuses: the file that must fail, and the path (in the document) of an
 * error the validator must report there, so it fails for the fixture's reason.
 */
const REFUSED: Record<string, string> = {
  'bad-bridge-ipv6': 'main.yaml /bridge/ipv6',
  'bom-with-error': 'main.yaml /sysctl/vm.max_map_count',
  'bpf-jit-limit-too-high': 'main.yaml /sysctl/net.core.bpf_jit_limit',
  'bridge-name-dotdot': 'main.yaml /bridge/name',
  'broken-input-skips-its-rules': 'main.yaml /capacity/instances',
  'crlf-with-error': 'main.yaml /limits/nofile',
  // Too deep for the reader; and a list where a name belongs, for the schema.
  'deep-nesting': 'main.yaml /nics/a/match/name',
  'dmesg-restrict-in-sysctl': 'main.yaml /sysctl',
  'document-is-a-list': 'main.yaml /',
  'document-is-a-scalar': 'main.yaml /',
  'empty-file': 'main.yaml /',
  'every-problem-at-once': 'main.yaml /limits',
  'extends-absolute-path': 'main.yaml /extends',
  'extends-not-a-name': 'main.yaml /extends',
  'extends-path-escape': 'main.yaml /extends',
  'https-address-bad': 'main.yaml /server/https_address',
  'https-port-above-65535': 'main.yaml /server/https_address',
  'inventory-bad-nic': 'hosts.yaml /hosts/node01/nics/uplink/name',
  'inventory-host-key-uppercase': 'hosts.yaml /hosts',
  'inventory-is-a-list': 'hosts.yaml /',
  'inventory-join-token-inline': 'hosts.yaml /hosts/node2/cluster/token',
  'inventory-token-from-relative': 'hosts.yaml /hosts/node2/cluster/token_from',
  'inventory-profile-invalid': 'bad.yaml /sysctl/vm.max_map_count',
  'inventory-unknown-key': 'hosts.yaml /hosts/node01',
  'json-diagnostics': 'main.yaml /',
  'manager-is-a-string': 'main.yaml /manager',
  'many-errors-at-once': 'main.yaml /manager/install',
  'match-is-a-string': 'main.yaml /nics/uplink/match',
  'memlock-not-a-number': 'main.yaml /limits/memlock',
  // gen's reader refuses "<<" itself; read as a plain key, it is not a key of limits.
  'merge-key': 'main.yaml /limits',
  'negative-limits': 'main.yaml /limits/nproc',
  'nics-is-a-list': 'main.yaml /nics',
  'null-section': 'main.yaml /sysctl',
  'number-beyond-2-53': 'main.yaml /sysctl/fs.file-max',
  'proto-key': 'main.yaml /limits',
  'secret-inline': 'main.yaml /server/trust_password',
  'storage-driver-unknown': 'main.yaml /storage_pools/default/driver',
  'sysctl-is-a-list': 'main.yaml /sysctl',
  'sysctl-from-host-word-zero': 'main.yaml /sysctl/net.core.optmem_max',
  'sysctl-mode-unknown': 'main.yaml /sysctl/vm.swappiness',
  'sysctl-not-a-name': 'main.yaml /sysctl',
  'sysctl-value-newline-and-equals': 'main.yaml /sysctl/net.core.somaxconn',
  'sysctl-value-with-edge-spaces': 'main.yaml /sysctl/kernel.core_pattern',
  'sysctl-value-with-equals': 'main.yaml /sysctl/kernel.core_pattern',
  // gen's reader refuses the tag; a reader that drops it sees a string where a reference belongs.
  'tag-in-profile': 'main.yaml /server/trust_password',
  'txqueuelen-out-of-range': 'main.yaml /nics/uplink/txqueuelen',
  'unknown-key-in-bridge': 'main.yaml /bridge',
  'unknown-key-in-capacity': 'main.yaml /capacity',
  'unknown-key-in-instances': 'main.yaml /instances',
  'unknown-key-in-nic-match': 'main.yaml /nics/uplink/match',
  'unknown-key-in-server': 'main.yaml /server',
  'unknown-key-in-storage-pool': 'main.yaml /storage_pools/default',
  'unknown-key-in-target': 'main.yaml /target',
  'unknown-manager': 'main.yaml /manager/name',
  'unknown-manager-version': 'main.yaml /manager/version',
  'unknown-nested-key': 'main.yaml /manager',
  'unknown-top-key-typo': 'main.yaml /',
  'unsupported-release': 'main.yaml /target/release',
  'uplink-out-of-range': 'main.yaml /vlans/vlan4095/id',
  'wrong-type-capacity': 'main.yaml /capacity/instances',
  'verify-interval-not-a-span': 'main.yaml /verify/interval',
  'yes-is-not-a-boolean': 'main.yaml /dmesg_restrict',
};

const RULE = 'a rule across keys or values (src/schema/rules.ts, src/inventory/resolve.ts), checked by gen';
const STACK = 'a problem of the stack of files (extends, --profile), not of one file as written: another file may set or fix it';
const HOSTS = 'a rule across the hosts of an inventory, or between a host and its stack';
const READER = "gen's YAML reader refuses the file before any schema sees data";
const FILE = 'the file itself (its type, size or readability), not its content';
const CLI = 'the command line, not a document';
const INCLUDE = "an operators' cloud-config include, checked against cloud-init's schema, not one of gen's formats";
const PARSED = 'a value judged by a real parser (node:net, fnmatch rules); the schema carries only its shape as a pattern';

/** Invalid fixtures a schema cannot refuse, with the reason. Their documents must pass the schema
 * (where they can be read at all): a fixture the schema does refuse belongs in REFUSED. */
const NOT_EXPRESSIBLE: Record<string, string> = {
  'alias-bomb': READER,
  'bad-flag': CLI,
  'bridge-address-is-broadcast': PARSED,
  'bridge-overlaps-nic': RULE,
  'bridge-no-headroom': RULE,
  'bridge-too-small': RULE,
  'dir-pool-with-size': `${RULE}; the driver may come from another file`,
  'directory-given-as-profile': FILE,
  'duplicate-key': READER,
  'extends-cycle': STACK,
  'extends-cycle-via-stack': STACK,
  'extends-missing-parent': STACK,
  'extends-self': STACK,
  'extends-too-deep': STACK,
  'fence-off-without-reason': `${RULE}; the reason may come from another file`,
  'file-too-large': FILE,
  'gateway-outside-subnet': RULE,
  'gc-thresh-order': RULE,
  'gc-thresh2-above-derived-thresh3': RULE,
  'gc-thresh3-below-capacity': RULE,
  'idmap-isolated-beyond-32-bit-ids': RULE,
  'include-alias-recursive': INCLUDE,
  'include-bad-file-name': INCLUDE,
  'include-conflict': INCLUDE,
  'include-invalid-modules': INCLUDE,
  'include-jinja': INCLUDE,
  'include-key-not-a-name': INCLUDE,
  'include-merge-how': INCLUDE,
  'include-mime-boundary': INCLUDE,
  'include-mime-version-merged': INCLUDE,
  'include-not-cloud-config': INCLUDE,
  'include-proto-key': INCLUDE,
  'include-read-differently': INCLUDE,
  'include-tag': INCLUDE,
  'include-unconstructible': INCLUDE,
  'include-write-files-same-file': INCLUDE,
  'incus-as-snap': RULE,
  'inventory-address-in-bridge-subnet': HOSTS,
  'inventory-bootstrap-with-token-from': RULE,
  'inventory-join-token-both': RULE,
  'inventory-unknown-host': CLI,
  'inventory-bootstrap-with-token': RULE,
  'inventory-cluster-address-not-its-own': RULE,
  'inventory-cluster-mixed-managers': HOSTS,
  'inventory-duplicate-address': HOSTS,
  'inventory-duplicate-cluster-address': HOSTS,
  'inventory-duplicate-hostname': HOSTS,
  'inventory-duplicate-mac': HOSTS,
  'inventory-gateway-outside-subnet': RULE,
  'inventory-host-key-is-a-number': `${READER} (a key YAML reads as a number; in JSON every key is a string)`,
  'inventory-include-missing': FILE,
  'inventory-ipv6-two-spellings': HOSTS,
  'inventory-join-without-token': RULE,
  'inventory-member-without-address': RULE,
  'inventory-no-profiles': `${RULE}: profiles may be set by the host, its group or defaults`,
  'inventory-two-bootstraps': HOSTS,
  'inventory-unknown-group': RULE,
  'ipv6-not-an-address': PARSED,
  'lxd-deb-version-mismatch': RULE,
  'maxkeys-below-capacity': RULE,
  'missing-required-keys': STACK,
  'nic-address-is-network-address': PARSED,
  'nic-glob-invalid': PARSED,
  'nic-without-match': STACK,
  'nofile-above-nr-open': RULE,
  'nofile-inherited-above-nr-open': RULE,
  'not-utf8': READER,
  'overlay-alone': STACK,
  'profile-is-a-directory': FILE,
  'profile-name-with-path': CLI,
  'profile-path-missing': CLI,
  'profile-path-not-yaml': CLI,
  'profiles-dir-is-a-file': CLI,
  'root-pool-undefined': RULE,
  'storage-pool-undefined-without-pools': RULE,
  'storage-pools-empty': STACK,
  'storage-dir-on-device': `${RULE}: a source under /dev/ is a device only for btrfs, lvm and zfs`,
  'storage-size-on-device': `${RULE}: size sizes only a loop-backed pool`,
  'storage-wipe-without-device': `${RULE}: wipe needs a device source`,
  'strict-shadowed-profile': CLI,
  'sysctl-typo-did-you-mean':
    'an unknown sysctl is an error only when it is close to a known one (a likely typo); any other sysctl name is accepted',
  'sysctl-from-host-problems': `${RULE}; the key read and its words are checked against the kernel's key list and the catalogue`,
  'sysctl-mode-word-value': RULE,
  'sysctl-two-spellings': 'two spellings of one sysctl (sysctl.d(5) swaps dots and slashes): a schema compares names only as written',
  'sysctl-typo-swapiness':
    'an unknown sysctl is an error only when it is close to a known one (a likely typo); any other sysctl name is accepted',
  'tab-indent': READER,
  'tcp-mem-descending': RULE,
  'trust-password-on-incus': RULE,
  'ubuntu-2204-has-no-incus': RULE,
  'unknown-profile': CLI,
  'uplink-problems': `${RULE}: bond members and VLAN links against the NICs and bonds, MTUs against each other`,
  'unreadable-file': FILE,
  'yaml-syntax': READER,
  'zfs-arc-max-too-small': RULE,
  'zfs-arc-max-without-zfs': RULE,
};

/** One document for the validator: what it is, which schema, and its data. */
interface Doc {
  label: string;
  kind: Kind;
  data: unknown;
}

/**
 * A YAML file as an editor's reader sees it (YAML 1.2, no merge keys, no tags), as JSON data; a
 * mapping's keys stay own keys whatever their name (`__proto__` included). Undefined when the
 * file cannot be read as YAML at all.
 */
function readYaml(file: string): { data: unknown } | undefined {
  const doc = parseDocument(readFileSync(file, 'utf8'), { merge: false, uniqueKeys: false, strict: true });
  if (doc.errors.length > 0) return undefined;
  try {
    const data = doc.toJS({ mapAsMap: true, maxAliasCount: 1000 }) as unknown;
    return { data: JSON.parse(JSON.stringify(data, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v))) };
  } catch {
    return undefined;
  }
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Path relative to the repository, for messages. */
const rel = (file: string) => file.slice(ROOT.length + 1);

/** Reads `file` as `kind`; a valid document that cannot be read is a failure of its own. */
function validDoc(file: string, kind: Kind): Doc {
  const read = readYaml(file);
  assert.ok(read, `${rel(file)} does not read as YAML`);
  return { label: rel(file), kind, data: read.data };
}

// Every valid document: shipped profiles, valid fixtures, the VM boots' profiles, and the fixture
// inventories (beside them lie cloud-config includes, which start with #cloud-config).
const inventoryDir = join(ROOT, 'test', 'fixtures', 'inventory');
const VALID: Doc[] = [
  ...[join(ROOT, 'profiles'), join(ROOT, 'test', 'fixtures', 'valid'), join(ROOT, 'test', 'e2e', 'profiles')].flatMap((dir) =>
    yamlFiles(dir).map((f) => validDoc(f, 'profile')),
  ),
  ...yamlFiles(inventoryDir)
    .filter((f) => !readFileSync(f, 'utf8').startsWith('#cloud-config'))
    .map((f) => validDoc(f, 'inventory')),
];

// Each valid document broken by one unknown key: the validator must refuse every one of them.
const BROKEN: Doc[] = VALID.map((d) => ({
  label: `${d.label} with an unknown key`,
  kind: d.kind,
  data: { ...(d.data as object), no_such_key: true },
}));

const invalidBase = join(ROOT, 'test', 'fixtures', 'invalid');
const fixtures = readdirSync(invalidBase).sort();

/** The documents of an invalid fixture that gen reads as a profile or an inventory, by file name. */
function fixtureDocs(name: string): Map<string, Doc> {
  const dir = join(invalidBase, name);
  const args = readFileSync(join(dir, 'args'), 'utf8').trim().split(/\s+/);
  const after = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const docs = new Map<string, Doc>();
  for (const file of yamlFiles(dir)) {
    const base = file.slice(dir.length + 1);
    // Not a regular file (a directory, a link to /proc/self/mem): the fixture is about the file.
    if (!lstatSync(file).isFile() || base === after('--include')) continue;
    const read = readYaml(file);
    if (read) docs.set(base, { label: `${name}/${base}`, kind: base === after('--inventory') ? 'inventory' : 'profile', data: read.data });
  }
  return docs;
}
const INVALID = new Map(fixtures.map((name) => [name, fixtureDocs(name)]));

/** One error of the validator: where in the document, and what. */
interface SchemaError {
  path: string;
  message: string;
}

const VALIDATOR = `
import json, sys
from jsonschema import Draft202012Validator
request = json.load(sys.stdin)
validators = {}
for kind, schema in request["schemas"].items():
    Draft202012Validator.check_schema(schema)
    validators[kind] = Draft202012Validator(schema)
results = []
for doc in request["documents"]:
    errors = validators[doc["kind"]].iter_errors(doc["data"])
    results.append([{"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message} for e in errors])
json.dump(results, sys.stdout)
`;

/** Validates every document in one python3 process (Debian's python3-jsonschema). */
function validate(docs: readonly Doc[]): SchemaError[][] {
  const r = spawnSync('/usr/bin/python3', ['-c', VALIDATOR], {
    input: JSON.stringify({ schemas: SCHEMAS, documents: docs.map(({ kind, data }) => ({ kind, data })) }),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.is(r.status, 0, `python3 jsonschema failed (install python3-jsonschema): ${r.stderr}`);
  return JSON.parse(r.stdout) as SchemaError[][];
}

const batch = [...VALID, ...BROKEN, ...[...INVALID.values()].flatMap((docs) => [...docs.values()])];
const validated = validate(batch);
const results = new Map(batch.map((doc, i) => [doc, validated[i]!]));
const show = (errors: SchemaError[]) => errors.map((e) => `${e.path}: ${e.message}`).join('\n');

test('every shipped profile, valid fixture and fixture inventory passes its schema', () => {
  assert.ok(VALID.filter((d) => d.kind === 'profile').length >= 6, VALID.map((d) => d.label).join(', '));
  assert.ok(VALID.filter((d) => d.kind === 'inventory').length >= 2, VALID.map((d) => d.label).join(', '));
  for (const doc of VALID) assert.equal(results.get(doc), [], `${doc.label}:\n${show(results.get(doc)!)}`);
});

test('each valid document broken by an unknown key fails its schema, at the top', () => {
  for (const doc of BROKEN) {
    const errors = results.get(doc)!;
    assert.ok(
      errors.some((e) => e.path === '/' && e.message.includes("'no_such_key' was unexpected")),
      `${doc.label}:\n${show(errors)}`,
    );
  }
});

test('every invalid fixture is classified: refused by the schema, or why a schema cannot say', () => {
  const unclassified = fixtures.filter((name) => !(name in REFUSED) && !(name in NOT_EXPRESSIBLE));
  assert.equal(unclassified, [], `classify these fixtures in test/schema.test.ts: ${unclassified.join(', ')}`);
  const both = fixtures.filter((name) => name in REFUSED && name in NOT_EXPRESSIBLE);
  assert.equal(both, [], 'classified twice');
  const stale = [...Object.keys(REFUSED), ...Object.keys(NOT_EXPRESSIBLE)].filter((name) => !fixtures.includes(name));
  assert.equal(stale, [], 'classified fixtures that no longer exist');
});

for (const [name, expected] of Object.entries(REFUSED)) {
  test(`invalid fixture ${name} fails the schema`, () => {
    const [file, path] = expected.split(' ') as [string, string];
    const doc = INVALID.get(name)?.get(file);
    assert.ok(doc, `${name}/${file} is not a document of the fixture`);
    const errors = results.get(doc)!;
    assert.ok(
      errors.some((e) => e.path === path),
      `${doc.label} must fail at ${path}; errors:\n${show(errors) || '(none: it passes)'}`,
    );
  });
}

test('the documents of the fixtures a schema cannot refuse pass it: none is misfiled', () => {
  for (const name of Object.keys(NOT_EXPRESSIBLE))
    for (const doc of INVALID.get(name)?.values() ?? [])
      assert.equal(results.get(doc), [], `${doc.label} fails the schema: move ${name} to REFUSED\n${show(results.get(doc)!)}`);
});

/** Where a property (or a map's value, `*`) has no description. */
function undescribed(schema: JsonSchema, path = ''): string[] {
  const missing: string[] = [];
  const visit = (s: unknown, at: string, isProperty: boolean) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) return;
    const node = s as JsonSchema;
    if (isProperty && !(typeof node.description === 'string' && node.description.trim().length > 0)) missing.push(at);
    for (const [key, child] of Object.entries((node.properties ?? {}) as JsonSchema)) visit(child, `${at}/${key}`, true);
    for (const [key, child] of Object.entries((node.patternProperties ?? {}) as JsonSchema)) visit(child, `${at}/${key}`, true);
    visit(node.additionalProperties, `${at}/*`, true);
    for (const branch of [...((node.anyOf ?? []) as unknown[]), ...((node.oneOf ?? []) as unknown[]), ...((node.allOf ?? []) as unknown[])])
      visit(branch, at, false);
    visit(node.items, `${at}[]`, false);
  };
  visit(schema, path, false);
  return missing;
}

test('every property of both schemas has a description, and each schema an $id', () => {
  for (const [kind, schema] of Object.entries(SCHEMAS)) {
    assert.equal(undescribed(schema), [], `${kind} schema`);
    assert.is(schema.$id, `urn:born-tuned:schema:${kind}`);
    assert.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  }
});

test('the description check finds a missing description, deep in either schema', () => {
  const profile = structuredClone(SCHEMAS.profile) as any;
  delete profile.properties.nics.additionalProperties.properties.match.properties.mac.description;
  profile.properties.sysctl.properties['vm.max_map_count'].description = ' ';
  assert.equal(undescribed(profile).sort(), ['/nics/*/match/mac', '/sysctl/vm.max_map_count']);
  const inventory = structuredClone(SCHEMAS.inventory) as any;
  delete inventory.properties.hosts.additionalProperties.properties.cluster.properties.token.anyOf[0].properties.env.description;
  assert.equal(undescribed(inventory), ['/hosts/*/cluster/token/env']);
});

test("the descriptions of settings are gen explain's words: why, and the source", async () => {
  const r = await genInProcess(['explain', '-p', 'incus-dense', '-p', '10gbe', '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  const { settings } = JSON.parse(r.stdout) as { settings: { id: string; why?: string; source?: string }[] };
  const descriptions: string[] = [];
  const collect = (s: unknown) => {
    if (s === null || typeof s !== 'object') return;
    const d = (s as JsonSchema).description;
    if (typeof d === 'string') descriptions.push(d);
    for (const v of Object.values(s)) collect(v);
  };
  collect(SCHEMAS.profile);
  // Root's subordinate ids and the modules loaded at boot are no profile key's: they follow from
  // capacity.instances, instances.idmap_isolated and the manager, so no description can carry them.
  const byNoKey = (id: string) => /^(subids|module) /.test(id);
  assert.ok(settings.some((s) => byNoKey(s.id)));
  const explained = settings.filter((s) => s.why !== undefined && !byNoKey(s.id));
  assert.ok(explained.length >= 20, `${explained.length} settings with a reason`);
  for (const s of explained)
    assert.ok(
      descriptions.some((d) => d.startsWith(`${s.why}`) && d.includes(`Source: ${s.source}.`)),
      `no description of the profile schema gives the reason explain gives for ${s.id}: ${s.why}`,
    );
});

test.run();
