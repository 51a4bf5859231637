import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { ProfileError, UsageError } from '../src/diagnostics/errors.ts';
import { MAX_ISOLATED_INSTANCES } from '../src/facts/capacity.ts';
import { renderHost, resolveStack } from '../src/pipeline.ts';
import { commentText, hclString, iniValue, shellQuote, udevValue, UnsafeValueError } from '../src/render/helpers.ts';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { stringifyYaml } from '../src/render/yaml.ts';

/**
 * Rendering cannot be escaped: hostile strings go into every helper and every profile string field
 * that reaches an artifact; each artifact must parse back to exactly the intended data, or the
 * profile must be rejected with a located error. Random valid profiles go through the whole pipeline.
 * The cases really checked add up to more than 10,000 per run (counted as they run, printed at the end).
 */
let cases = 0;

/** Characters that break formats: YAML indicators, quotes, escapes, shell and template syntax, unicode. */
const HOSTILE_PIECES = [
  ': ',
  ' #',
  '- ',
  '---',
  '...',
  'yes',
  'no',
  'on',
  'off',
  'y',
  '~',
  'null',
  '0755',
  '0o17',
  '1:30',
  '1e3',
  '.inf',
  '"',
  "'",
  '\\',
  '\n',
  '\r\n',
  '\t',
  '${',
  '%{',
  '}',
  '$(id)',
  '`id`',
  '{{',
  '}}',
  '&a',
  '*a',
  '!tag',
  '|',
  '>',
  '@',
  '%',
  '[',
  ']',
  '{',
  '}',
  ',',
  '?',
  '=',
  ';',
  'é',
  '日本',
  '\u2028',
  '\u00a0',
  ' ',
  '#cloud-config',
];
const hostileString = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE_PIECES), fc.string({ maxLength: 4 }), fc.string({ unit: 'grapheme', maxLength: 3 })), {
    maxLength: 8,
  })
  .map((a) => a.join(''));

test('YAML serialization reads back identically under YAML 1.1 and 1.2', () => {
  fc.assert(
    fc.property(hostileString, fc.array(hostileString, { maxLength: 3 }), (s, list) => {
      cases++;
      const data = { value: s, list, nested: { [s || 'k']: s } };
      const text = stringifyYaml(data);
      for (const version of ['1.1', '1.2'] as const) assert.equal(parse(text, { version }), data);
    }),
    { numRuns: 3000 },
  );
});

/**
 * The readers that consume our YAML, run for real: cloud-init reads user-data with PyYAML's pure
 * Python SafeLoader, netplan with libyaml (PyYAML's CSafeLoader is libyaml; go-yaml, in LXD and
 * Incus, is its port). Each string goes in as a value, a key, a flow-sequence item and a block
 * sequence item; one process of the system python3 (the one cloud-init runs on, with Debian's
 * python3-yaml) reads them all back.
 */
