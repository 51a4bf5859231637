import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, profileArgs, readManifest, ROOT, run, stackName, STACKS } from './helpers.ts';

/** The real yamllint (project settings in .yamllint) on every YAML file gen writes and every profile. */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-lint-'));
const config = join(ROOT, '.yamllint');

function yamlFiles(out: string): string[] {
  const manifest = readManifest(out);
  return manifest
    .filter((f) => /\.ya?ml$/.test(f.path) || ['user-data', 'packer-user-data'].includes(f.kind))
    .map((f) => join(out, f.path));
}

for (const stack of STACKS) {
  test(`yamllint accepts every YAML file of ${stackName(stack)}`, () => {
    const out = join(scratch, stackName(stack));
    const r = gen([...profileArgs(stack), '--out', out]);
    assert.is(r.status, 0, r.stderr);
    const files = yamlFiles(out);
    assert.ok(files.length >= 3, `expected user-data, preseed and the baked user-data, got ${files.length}`);
    const lint = run('yamllint', ['-s', '-c', config, '-f', 'parsable', ...files]);
    assert.is(lint.status, 0, lint.stdout + lint.stderr);
  });
}

test('yamllint accepts the shipped profiles', () => {
  const profiles = readdirSync(join(ROOT, 'profiles')).map((f) => join(ROOT, 'profiles', f));
  const lint = run('yamllint', ['-s', '-c', config, '-f', 'parsable', ...profiles]);
  assert.is(lint.status, 0, lint.stdout + lint.stderr);
});

test('yamllint can fail: a duplicate key is reported', () => {
  const lint = run('yamllint', ['-s', '-c', config, '-'], { input: 'a: 1\na: 2\n' });
  assert.is(lint.status, 1);
});

test.run();
