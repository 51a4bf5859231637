import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, genInProcess, ROOT, type Run } from './helpers.ts';

/**
 * Every directory under test/fixtures/invalid/ is a test: `args` holds the command line (words
 * separated by spaces, run in that directory), `expected.txt` the exact stderr, `exit` the exit
 * code (1 when absent). Adding a case needs no code. UPDATE_GOLDEN=1 rewrites expected.txt.
 *
 * Each case runs the CLI in this process (a process start per fixture was most of this suite's
 * time); for each exit code and each flag, the last case (by name) that has it also runs as the
 * built CLI in a process of its own, which must exit with that code and print exactly the same.
 */
const base = join(ROOT, 'test', 'fixtures', 'invalid');
const cases = readdirSync(base).sort();

test('there are at least 20 invalid-profile fixtures', () => {
  assert.ok(cases.length >= 20, `only ${cases.length}`);
});

function fixture(name: string): { dir: string; args: string[]; expectedExit: number } {
  const dir = join(base, name);
  const args = readFileSync(join(dir, 'args'), 'utf8').trim().split(/\s+/);
  const expectedExit = existsSync(join(dir, 'exit')) ? Number(readFileSync(join(dir, 'exit'), 'utf8').trim()) : 1;
  return { dir, args, expectedExit };
}

function assertFixture(dir: string, expectedExit: number, r: Run): void {
  assert.is(r.status, expectedExit, `exit code; stderr:\n${r.stderr}`);
  assert.is(r.stdout, '', 'nothing may be printed on stdout for an invalid profile');
  assert.fixture(r.stderr, readFileSync(join(dir, 'expected.txt'), 'utf8'));
  assert.not.match(r.stderr, /\n\s+at .+:\d+:\d+/, 'stack trace printed');
  assert.not.ok(existsSync(join(dir, 'out')), 'a failed run must not leave an output directory');
}

for (const name of cases) {
  test(`invalid fixture ${name}`, async () => {
    const { dir, args, expectedExit } = fixture(name);
    const r = await genInProcess(args, dir);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(join(dir, 'expected.txt'), r.stderr);
    assertFixture(dir, expectedExit, r);
  });
}

/** The last fixture (by name) with each exit code and each flag: the ones also run as a process. */
const asProcess = [
  ...new Map(
    cases.flatMap((name) => {
      const { args, expectedExit } = fixture(name);
      return [`exit ${expectedExit}`, ...args.filter((a) => a.startsWith('--'))].map((kind) => [kind, name] as const);
    }),
  ),
];

test('the last fixture of each exit code and each flag, run as a process of its own, exits with that code and prints the same as in-process', async () => {
  assert.ok(asProcess.length >= 8, asProcess.map(([kind]) => kind).join(', '));
  for (const name of new Set(asProcess.map(([, n]) => n))) {
    const { dir, args, expectedExit } = fixture(name);
    const r = gen(args, dir);
    assertFixture(dir, expectedExit, r);
    assert.equal(r, await genInProcess(args, dir), name);
  }
  console.log(`  run as a process too: ${asProcess.map(([kind, name]) => `${kind} (${name})`).join(', ')}`);
});

test.run();