test('YAML serialization: PyYAML and libyaml read every string back exactly', () => {
  const READER_PIECES = [
    '=',
    '$',
    '${x}',
    '<<',
    '?',
    ':',
    ',',
    '\t',
    '\r',
    '\x7f',
    '\x85',
    '\u2028',
    '\u2029',
    '\ufeff',
    '\ufffe',
    '\x00',
    '\x1b',
    '2001-12-14',
    '0b1',
    '0x_1',
    '1_0',
    '.5',
    '+.inf',
    'Null',
    'Y',
    'NO',
  ];
  const readerString = fc
    .array(fc.oneof(hostileString, fc.constantFrom(...READER_PIECES), fc.string({ unit: 'binary', maxLength: 2 })), {
      minLength: 1,
      maxLength: 4,
    })
    .map((a) => a.join(''))
    .filter((s) => !/\p{Cs}/u.test(s)); // no lone surrogates: a UTF-8 profile cannot hold one
  const strings = [...new Set(fc.sample(readerString, 3000))];
  const shapes = strings.flatMap((s) => [{ v: s }, { [s]: 1 }, { v: [s, 'a'] }, { v: [s, 'a\nb'] }]);
  const reader = `
import json, sys, yaml
docs = json.loads(sys.stdin.buffer.read().decode("utf-8"))
out = {}
for name in ("SafeLoader", "CSafeLoader"):
    loader = getattr(yaml, name)
    res = []
    for d in docs:
        try:
            value = yaml.load(d, Loader=loader)
        except yaml.YAMLError as e:
            res.append("refused: " + str(e).replace("\\n", " "))
            continue
        try:
            res.append(json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")))
        except (TypeError, ValueError):
            res.append("not JSON: " + repr(value))
    out[name] = res
sys.stdout.buffer.write(json.dumps(out).encode())
`;
  const r = spawnSync('/usr/bin/python3', ['-c', reader], { input: JSON.stringify(shapes.map(stringifyYaml)), maxBuffer: 1 << 28 });
  assert.is(r.status, 0, r.stderr?.toString());
  // Each value read comes back as its JSON text (Python and JavaScript write JSON alike), or as
  // what went wrong: refused, or read as something JSON cannot hold (an infinity, a date).
  const read = JSON.parse(r.stdout.toString()) as Record<string, string[]>;
  for (const [loader, values] of Object.entries(read)) {
    shapes.forEach((shape, i) => assert.is(values[i], JSON.stringify(shape), `${loader} read ${JSON.stringify(stringifyYaml(shape))}`));
    cases += shapes.length;
  }
});

test('line-based values (sysctl, limits, systemd), comments and udev values are refused or stay one token', () => {
  fc.assert(
    fc.property(hostileString, (s) => {
      cases++;
      for (const helper of [iniValue, commentText, udevValue]) {
        let out: string;
        try {
          out = helper(s);
        } catch (e) {
          assert.ok(e instanceof UnsafeValueError);
          continue;
        }
        assert.not.match(out, /[\r\n]/);
        if (helper === udevValue) assert.is(out, `"${s}"`);
        if (helper === iniValue) assert.is(out.trim(), s);
      }
    }),
    { numRuns: 3000 },
  );
});

test('shell words: bash reads every single-quoted word back exactly', () => {
  const words = fc.sample(
    hostileString.filter((s) => !s.includes('\0')),
    2000,
  );
  const script = `printf '%s\\0' ${words.map(shellQuote).join(' ')}`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.split('\0').slice(0, -1), words);
  cases += words.length;
});

