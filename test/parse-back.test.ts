import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { checkArtifact, expectYaml } from '../src/check/parse-back.ts';
import { InternalError } from '../src/diagnostics/errors.ts';
import type { Artifact } from '../src/render/artifact.ts';
import { encodeUserData } from '../src/render/encode.ts';
import { buildMime } from '../src/render/mime.ts';

/** The parse-back check itself: it must catch every way YAML can read back as something else. */
const artifact = (text: string): Artifact => ({ kind: 'netplan', path: 'x.yaml', mode: 0o644, purpose: 'test', text, format: 'text' });

function failure(text: string, expected: unknown): string {
  try {
    expectYaml(artifact(text), expected);
  } catch (e) {
    assert.ok(e instanceof InternalError, `not an InternalError: ${e}`);
    return (e as Error).message;
  }
  assert.unreachable(`accepted ${JSON.stringify(text)}`);
  return '';
}

test('accepts text that reads back as the data under both YAML versions', () => {
  expectYaml(artifact('a: "yes"\nb: [1, two]\nc: |\n  x\n  y\n'), { a: 'yes', b: [1, 'two'], c: 'x\ny\n' });
});

test('names the YAML version under which a value reads back differently', () => {
  assert.match(failure('a: yes\n', { a: 'yes' }), /x\.yaml does not read back as the data it was built from under YAML 1\.1/);
  assert.match(failure('a: 0o10\n', { a: '0o10' }), /under YAML 1\.2/);
  assert.match(failure('a: 1\n', { a: 2 }), /under YAML 1\.1/);
});

test('rejects duplicate keys, syntax errors and more than one document', () => {
  assert.match(failure('a: 1\na: 1\n', { a: 1 }), /x\.yaml is not valid YAML 1\.1: .*unique/i);
  assert.match(failure('a: [1\n', { a: [1] }), /is not valid YAML 1\.1/);
  assert.match(failure('a: 1\n---\na: 1\n', { a: 1 }), /is not valid YAML 1\.1: it holds 2 documents/);
  assert.match(failure('<<: 0\n', { '<<': 0 }), /is not valid YAML 1\.1: Merge sources must be maps/);
});

test('checks the first line when asked', () => {
  assert.throws(() => expectYaml(artifact('a: 1\n'), { a: 1 }, '#cloud-config\n'), /does not start with "#cloud-config"/);
  expectYaml(artifact('#cloud-config\na: 1\n'), { a: 1 }, '#cloud-config\n');
});

/** What yaml.parse makes of `text` under `version`, or undefined when it refuses the text. */
function readAs(text: string, version: '1.1' | '1.2'): { value: unknown } | undefined {
  try {
    return { value: parse(text, { version, uniqueKeys: true, strict: true }) };
  } catch {
    return undefined;
  }
}

test('one parse, two schemas: agrees with yaml.parse under 1.1 and 1.2 on arbitrary YAML', () => {
  const scalar = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.constantFrom('yes', 'on', 'n', 'Y', '0755', '0o17', '1:30', '1_000', '~', '.inf', '0x1F', '1e3'),
    fc.integer(),
    fc.boolean(),
  );
  const value = fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), {
    maxKeys: 4,
    noNullPrototype: true,
  });
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  fc.assert(
    fc.property(value, fc.constantFrom('1.1', '1.2') as fc.Arbitrary<'1.1' | '1.2'>, (v, writtenAs) => {
      // Written plainly under one version, so the other often reads a scalar differently, and may
      // even refuse the text: plain keys `N` and `n` are both `false` under YAML 1.1, a duplicate.
      const text = stringify(v, { version: writtenAs });
      const v11 = readAs(text, '1.1');
      const v12 = readAs(text, '1.2');
      if (v11 && v12 && same(v11.value, v) && same(v12.value, v)) {
        expectYaml(artifact(text), v);
      } else {
        assert.throws(
          () => expectYaml(artifact(text), v),
          (e: unknown) => e instanceof InternalError,
        );
      }
    }),
    // Counterexamples found by earlier runs: the oracle threw on the first; on the second the check
    // threw a plain Error instead of an InternalError (a `<<` merge key with no map under 1.1).
    {
      numRuns: 1000,
      examples: [
        [{ N: false, n: '' }, '1.2'],
        [{ '<<': 0 }, '1.1'],
      ],
    },
  );
});

