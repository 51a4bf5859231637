import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../src/diagnostics/errors.ts';
import { MANIFEST_FILE, renderManifest } from '../src/output/manifest.ts';
import { SECRET_DIGESTS_FILE } from '../src/output/secret-digests.ts';
import { resolveOutTarget } from '../src/output/target.ts';
import { inspectTree } from '../src/output/tree-check.ts';
import { writeTree } from '../src/output/write.ts';
import { generate, treeOf } from '../src/pipeline.ts';
import type { Artifact } from '../src/render/artifact.ts';
import { firstDifference, genSync, leftBeside, sameTree, treeSnapshot } from './out-helpers.ts';

/** Issue 12, item 2: what --out may name, and what it may replace without --force. */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-out-'));
const mkfifo = (path: string) => assert.is(spawnSync('mkfifo', [path]).status, 0);

// A place to stand: the working directory is three levels under the scratch directory, so that
// every parent a test names stays inside it even if a refusal were missing.
const sandbox = join(scratch, 'sandbox');
const cwd = join(sandbox, 'a', 'b', 'work');
const home = join(sandbox, 'home', 'op');
mkdirSync(join(cwd, 'sub'), { recursive: true });
mkdirSync(home, { recursive: true });
writeFileSync(join(cwd, 'notes.txt'), "the operator's\n");
writeFileSync(join(cwd, 'sub', 'keep.txt'), 'keep\n');
writeFileSync(join(home, '.profile'), 'PATH=...\n');
symlinkSync('.', join(cwd, 'link-to-cwd'));
symlinkSync('..', join(cwd, 'link-to-parent'));
symlinkSync(home, join(cwd, 'link-to-home'));
const env = { ...process.env, HOME: home };

const forbidden: [string, string, RegExp][] = [
  ['an empty path', '', /^gen: --out needs a directory: an empty path would name the current directory\n$/],
  [
    '"."',
    '.',
    /^gen: --out \. is the current directory \(.*\/work\): gen would replace it as a whole; name a directory of its own, such as out\/NAME\n$/,
  ],
  ['the current directory by its absolute path', cwd, /is the current directory/],
  ['"sub/.."', 'sub/..', /is the current directory/],
  ['a link to the current directory', './link-to-cwd', /^gen: --out \.\/link-to-cwd is the current directory/],
  ['"./link-to-cwd/"', './link-to-cwd/', /is the current directory/],
  ['".."', '..', /^gen: --out \.\. is a parent of the current directory \(.*\/a\/b\)/],
  ['"../.."', '../..', /is a parent of the current directory \(.*\/sandbox\/a\)/],
  ['a link to the parent', 'link-to-parent', /is a parent of the current directory/],
  ['$HOME', home, /^gen: --out .*\/home\/op is the home directory .*\/home\/op: gen would replace it/],
  ['a link to $HOME', 'link-to-home', /is the home directory/],
  ['a parent of $HOME', `${home}/..`, /^gen: --out .*\/home\/op\/\.\. holds the home directory .*\/home\/op:/],
];

for (const [name, out, message] of forbidden) {
  test(`--out ${name} is refused with exit 2 even with --force, and nothing is touched`, () => {
    const before = treeSnapshot(sandbox);
    const r = genSync(['-p', 'lxd-small', '--out', out, '--force'], { cwd, env });
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stdout, '');
    const after = treeSnapshot(sandbox);
    assert.ok(sameTree(before, after), firstDifference(before, after));
  });
}

// Outside the sandbox only without --force: were the refusal missing, these would still not be
// replaced (they are not gen trees), and the message would not match.
for (const [name, out, message] of [
  ['/', '/', /^gen: --out \/ is the root directory: gen never replaces it\n$/],
  ['"/.."', '/..', /is the root directory/],
  ['the whole way up', '../../../../../../../../../../..', /^gen: --out [./]+ is the root directory/],
  ["root's passwd home (HOME set elsewhere)", '/root', /^gen: --out \/root is the home directory \/root:/],
] as const) {
  test(`--out ${name} is refused with exit 2`, () => {
    const r = genSync(['-p', 'lxd-small', '--out', out], { cwd, env });
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  });
}