test('HCL strings: the HashiCorp parser reads every quoted string back, with no live interpolation', async () => {
  const values = fc.sample(hostileString, 2000);
  const text = values.map((v, i) => `v${i} = ${hclString(v)}`).join('\n');
  const parsed = (await parseHcl('property.hcl', `${text}\n`)) as Record<string, string>;
  values.forEach((v, i) => {
    const got = parsed[`v${i}`]!;
    // hcl2json returns template text as written: an escaped "$${" stays "$${". No "${" or "%{"
    // may start a real interpolation or directive. Each escape becomes a character that starts
    // none, so no new pair forms across it ("%$${" is a "%" and an escaped "${", not "%{").
    assert.not.match(got.replace(/\$\$\{|%%\{/g, '\0'), /\$\{|%\{/, `live template sequence in ${JSON.stringify(v)}`);
    assert.is(got.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{'), v.normalize('NFC'));

    cases++;
  });
});

/** A minimal valid host profile, as data, into which one hostile value is placed. */
function hostProfile(): Record<string, any> {
  return {
    manager: { name: 'incus', install: 'deb' },
    target: { distro: 'debian', release: '12' },
    capacity: { instances: 10 },
    dmesg_restrict: true,
    bridge: { name: 'incusbr0', ipv4: '10.1.0.1/24', txqueuelen: 10000 },
    nics: { uplink: { match: { name: 'en*' }, txqueuelen: 10000 } },
    storage_pools: { default: { driver: 'dir' } },
  };
}

const FIELDS: [string, (p: Record<string, any>, v: string) => void][] = [
  ['nics.uplink.match.name', (p, v) => (p.nics.uplink.match.name = v)],
  ['nics.ID (key)', (p, v) => (p.nics = { [v]: { match: { name: 'en*' }, txqueuelen: 1000 } })],
  ['nics.uplink.match.mac', (p, v) => (p.nics.uplink.match = { mac: v })],
  ['bridge.name', (p, v) => (p.bridge.name = v)],
  ['bridge.ipv4', (p, v) => (p.bridge.ipv4 = v)],
  ['bridge.ipv6', (p, v) => (p.bridge.ipv6 = v)],
  ['storage_pools.NAME (key)', (p, v) => (p.storage_pools = { [v]: { driver: 'dir' } })],
  ['storage_pools.default.source', (p, v) => (p.storage_pools.default.source = v)],
  ['server.https_address', (p, v) => (p.server = { https_address: v })],
  ['sysctl KEY', (p, v) => (p.sysctl = { [v]: 1 })],
  ['sysctl value', (p, v) => (p.sysctl = { 'net.core.somaxconn': v })],
  ['description', (p, v) => (p.description = v)],
  ['nics.uplink.addresses', (p, v) => (p.nics = { lan: { match: { mac: '52:54:00:00:00:01' }, addresses: [v] } })],
];

const dir = mkdtempSync(join(tmpdir(), 'born-tuned-prop-'));

/** Runs a profile through the whole pipeline: it must render (every artifact parsed back by the
 * check stage) or be rejected with located diagnostics; nothing else may happen. */
function throughPipeline(profile: Record<string, unknown>): 'rendered' | 'rejected' {
  writeFileSync(join(dir, 'p.yaml'), stringify(profile));
  try {
    const generated = renderHost({ stack: resolveStack({ profiles: ['p'], profilesDir: dir }), packer: true, secrets: 'resolve' });
    assert.ok(generated.artifacts.length > 5);
    return 'rendered';
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    assert.ok(e.diagnostics.some((d) => d.severity === 'error'));
    for (const d of e.diagnostics) assert.ok(d.file && d.line && d.col, `unlocated: ${d.message}`);
    return 'rejected';
  }
}

for (const [field, set] of FIELDS) {
  test(`hostile ${field}: rendered and read back exactly, or rejected at its line`, () => {
    fc.assert(
      fc.property(hostileString, (v) => {
        cases++;
        const p = hostProfile();
        set(p, v);
        throughPipeline(p);
      }),
      { numRuns: 120 },
    );
  });
}

test('hostile secret values reach the preseed as exactly the same string, or are refused', () => {
  fc.assert(
    fc.property(
      hostileString.filter((s) => s !== ''),
      (secret) => {
        cases++;
        const p = { extends: 'lxd-small', server: { trust_password: { env: 'BT_PROP_SECRET' } } };
        writeFileSync(join(dir, 's.yaml'), stringify(p));
        process.env.BT_PROP_SECRET = secret;
        const render = () => renderHost({ stack: resolveStack({ profiles: ['s'], profilesDir: dir }), packer: true, secrets: 'resolve' });
        // A line break, a control character (tab included) or nothing but spaces is not a usable secret.
        if (/[\0-\x1f\x7f]/.test(secret) || secret.trim() === '') {
          assert.throws(render, (e: unknown) => e instanceof UsageError);
          return;
        }
        const preseed = parse(render().artifacts.find((a) => a.kind === 'preseed')!.text, { version: '1.1' }) as {
          config: Record<string, string>;
        };
        assert.is(preseed.config['core.trust_password'], secret);
      },
    ),
    { numRuns: 300 },
  );
  delete process.env.BT_PROP_SECRET;
});

test('random valid profiles go through the whole pipeline', () => {
  const ifname = fc.stringMatching(/^[a-z][a-z0-9]{0,6}\*?$/);
  const profile = fc
    .record({
      manager: fc.constantFrom(
        { name: 'incus', install: 'deb' },
        { name: 'lxd', install: 'deb' },
        { name: 'lxd', install: 'snap' },
        { name: 'incus', install: 'present', version: '6.9' },
      ),
      target: fc.constant({ distro: 'debian', release: '12' }),
      capacity: fc.record({ instances: fc.integer({ min: 1, max: 100000 }) }),
      dmesg_restrict: fc.boolean(),
      hide_instance_names: fc.boolean(),
      limits: fc.record({
        nofile: fc.integer({ min: 1024, max: 1048576 }),
        memlock: fc.oneof(fc.constant('unlimited'), fc.integer({ min: 64, max: 1 << 30 })),
      }),
      sysctl: fc.record(
        {
          'fs.inotify.max_user_watches': fc.integer({ min: 8192, max: 2 ** 31 - 1 }),
          'vm.max_map_count': fc.integer({ min: 65530, max: 2 ** 31 - 1 }),
          'net.core.bpf_jit_limit': fc.integer({ min: 264241152, max: 1_000_000_000 }),
          'net.ipv4.tcp_mem': fc.tuple(fc.nat(1e6), fc.nat(1e6), fc.nat(1e6)).map((t) => t.sort((a, b) => a - b).join(' ')),
        },
        { requiredKeys: [] },
      ),
      nics: fc.dictionary(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
        fc.record({ match: ifname.map((name) => ({ name })), txqueuelen: fc.integer({ min: 1, max: 1_000_000 }) }),
        { maxKeys: 3 },
      ),
      // Subnets large enough for any capacity drawn (a /24 holds 252 instances: a smaller capacity is
      // a located error, tested with the fixtures).
      bridge: fc.record({
        ipv4: fc.constantFrom('10.0.0.1/15', '172.16.0.1/12', 'none'),
        ipv6: fc.constantFrom('none', 'fd42:1::1/64'),
        nat: fc.boolean(),
        txqueuelen: fc.integer({ min: 1, max: 100000 }),
      }),
      instances: fc.record(
        { idmap_isolated: fc.boolean(), nesting: fc.boolean(), nic_txqueuelen: fc.integer({ min: 1, max: 100000 }) },
        { requiredKeys: [] },
      ),
      // More isolated instances than 32-bit ids hold (MAX_ISOLATED_INSTANCES) is a located error,
      // tested with the fixtures; the LXD snap does not read /etc/subuid.
    })
    .filter((p) => !(p.instances.idmap_isolated && p.manager.install !== 'snap' && p.capacity.instances > MAX_ISOLATED_INSTANCES));
  fc.assert(
    fc.property(profile, (p) => {
      cases++;
      assert.is(throughPipeline(p), 'rendered');
    }),
    { numRuns: 600 },
  );
});

test('random argv never crashes the CLI: exit 0, 1 or 2 with one clear line, never a stack trace', async () => {
  const { main } = await import('../src/cli.ts');
  const word = fc.oneof(
    fc.constantFrom(
      '--profile',
      '-p',
      '--out',
      '--artifact',
      '--format',
      '--force',
      '--profiles-dir',
      'json',
      'text',
      'incus-dense',
      '10gbe',
      'nope',
      '--',
      '-',
      '',
      '/',
      '--help=x',
      '--format=xml',
      '-x',
      'sysctl',
      '--version=1',
    ),
    fc.string({ maxLength: 6 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(word, { maxLength: 6 }), async (argv) => {
      // --out in any spelling (--out DIR, --out=DIR) would write files: keep the random runs to
      // reading.
      if (argv.some((a) => a.startsWith('--o'))) return;
      cases++;
      let err = '';
      const code = await main(argv, { stdout: () => undefined, stderr: (t) => (err += t) });
      assert.ok([0, 1, 2].includes(code), `exit ${code} for ${JSON.stringify(argv)}: ${err}`);
      assert.not.match(err, /\n\s+at .+:\d+:\d+/);
      if (code === 2 && ctxFormatJson(argv)) JSON.parse(err);
      else if (code === 2) assert.is(err.trim().split('\n').length <= 2, true, `usage error is short: ${err}`);
    }),
    { numRuns: 400 },
  );
});

function ctxFormatJson(argv: string[]): boolean {
  return argv.includes('--format=json') || argv.some((a, i) => a === '--format' && argv[i + 1] === 'json');
}

test('more than 10,000 generated cases ran', () => {
  console.log(`  property cases: ${cases}`);
  assert.ok(cases >= 10000, `only ${cases}`);
});

test.run();