/** The same file under two formats: the check reads what `format` says, whatever the kind. */
test("the check dispatches on the artifact's format and data, not on its kind", () => {
  const file = { kind: 'user-data' as const, path: 'f', mode: 0o600, purpose: 'test', text: 'a: "yes"\n' };
  checkArtifact({ ...file, format: 'text' });
  checkArtifact({ ...file, format: 'yaml', data: { a: 'yes' } });
  assert.throws(() => checkArtifact({ ...file, format: 'yaml', data: { a: true } }), /f does not read back .* under YAML 1\.1/);
  assert.throws(() => checkArtifact({ ...file, format: 'cloud-config', data: { a: 'yes' } }), /does not start with "#cloud-config"/);
  assert.throws(
    () => checkArtifact({ ...file, kind: 'sysctl', format: 'sysctl-wanted', data: [['raise', 'a', '=', 'no']] }),
    /does not read back/,
  );
  const wanted = '# c\nexact a = 1 2\nraise b from c 1\n';
  checkArtifact({
    ...file,
    kind: 'sysctl',
    text: wanted,
    format: 'sysctl-wanted',
    data: [
      ['exact', 'a', '=', '1 2'],
      ['raise', 'b', 'from', 'c', '1'],
    ],
  });
  // A line of another shape (a sysctl.d line) matches nothing gen wrote.
  assert.throws(
    () => checkArtifact({ ...file, kind: 'sysctl', text: 'a = 1\n', format: 'sysctl-wanted', data: [['exact', 'a', '=', '1']] }),
    /does not read back/,
  );
});

test("a MIME user-data is read back part by part: names, decoded texts (7bit and base64), and gen's cloud-config in its parts", () => {
  const ours = '#cloud-config\nruncmd:\n  - [a]\n';
  const parts = [
    { filename: 'born-tuned.cfg', text: ours, cloudConfig: { runcmd: [['a']] } },
    { filename: 'ops.yaml', text: 'packages: [caf\u00e9]' },
  ];
  const mime = (list: { filename: string; text: string }[]): Artifact => ({
    kind: 'user-data',
    path: 'user-data',
    mode: 0o600,
    purpose: 'test',
    format: 'mime',
    data: parts,
    text: buildMime(list.map((p) => ({ filename: p.filename, contentType: 'text/cloud-config', text: p.text }))),
  });
  checkArtifact(mime(parts));
  assert.throws(() => checkArtifact(mime([parts[0]!, { ...parts[1]!, text: 'packages: [cafe]' }])), /part 2 \(ops\.yaml\) differs/);
  assert.throws(() => checkArtifact(mime([parts[0]!])), /1 parts instead of 2/);
  assert.throws(
    () => checkArtifact(mime([{ ...parts[0]!, text: '#cloud-config\nruncmd:\n  - [b]\n' }, parts[1]!])),
    /part 1 \(born-tuned\.cfg\) differs/,
  );
  const wrongData: Artifact = { ...mime(parts), format: 'mime', data: [{ ...parts[0]!, cloudConfig: { runcmd: [['b']] } }, parts[1]!] };
  assert.throws(() => checkArtifact(wrongData), /\(part born-tuned\.cfg\) does not read back/);
});

test('encoded bytes must decode to the checked text', () => {
  const text = '#cloud-config\na: 1\n';
  const file: Artifact = {
    kind: 'user-data',
    path: 'user-data',
    mode: 0o600,
    purpose: 'test',
    text,
    format: 'cloud-config',
    data: { a: 1 },
  };
  for (const encoding of ['gzip', 'base64', 'gzip+base64'] as const) {
    checkArtifact({ ...file, bytes: encodeUserData(text, encoding), encoding });
    assert.throws(() => checkArtifact({ ...file, bytes: encodeUserData('#cloud-config\na: 2\n', encoding), encoding }), /does not decode/);
  }
  assert.throws(() => checkArtifact({ ...file, bytes: encodeUserData(text, 'base64'), encoding: 'gzip' }), /cannot be decoded as gzip/);
});

test.run();