test('--out at a symbolic link is refused even with --force (dangling, or to a gen tree), and the link stays', () => {
  const dir = join(scratch, 'links');
  mkdirSync(dir);
  assert.is(genSync(['-p', 'lxd-small', '--out', join(dir, 'real')]).status, 0);
  symlinkSync('real', join(dir, 'to-real'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  const before = treeSnapshot(dir);
  for (const force of [[], ['--force']]) {
    const real = genSync(['-p', 'lxd-small', '--out', join(dir, 'to-real'), ...force]);
    assert.is(real.status, 2);
    assert.match(
      real.stderr,
      /^gen: --out .*\/to-real is a symbolic link \(to real\): gen does not write through a link into another place; give the real path\n$/,
    );
    const dangling = genSync(['-p', 'lxd-small', '--out', join(dir, 'dangling'), ...force]);
    assert.is(dangling.status, 2);
    assert.match(dangling.stderr, /is a symbolic link \(to nowhere, which does not exist\)/);
  }
  assert.ok(sameTree(before, treeSnapshot(dir)));
});

test('--out at a file, a FIFO (never opened), or with a name too long: exit 2, one sentence', () => {
  const dir = join(scratch, 'odd');
  mkdirSync(dir);
  writeFileSync(join(dir, 'file'), 'x');
  mkfifo(join(dir, 'fifo'));
  const cases: [string, RegExp][] = [
    [join(dir, 'file'), /exists and is not a directory \(it is a regular file\)/],
    [join(dir, 'fifo'), /exists and is not a directory \(it is a FIFO \(named pipe\)\)/],
    [
      join(dir, 'n'.repeat(240)),
      /the name n+ is too long \(240 bytes\); gen keeps \.NAME\.gen-tmp-XXXXXX beside it, so a name may have at most 239 bytes/,
    ],
    [join(dir, 'é'.repeat(200)), /is too long \(400 bytes\)/],
    [join(dir, 'n'.repeat(300), 'x'), /cannot use --out .*: a name is too long for the file system \(ENAMETOOLONG\)/],
  ];
  for (const [out, message] of cases) {
    const r = genSync(['-p', 'lxd-small', '--out', out, '--force']);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stderr.split('\n').length, 2, r.stderr);
  }
  assert.not.ok(statSync(join(dir, 'n'.repeat(239)), { throwIfNoEntry: false }));
  const ok = genSync(['-p', 'lxd-small', '--out', join(dir, 'n'.repeat(239))]);
  assert.is(ok.status, 0, ok.stderr);
});

test('a NUL in the path is a usage error, not a crash', () => {
  assert.throws(
    () => resolveOutTarget('a\0b'),
    (e: unknown) => e instanceof UsageError && /holds a NUL character/.test(e.message),
  );
});

/** A fresh gen tree of lxd-small at `name` under the scratch directory. */
function genTree(name: string): string {
  const dir = join(scratch, name);
  const r = genSync(['-p', 'lxd-small', '--out', dir]);
  assert.is(r.status, 0, r.stderr);
  return dir;
}

/** Runs gen over `dir` without --force: exit 2, nothing changed, the message; then with --force. */
function refusedThenForced(dir: string, expected: RegExp): void {
  const before = treeSnapshot(dir);
  const r = genSync(['-p', 'incus-dense', '--out', dir]);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, expected);
  assert.match(
    r.stderr,
    new RegExp(
      `\\nMove what you want to keep out of .*, or choose another --out; --force replaces .* as a whole \\(everything in it is deleted\\)\\.\\n$`,
    ),
  );
  assert.not.match(r.stderr, /\n\s+at /);
  const after = treeSnapshot(dir);
  assert.ok(sameTree(before, after), firstDifference(before, after));
  assert.equal(leftBeside(dir), []);
  const forced = genSync(['-p', 'incus-dense', '--out', dir, '--force']);
  assert.is(forced.status, 0, forced.stderr);
  assert.ok(statSync(join(dir, 'preseed', 'incus.yaml')).isFile());
  assert.equal(leftBeside(dir), []);
}

test("a one-line fake manifest.json does not make a directory gen's: everything in it is listed", () => {
  const dir = join(scratch, 'fake');
  mkdirSync(join(dir, 'docs'), { recursive: true });
  writeFileSync(join(dir, MANIFEST_FILE), '{"generator":"born-tuned"}\n');
  writeFileSync(join(dir, 'docs', 'runbook.md'), '# mine\n');
  refusedThenForced(
    dir,
    /^gen: --out .*\/fake is not a tree gen wrote \(its manifest\.json is not gen's\); replacing it would delete everything in it:\n  added    docs\/runbook\.md\n  added    manifest\.json\n/,
  );
});

test('a manifest that lists nothing: every file is listed as added', () => {
  const dir = join(scratch, 'empty-manifest');
  mkdirSync(dir);
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ generator: 'born-tuned', version: '0', stack: [], files: [] }));
  writeFileSync(join(dir, 'mine.txt'), 'x');
  refusedThenForced(
    dir,
    /^gen: --out .* is not exactly the tree gen wrote there; replacing it would lose what changed:\n  added    mine\.txt\n/,
  );
});

