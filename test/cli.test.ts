import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, treeOf } from '../src/pipeline.ts';
import { writeTree } from '../src/output/write.ts';
import { gen } from './helpers.ts';

/** The CLI's contract for bad command lines and output directories (issue 4's "nothing lost"). */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-cli-'));

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${(statSync(p).mode & 0o777).toString(8)}:${readFileSync(p, 'base64')}`;
    }
  };
  walk(dir);
  return out;
}

const usageCases: [string, string[], RegExp][] = [
  ['unknown flag', ['--profile', 'lxd-small', '--bogus'], /unknown option '--bogus'/],
  ['missing value', ['--profile'], /argument missing/],
  ['bad --format', ['--profile', 'lxd-small', '--format', 'xml'], /Allowed choices are text, json/],
  ['bad --artifact', ['--profile', 'lxd-small', '--artifact', 'kernel'], /Allowed choices are/],
  ['--out with --artifact', ['--profile', 'lxd-small', '--out', join(scratch, 'x'), '--artifact', 'sysctl'], /use one of them/],
  ['--force without --out', ['--profile', 'lxd-small', '--force'], /--force only applies to --out/],
  ['no profile', [], /no profile given/],
  [
    'stray argument',
    ['--profile', 'lxd-small', 'extra'],
    /unknown command "extra"; the commands are explain, diff, verify, list, schema, completion/,
  ],
  ['mistyped command', ['explan', '-p', 'lxd-small'], /unknown command "explan" \(did you mean "explain"\?\)/],
  ['--out at the root', ['--profile', 'lxd-small', '--out', '/'], /is the root directory: gen never replaces it/],
  ['--out at a file', ['--profile', 'lxd-small', '--out', '/etc/hostname'], /exists and is not a directory/],
  [
    '--out under a file',
    ['--profile', 'lxd-small', '--out', '/etc/hostname/sub'],
    /cannot use --out \/etc\/hostname\/sub: a part of the path is not a directory \(ENOTDIR\)/,
  ],
];

for (const [name, args, message] of usageCases) {
  test(`usage error (${name}): exit 2, one clear line, nothing on stdout`, () => {
    const r = gen(args);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
    assert.not.match(r.stderr, /\n\s+at /);
    assert.is(r.stdout, '');
  });
}

test('--out at an unwritable place: exit 2 (read-only /proc)', () => {
  const r = gen(['--profile', 'lxd-small', '--out', '/proc/born-tuned-out']);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /^gen: /);
});

test('--out refuses a non-empty directory gen did not write, unless --force', () => {
  const dir = join(scratch, 'foreign');
  mkdirSync(dir);
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  const r = gen(['--profile', 'lxd-small', '--out', dir]);
  assert.is(r.status, 2);
  assert.match(
    r.stderr,
    /is not a tree gen wrote \(it has no manifest\.json\); replacing it would delete everything in it:\n  added    notes\.txt\n/,
  );
  assert.equal(snapshot(dir), { 'notes.txt': `644:${Buffer.from('mine').toString('base64')}` });
  const forced = gen(['--profile', 'lxd-small', '--out', dir, '--force']);
  assert.is(forced.status, 0, forced.stderr);
  assert.not.ok(existsSync(join(dir, 'notes.txt')));
});

test('--out replaces a tree gen wrote earlier, leaving no temporary directories', () => {
  const dir = join(scratch, 'ours');
  assert.is(gen(['--profile', 'lxd-small', '--out', dir]).status, 0);
  assert.is(gen(['--profile', 'incus-dense', '--out', dir]).status, 0);
  assert.ok(existsSync(join(dir, 'preseed', 'incus.yaml')));
  assert.not.ok(existsSync(join(dir, 'preseed', 'lxd.yaml')));
  assert.equal(
    readdirSync(scratch).filter((f) => f.startsWith('.ours')),
    [],
  );
});

test('a failure after some files are written leaves the existing directory byte-identical', async () => {
  const dir = join(scratch, 'atomic');
  assert.is(gen(['--profile', 'lxd-small', '--out', dir]).status, 0);
  const before = snapshot(dir);
  const generated = generate({ profiles: ['incus-dense', '10gbe'] }, { packer: true, secrets: 'resolve' });
  const tree = treeOf(generated.artifacts, generated.stack.plan.stack);
  let written = 0;
  const failure = await writeTree(dir, tree, {
    hooks: {
      afterFile: () => {
        if (++written === 4) throw new Error('injected failure');
      },
    },
  }).then(
    () => 'no failure',
    (e: Error) => e.message,
  );
  assert.is(failure, 'injected failure');
  assert.equal(snapshot(dir), before);
  assert.equal(
    readdirSync(scratch).filter((f) => f.startsWith('.atomic')),
    [],
    'temporary tree removed',
  );
});

test('an invalid profile with --out leaves no directory behind', () => {
  const dir = join(scratch, 'never');
  const profiles = join(scratch, 'profiles');
  mkdirSync(profiles);
  writeFileSync(join(profiles, 'bad.yaml'), 'sysclt: {}\n');
  const r = gen(['--profiles-dir', profiles, '--profile', 'bad', '--out', dir]);
  assert.is(r.status, 1);
  assert.not.ok(existsSync(dir));
});

test.run();
