import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, profileArgs, ROOT, STACKS, stackName } from './helpers.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** Compares `actual` with a golden file, or rewrites it when UPDATE_GOLDEN=1. */
function golden(file: string, actual: string): void {
  const path = join(ROOT, 'test', 'golden', file);
  if (UPDATE) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${file} is missing: run UPDATE_GOLDEN=1 npm test once and review it`);
  assert.fixture(actual, readFileSync(path, 'utf8'), `output differs from test/golden/${file}`);
}

for (const stack of STACKS) {
  test(`user-data of ${stackName(stack)} matches its golden file, with the same warnings`, () => {
    const r = gen(profileArgs(stack));
    assert.is(r.status, 0, r.stderr);
    golden(`${stackName(stack)}/user-data`, r.stdout);
    golden(`${stackName(stack)}/stderr`, r.stderr);
  });

  test(`user-data of ${stackName(stack)} is byte-identical across runs`, () => {
    const a = gen(profileArgs(stack));
    const b = gen(profileArgs(stack));
    assert.is(a.stdout, b.stdout);
    assert.ok(a.stdout.startsWith('#cloud-config\n'));
  });
}

test.run();