test("a symbolic link to a real manifest.json does not make a directory gen's", () => {
  const real = genTree('linked-source');
  const dir = join(scratch, 'linked');
  mkdirSync(dir);
  symlinkSync(join(real, MANIFEST_FILE), join(dir, MANIFEST_FILE));
  writeFileSync(join(dir, 'mine.txt'), 'x');
  refusedThenForced(
    dir,
    /is not a tree gen wrote \(its manifest\.json is a symbolic link, not a regular file\); replacing it would delete everything in it:\n  added    manifest\.json \(a symbolic link\)\n  added    mine\.txt\n/,
  );
});

test('what an operator changed in a gen tree is listed: added, changed (content, mode, type), missing', () => {
  const dir = genTree('edited');
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  mkdirSync(join(dir, 'empty'));
  mkdirSync(join(dir, 'extra', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'extra', 'deeper', 'f'), '');
  mkfifo(join(dir, 'born-tuned', 'pipe'));
  symlinkSync('/etc/shadow', join(dir, 'shadow'));
  writeFileSync(join(dir, 'user-data'), `${readFileSync(join(dir, 'user-data'), 'utf8')}# mine\n`);
  chmodSync(join(dir, 'limits.d', '60-born-tuned.conf'), 0o600);
  unlinkSync(join(dir, 'preseed', 'lxd.yaml'));
  const script = join(dir, 'bin', 'born-tuned-sysctl-apply');
  unlinkSync(script);
  mkdirSync(script);
  refusedThenForced(
    dir,
    new RegExp(
      [
        '^gen: --out .*/edited is not exactly the tree gen wrote there; replacing it would lose what changed:',
        '  changed  bin/born-tuned-sysctl-apply \\(now a directory\\)',
        '  added    born-tuned/pipe \\(a FIFO \\(named pipe\\)\\)',
        '  added    empty \\(an empty directory\\)',
        '  added    extra/deeper/f',
        '  changed  limits.d/60-born-tuned.conf \\(mode 0600, manifest.json says 0644\\)',
        '  added    notes.txt',
        '  missing  preseed/lxd.yaml',
        '  added    shadow \\(a symbolic link\\)',
        '  changed  user-data \\(content\\)',
        'Move',
      ].join('\\n'),
    ),
  );
});

test('the list stops at 20 lines and says how many more', () => {
  const dir = genTree('many');
  for (let i = 0; i < 25; i++) writeFileSync(join(dir, `added-${String(i).padStart(2, '0')}`), '');
  const r = genSync(['-p', 'lxd-small', '--out', dir]);
  assert.is(r.status, 2);
  assert.is(r.stderr.split('\n').filter((l) => l.startsWith('  added')).length, 20);
  assert.match(r.stderr, /\n  added    added-19\n  \.\.\. and 5 more\nMove/);
});

test("a large directory that is not gen's is not walked whole: the list says gen stopped looking", () => {
  const dir = join(scratch, 'large');
  mkdirSync(dir);
  for (let i = 0; i < 10_005; i++) writeFileSync(join(dir, `f${i}`), '');
  const r = genSync(['-p', 'lxd-small', '--out', dir]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /\(it has no manifest\.json\)[^]*\n  \.\.\. and more \(gen stopped looking after 10000 entries\)\nMove/);
  rmSync(dir, { recursive: true });
});

test('a tree exactly as gen wrote it, or an empty directory, is replaced without --force', () => {
  const dir = genTree('again');
  const r = genSync(['-p', 'incus-dense', '--out', dir]);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `wrote 25 files to ${dir}\n`);
  const empty = join(scratch, 'empty-dir');
  mkdirSync(empty);
  assert.is(genSync(['-p', 'incus-dense', '--out', empty]).status, 0);
  assert.equal(leftBeside(dir), []);
});

