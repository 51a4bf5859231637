import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, profileArgs, run, STACKS, stackName } from './helpers.ts';

/** Top-level keys the installed cloud-init's own schema JSON defines (the real tool does not flag
 * unknown top-level keys, so this check stands beside it). */
function cloudInitTopLevelKeys(): Set<string> {
  const listed = run('dpkg', ['-L', 'cloud-init']);
  const file = listed.stdout.split('\n').find((l) => l.endsWith('/schemas/schema-cloud-config-v1.json'));
  assert.ok(file, 'cloud-init is not installed: the test command installs it (test/real/install-debian-tools.sh)');
  const schema = JSON.parse(readFileSync(file!, 'utf8')) as {
    allOf: { $ref: string }[];
    $defs: Record<string, { properties?: Record<string, unknown> }>;
  };
  const keys = new Set<string>();
  for (const { $ref } of schema.allOf) {
    const def = schema.$defs[$ref.replace('#/$defs/', '')];
    for (const k of Object.keys(def?.properties ?? {})) keys.add(k);
  }
  assert.ok(keys.size > 50, 'schema JSON yielded too few top-level keys: its layout changed');
  return keys;
}

const dir = mkdtempSync(join(tmpdir(), 'born-tuned-ci-'));
const knownKeys = cloudInitTopLevelKeys();

for (const stack of STACKS) {
  test(`real cloud-init schema accepts the user-data of ${stackName(stack)}`, () => {
    const r = gen(profileArgs(stack));
    assert.is(r.status, 0, r.stderr);
    const file = join(dir, `${stackName(stack)}.yaml`);
    writeFileSync(file, r.stdout);
    const check = run('cloud-init', ['schema', '--config-file', file]);
    assert.is(check.status, 0, `cloud-init schema failed:\n${check.stdout}${check.stderr}`);
    assert.match(check.stdout, /Valid cloud-config/);
    assert.not.match(check.stdout + check.stderr, /deprecat/i, 'cloud-init reports a deprecated key');
    const top = Object.keys(parse(r.stdout) as object);
    for (const key of top) assert.ok(knownKeys.has(key), `top-level key "${key}" is not in cloud-init's schema`);
  });
}

test('the real cloud-init schema check can fail: an unknown module key is rejected', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, '#cloud-config\nwrite_files:\n  - path: /x\n    permisions: "0644"\n');
  const check = run('cloud-init', ['schema', '--config-file', file]);
  assert.is.not(check.status, 0);
});

test.run();
