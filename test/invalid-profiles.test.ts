import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, ROOT } from './helpers.ts';

/**
 * Every directory under test/fixtures/invalid/ is a test: `args` holds the command line (words
 * separated by spaces, run in that directory), `expected.txt` the exact stderr, `exit` the exit
 * code (1 when absent). Adding a case needs no code. UPDATE_GOLDEN=1 rewrites expected.txt.
 */
const base = join(ROOT, 'test', 'fixtures', 'invalid');
const cases = readdirSync(base).sort();

test('there are at least 20 invalid-profile fixtures', () => {
  assert.ok(cases.length >= 20, `only ${cases.length}`);
});

for (const name of cases) {
  test(`invalid fixture ${name}`, () => {
    const dir = join(base, name);
    const args = readFileSync(join(dir, 'args'), 'utf8').trim().split(/\s+/);
    const expectedExit = existsSync(join(dir, 'exit')) ? Number(readFileSync(join(dir, 'exit'), 'utf8').trim()) : 1;
    const r = gen(args, dir);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(join(dir, 'expected.txt'), r.stderr);
    assert.is(r.status, expectedExit, `exit code; stderr:\n${r.stderr}`);
    assert.is(r.stdout, '', 'nothing may be printed on stdout for an invalid profile');
    assert.fixture(r.stderr, readFileSync(join(dir, 'expected.txt'), 'utf8'));
    assert.not.match(r.stderr, /\n\s+at .+:\d+:\d+/, 'stack trace printed');
    assert.not.ok(existsSync(join(dir, 'out')), 'a failed run must not leave an output directory');
  });
}

test.run();