// Files that hold a secret (issue 12, item 6): no sha256 of them in manifest.json (0644); the tree's
// own 0600 secret-digests.json holds keyed digests instead, and still catches an edit.
function secretTree(password: string): Artifact[] {
  const g = generate({ profiles: ['lxd-small'] }, { packer: true, secrets: 'resolve' });
  const artifacts = g.artifacts.map((a) =>
    a.kind === 'user-data' || a.kind === 'preseed' ? { ...a, text: `${a.text}# trust password: ${password}\n`, holdsSecret: true } : a,
  );
  return treeOf(artifacts, g.stack.plan.stack);
}

test('a file that holds a secret has no sha256 in manifest.json; secret-digests.json (0600) stands in, with a random key', async () => {
  const dir = join(scratch, 'secret');
  const tree = secretTree('hunter2');
  await writeTree(dir, tree);
  const manifestText = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  const files = (JSON.parse(manifestText) as { files: { path: string; sha256?: string; mode: string; purpose: string }[] }).files;
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const a of tree.filter((x) => x.holdsSecret)) {
    assert.is(byPath.get(a.path)!.sha256, undefined, a.path);
    assert.not.ok(
      manifestText.includes(
        createHash('sha256')
          .update(readFileSync(join(dir, a.path)))
          .digest('hex'),
      ),
      `no digest of ${a.path} anywhere in manifest.json`,
    );
  }
  assert.equal(byPath.get(SECRET_DIGESTS_FILE), {
    path: SECRET_DIGESTS_FILE,
    kind: 'secret-digests',
    purpose: byPath.get(SECRET_DIGESTS_FILE)!.purpose,
    mode: '0600',
  });
  assert.is(statSync(join(dir, SECRET_DIGESTS_FILE)).mode & 0o777, 0o600);
  assert.ok(
    files
      .filter((f) => f.path !== SECRET_DIGESTS_FILE && !tree.find((a) => a.path === f.path)?.holdsSecret)
      .every((f) => /^[0-9a-f]{64}$/.test(f.sha256 ?? '')),
  );
  const digestsBefore = readFileSync(join(dir, SECRET_DIGESTS_FILE), 'utf8');
  // Regenerating the same tree: manifest.json is the same bytes; the digests are keyed anew.
  await writeTree(dir, secretTree('hunter2'));
  assert.is(readFileSync(join(dir, MANIFEST_FILE), 'utf8'), manifestText);
  assert.is.not(readFileSync(join(dir, SECRET_DIGESTS_FILE), 'utf8'), digestsBefore);
  assert.equal(inspectTree(dir, dir), { losses: [] });
});

test('an edit of a secret-bearing file is caught without a published digest; so is a missing secret-digests.json', async () => {
  const dir = join(scratch, 'secret-edit');
  await writeTree(dir, secretTree('hunter2'));
  const ud = join(dir, 'user-data');
  writeFileSync(ud, readFileSync(ud, 'utf8').replace('hunter2', 'hunter3'));
  assert.equal(inspectTree(dir, dir).losses, [{ change: 'changed', path: 'user-data', detail: 'content' }]);
  await writeTree(dir, secretTree('hunter2'), { force: true });
  unlinkSync(join(dir, SECRET_DIGESTS_FILE));
  assert.equal(inspectTree(dir, dir).losses, [
    { change: 'changed', path: 'preseed/lxd.yaml', detail: `cannot be checked: ${SECRET_DIGESTS_FILE} is missing or not gen's` },
    { change: 'missing', path: SECRET_DIGESTS_FILE },
    { change: 'changed', path: 'user-data', detail: `cannot be checked: ${SECRET_DIGESTS_FILE} is missing or not gen's` },
  ]);
});

test('without a secret, manifest.json is what it always was (no secret-digests.json)', () => {
  const g = generate({ profiles: ['lxd-small'] }, { packer: true, secrets: 'resolve' });
  const manifest = renderManifest(g.stack.plan.stack, '0', g.artifacts);
  assert.not.ok(manifest.text.includes(SECRET_DIGESTS_FILE));
  assert.ok((JSON.parse(manifest.text) as { files: { sha256: string }[] }).files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256)));
});

