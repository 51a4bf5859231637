import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { expectYaml } from '../src/check/parse-back.ts';
import { InternalError } from '../src/diagnostics/errors.ts';
import type { Artifact } from '../src/render/artifact.ts';

/** The parse-back check itself: it must catch every way YAML can read back as something else. */
const artifact = (text: string): Artifact => ({ kind: 'test', path: 'x.yaml', mode: 0o644, purpose: 'test', text });

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
});

test('checks the first line when asked', () => {
  assert.throws(() => expectYaml(artifact('a: 1\n'), { a: 1 }, '#cloud-config\n'), /does not start with "#cloud-config"/);
  expectYaml(artifact('#cloud-config\na: 1\n'), { a: 1 }, '#cloud-config\n');
});

test('one parse, two schemas: agrees with yaml.parse under 1.1 and 1.2 on arbitrary YAML', () => {
  const scalar = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('yes', 'on', '0755', '0o17', '1:30', '1_000', '~', '.inf', '0x1F', '1e3'), fc.integer(), fc.boolean());
  const value = fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), { maxKeys: 4, noNullPrototype: true });
  fc.assert(
    fc.property(value, fc.constantFrom('1.1', '1.2') as fc.Arbitrary<'1.1' | '1.2'>, (v, writtenAs) => {
      // Written plainly under one version, so the other often reads a scalar differently.
      const text = stringify(v, { version: writtenAs });
      const v11 = parse(text, { version: '1.1' });
      const v12 = parse(text, { version: '1.2' });
      if (JSON.stringify(v11) === JSON.stringify(v12) && JSON.stringify(v12) === JSON.stringify(v)) {
        expectYaml(artifact(text), v);
      } else {
        assert.throws(() => expectYaml(artifact(text), v), (e: unknown) => e instanceof InternalError);
      }
    }),
    { numRuns: 1000 },
  );
});

test.run();