// Property: a tree gen wrote (random paths, modes, contents, secrets) inspects as exactly gen's;
// after any one edit an operator could make, the inspection lists it.
const segment = fc.constantFrom('a', 'b', 'c.conf', 'd d', 'é', '.hidden', 'x\ny');
const artifactArb = fc.record({
  path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')),
  mode: fc.constantFrom(0o600, 0o644, 0o755),
  text: fc.string({ maxLength: 40 }),
  holdsSecret: fc.boolean(),
});
const treeArb = fc
  .uniqueArray(artifactArb, { minLength: 1, maxLength: 8, selector: (a) => a.path })
  // A path that is also another's directory cannot be a file.
  .filter((list) => list.every((a) => !list.some((b) => b.path.startsWith(`${a.path}/`))))
  .map((list) => list.map((a): Artifact => ({ kind: 'sysctl', purpose: 'test', format: 'text', ...a })));
type Edit = 'add' | 'content' | 'mode' | 'delete' | 'link' | 'empty-dir' | 'fifo' | 'manifest';
const editArb = fc.record({
  edit: fc.constantFrom<Edit>('add', 'content', 'mode', 'delete', 'link', 'empty-dir', 'fifo', 'manifest'),
  pick: fc.nat(),
});

test("property: a tree gen wrote is gen's; after any one edit, the edit is listed", async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, editArb, async (artifacts, { edit, pick }) => {
      const dir = join(scratch, 'prop', String(n++));
      await writeTree(dir, treeOf(artifacts, ['test']));
      assert.equal(inspectTree(dir, dir), { losses: [] });
      const target = artifacts[pick % artifacts.length]!;
      const file = join(dir, target.path);
      const fresh = join(dir, `new-${n}`);
      const edits: Record<Edit, () => string> = {
        add: () => (writeFileSync(fresh, 'x'), fresh),
        content: () => (writeFileSync(file, `${target.text}!`), file),
        mode: () => (chmodSync(file, target.mode === 0o600 ? 0o640 : 0o600), file),
        delete: () => (unlinkSync(file), file),
        link: () => (unlinkSync(file), symlinkSync('/etc/passwd', file), file),
        'empty-dir': () => (mkdirSync(fresh), fresh),
        fifo: () => (mkfifo(fresh), fresh),
        manifest: () => (writeFileSync(join(dir, MANIFEST_FILE), '{'), join(dir, MANIFEST_FILE)),
      };
      const rel = edits[edit]().slice(dir.length + 1);
      const found = inspectTree(dir, dir);
      assert.ok(
        found.losses.some((l) => l.path === rel),
        `${edit} of ${rel}: ${JSON.stringify(found)}`,
      );
      if (edit === 'manifest') assert.is(found.notOurs, `its ${MANIFEST_FILE} is not JSON`);
      rmSync(dir, { recursive: true, force: true });
    }),
    { numRuns: 60, seed: 12 },
  );
});

// Property: resolveOutTarget refuses exactly the paths whose real path (coreutils' realpath -m of
// the normalised path) is /, the working directory or a parent of it, or the home directory or a
// parent of it; and it throws nothing but a UsageError.
test('property: --out is refused exactly when its real path is /, the working directory or home, or holds one', () => {
  const pieces = ['.', '..', 'sub', 'link-to-cwd', 'link-to-parent', 'link-to-home', 'notes.txt', 'new', ''];
  const pathArb = fc
    .tuple(fc.boolean(), fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 6 }))
    .map(([abs, parts]) => (abs ? `${cwd}/` : '') + parts.join('/'));
  const before = process.cwd();
  const savedHome = process.env.HOME;
  process.chdir(cwd);
  process.env.HOME = home;
  try {
    fc.assert(
      fc.property(pathArb, (out) => {
        let refused: string | undefined;
        try {
          resolveOutTarget(out);
        } catch (e) {
          assert.ok(e instanceof UsageError, String(e));
          refused = e.message;
        }
        if (out === '') return assert.ok(refused);
        const real = spawnSync('realpath', ['-m', resolve(out)], { encoding: 'utf8' }).stdout.trim();
        const holds = (dir: string) => dir === real || dir.startsWith(`${real === '/' ? '' : real}/`);
        const mustRefuse = real === '/' || holds(cwd) || holds(home);
        if (mustRefuse) assert.match(refused ?? 'accepted', /root directory|current directory|home directory/, `${out} -> ${real}`);
        else assert.not.match(refused ?? '', /root directory|current directory|home directory/, `${out} -> ${real}`);
      }),
      { numRuns: 300, seed: 12 },
    );
  } finally {
    process.chdir(before);
    if (savedHome === undefined) delete process.env.HOME;
    else process.env.HOME = savedHome;
  }
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
