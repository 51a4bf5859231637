import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveStack } from '../src/pipeline.ts';
import { headerLine, type Artifact } from '../src/render/artifact.ts';
import { renderTemplate } from '../src/render/engine.ts';
import { renderHostFiles } from '../src/render/host-files.ts';
import { PACKER_SCRIPTS, renderPacker } from '../src/render/packer.ts';
import { GENERATOR_VERSION } from '../src/version.ts';
import { run, type Run } from './helpers.ts';

/*
 * The Packer provisioner scripts stay inside ROOT: no symbolic link inside ROOT leads a write, a
 * directory creation, a replacement or a read outside it. The judge of "inside" is the kernel: a
 * python3 process chroot()ed into ROOT (the system python3; these tests run as root, like the rest
 * of the suite) reports what each path is from inside ROOT, before and after a script runs. Each
 * script runs against hostile ROOTs ("link farms") built in a scratch box next to an `outside`
 * directory full of sentinels; after every run, `outside` is byte-identical and nothing new appeared
 * in the box. What the script must do is predicted from the chroot's view before it runs:
 *  - a path the chroot can walk, or that is missing (a dangling link included), is written where
 *    the chroot sees it: missing directories are created there, a link at the file itself is
 *    replaced by the file (never written through);
 *  - a path the chroot cannot walk (ELOOP: a loop; ENOTDIR: a file where a directory is needed), or
 *    a directory where a file is to be written, stops the script with exit 1 and one line on stderr
 *    naming the path.
 * Each script gets named farms (the cases chosen on purpose, each with its documented outcome) and
 * random ones. Last, the resolver itself (root_walk) is compared with the kernel path by path on
 * random link farms: the same inode, missing where the chroot finds nothing, refused exactly where
 * the chroot meets a loop.
 */

const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-packer-root-'));
let counter = 0;

const SUITE = 'bookworm-backports';
const BACKPORTS_LINE = `deb http://deb.debian.org/debian ${SUITE} main\n`;

/** The three scripts of incus-dense + 10gbe on Debian 12 (the backports install), and
 * 20-install-manager.sh for `install: present`, written once into the scratch directory. */
const scripts = (() => {
  const { plan } = resolveStack({ profiles: ['incus-dense', '10gbe', 'debian-12'], profilesDir: 'test/e2e/profiles' });
  const present = structuredClone(plan);
  present.manager = { ...present.manager, install: 'present', deb: undefined };
  const header = headerLine(plan.stack, GENERATOR_VERSION);
  const hostFiles = renderHostFiles(plan, header);
  const slim: Artifact = {
    kind: 'packer-user-data',
    path: 'packer/user-data',
    mode: 0o600,
    purpose: 'x',
    text: '#cloud-config\n',
    format: 'cloud-config',
    data: {},
  };
  const dir = join(scratch, 'scripts');
  mkdirSync(dir);
  const write = (name: string, artifacts: Artifact[], path: string) => {
    writeFileSync(join(dir, name), artifacts.find((a) => a.path === `packer/${path}`)!.text);
    return join(dir, name);
  };
  const main = renderPacker(plan, header, hostFiles, slim);
  assert.ok(plan.manager.deb?.backports, 'incus-dense on Debian 12 installs from backports');
  return {
    files: write('10-files.sh', main, PACKER_SCRIPTS[0]),
    install: write('20-install-manager.sh', main, PACKER_SCRIPTS[1]),
    cleanup: write('90-cleanup.sh', main, PACKER_SCRIPTS[2]),
    present: write('20-install-present.sh', renderPacker(present, header, hostFiles, slim), PACKER_SCRIPTS[1]),
    hostFiles: hostFiles.filter((f) => f.hostPath !== undefined).map((f) => ({ rel: f.hostPath!.slice(1), text: f.text, mode: f.mode })),
  };
})();

/** `chroot ROOT COMMAND…` that does nothing: the commands run through chroot are contained by the
 * kernel and are not what these tests are about. */
const stubBin = (() => {
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'chroot'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'chroot'), 0o755);
  return bin;
})();

// ---------------------------------------------------------------------------------------------
// The kernel's view from inside ROOT.

type Stat =
  | { error: string }
  | { type: 'file' | 'dir' | 'link' | 'other'; mode: number; bytes?: string; names?: string[]; target?: string; id: string };
type View = Record<string, { lstat: Stat; stat: Stat }>;

// One python3 for a batch of roots: a child per root chroot()s into it and reports its paths.
const ORACLE = `
import base64, errno, json, os, stat, sys
def info(fn, p):
    try:
        st = fn(p)
    except OSError as e:
        return {"error": errno.errorcode.get(e.errno, str(e.errno))}
    m = st.st_mode
    kind = "file" if stat.S_ISREG(m) else "dir" if stat.S_ISDIR(m) else "link" if stat.S_ISLNK(m) else "other"
    out = {"type": kind, "mode": stat.S_IMODE(m), "id": "%d:%d" % (st.st_dev, st.st_ino)}
    if kind == "file":
        with open(p, "rb") as f:
            out["bytes"] = base64.b64encode(f.read()).decode()
    if kind == "dir":
        out["names"] = sorted(os.listdir(p))
    if kind == "link":
        out["target"] = os.readlink(p)
    return out
views = []
for job in json.load(sys.stdin):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.chroot(job["root"])
        os.chdir("/")
        view = {p: {"lstat": info(os.lstat, p), "stat": info(os.stat, p)} for p in job["paths"]}
        with os.fdopen(w, "w") as f:
            json.dump(view, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit("the oracle's child for %s failed" % job["root"])
    views.append(json.loads(data))
json.dump(views, sys.stdout)
`;

/** For each job, what each path (absolute, as seen from inside `root`) is to a process chroot()ed
 * into `root`: the kernel's own resolution. */
function chrootViews(jobs: { root: string; paths: string[] }[]): View[] {
  const r = spawnSync('/usr/bin/python3', ['-S', '-E', '-c', ORACLE], {
    input: JSON.stringify(jobs),
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  assert.is(r.status, 0, `the chroot oracle failed (the suite runs as root): ${r.stderr}`);
  return JSON.parse(r.stdout) as View[];
}

const err = (s: Stat) => ('error' in s ? s.error : undefined);
const text = (s: Stat) => ('bytes' in s && s.bytes !== undefined ? Buffer.from(s.bytes, 'base64').toString('utf8') : undefined);

// ---------------------------------------------------------------------------------------------
// Hostile ROOTs.

/**
 * What a path under ROOT is made of, planted before a script runs:
 * - absent, dir, file (file2: the scenario's other content or mode);
 * - out-abs: an absolute link to the same path in `outside`; out-rel: a relative link that climbs
 *   with `..` far above ROOT, then down to it;
 * - in-abs: an absolute link to `outside/alt/PATH`, which exists both outside and (re-rooted)
 *   inside ROOT (as a directory, or a leaf's `file`), so following it the host's way and the
 *   chroot's way give different places;
 * - dangling: an absolute link to `outside/missing/PATH`, which exists nowhere;
 * - loop-self: a link to itself; loop-via-out: a link to `outside/loops/PATH`, which inside ROOT
 *   links back to PATH (a loop only the chroot's way; on the host it leads outside).
 */
const KINDS = ['absent', 'dir', 'file', 'file2', 'out-abs', 'out-rel', 'in-abs', 'dangling', 'loop-self', 'loop-via-out'] as const;
type Kind = (typeof KINDS)[number];
type Farm = Record<string, Kind>;

interface Box {
  dir: string;
  root: string;
  outside: string;
}

/** A scenario: the paths a script touches (directories, files) and what its files hold. */
interface Scenario {
  nodes: string[];
  leaves: string[];
  /** A leaf planted as a file (alt: the `file2` kind) inside ROOT. */
  fileOf(rel: string, alt: boolean): { text: string; mode: number };
  /** The sentinel a leaf holds in `outside`. */
  sentinel(rel: string): { text: string; mode: number };
}

const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
const baseOf = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

function putFile(path: string, f: { text: string; mode: number }): void {
  writeFileSync(path, f.text);
  chmodSync(path, f.mode);
}

/** Every directory prefix of the given relative file paths, parents first. */
function prefixes(leaves: string[]): string[] {
  const out = new Set<string>();
  for (const l of leaves) {
    const parts = l.split('/');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return [...out].sort();
}

/**
 * A fresh box: `outside` mirrors every node as a directory and every leaf as a sentinel file
 * (under `outside/` and `outside/alt/`); ROOT is planted from `farm` (a missing entry is `dir` for
 * a node and `absent` for a leaf). An entry whose parent in ROOT is not a real directory is not
 * planted: planting never follows a link.
 */
function buildBox(s: Scenario, farm: Farm): Box {
  const dir = join(scratch, `box-${counter++}`);
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(root, { recursive: true });
  for (const base of [outside, join(outside, 'alt')]) {
    for (const n of s.nodes) mkdirSync(join(base, n), { recursive: true });
    for (const l of s.leaves) {
      mkdirSync(join(base, parentOf(l)), { recursive: true });
      putFile(join(base, l), s.sentinel(l));
    }
  }
  const isNode = new Set(s.nodes);
  const kindOf = (rel: string): Kind => farm[rel] ?? (isNode.has(rel) ? 'dir' : 'absent');
  const underRealDirs = (rel: string): boolean => parentOf(rel) === '' || (kindOf(parentOf(rel)) === 'dir' && underRealDirs(parentOf(rel)));
  const inRoot = (hostPath: string) => join(root, hostPath);
  for (const rel of [...s.nodes, ...s.leaves].sort()) {
    if (!underRealDirs(rel)) continue;
    const at = join(root, rel);
    const depth = rel.split('/').length;
    const kind = kindOf(rel);
    const fileAt = (p: string, alt: boolean) => (isNode.has(rel) ? writeFileSync(p, 'not a directory\n') : putFile(p, s.fileOf(rel, alt)));
    switch (kind) {
      case 'absent':
        break;
      case 'dir':
        mkdirSync(at);
        break;
      case 'file':
      case 'file2':
        fileAt(at, kind === 'file2');
        break;
      case 'out-abs':
        symlinkSync(join(outside, rel), at);
        break;
      case 'out-rel':
        // More `..` than ROOT is deep: on the host they stop at /, in a chroot at ROOT.
        symlinkSync('../'.repeat(depth + 24) + join(outside, rel).slice(1), at);
        break;
      case 'in-abs': {
        const target = join(outside, 'alt', rel);
        mkdirSync(parentOf(inRoot(target)), { recursive: true });
        if (isNode.has(rel)) mkdirSync(inRoot(target));
        else fileAt(inRoot(target), false);
        symlinkSync(target, at);
        break;
      }
      case 'dangling':
        symlinkSync(join(outside, 'missing', rel), at);
        break;
      case 'loop-self':
        symlinkSync(baseOf(rel), at);
        break;
      case 'loop-via-out': {
        const target = join(outside, 'loops', rel);
        mkdirSync(parentOf(inRoot(target)), { recursive: true });
        symlinkSync(`/${rel}`, inRoot(target));
        symlinkSync(target, at);
        break;
      }
    }
  }
  return { dir, root, outside };
}

type Entry = { type: string; mode: number; bytes?: string; target?: string };

/** Every entry under `dir` (links not followed): type, mode, bytes of files, targets of links. */
function tree(dir: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const e: Entry = {
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other',
        mode: st.mode & 0o7777,
      };
      if (st.isFile()) e.bytes = readFileSync(p).toString('base64');
      if (st.isSymbolicLink()) e.target = readlinkSync(p);
      out[r] = e;
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, '');
  return out;
}

/** What a script must do with a farm, predicted from the chroot's view before it runs. */
type Outcome = { refuse: true } | { refuse: false };

/** How one script treats hostile ROOTs: what it must do (`predict`) and whether it did (`check`). */
interface Runner<O extends Outcome> {
  scenario: Scenario;
  script: string;
  /** The script's name at the start of its messages. */
  me: string;
  env?: NodeJS.ProcessEnv;
  predict(before: View): O;
  /** Throws unless a run that was not refused did what `o` says, judged by the chroot's view after it. */
  check(r: Run, before: View, after: View, o: O): void;
}

interface FarmResult<O> {
  farm: Farm;
  outcome: O;
  /** Why the run broke a rule, with the farm and the script's output; undefined when it kept them all. */
  failure?: string;
}

/**
 * Runs a script on a box built from each farm (ROOT=box/root), then checks every run: `outside`
 * unchanged and nothing new next to ROOT; a predicted refusal is exit 1 with the script's own
 * message naming a path and what is wrong; anything else passes `check`. The chroot views of all
 * boxes are taken in one batch before and one after.
 */
function runFarms<O extends Outcome>(x: Runner<O>, farms: Farm[]): FarmResult<O>[] {
  const s = x.scenario;
  const boxes = farms.map((f) => buildBox(s, f));
  const paths = [...s.nodes, ...s.leaves].map((p) => `/${p}`);
  const outsideBefore = boxes.map((b) => tree(b.outside));
  const before = chrootViews(boxes.map((b) => ({ root: b.root, paths })));
  const runs = boxes.map((b) =>
    run('bash', [x.script], { env: { PATH: `${stubBin}:/usr/bin:/bin`, LC_ALL: 'C', ROOT: b.root, ...x.env } }),
  );
  const after = chrootViews(boxes.map((b) => ({ root: b.root, paths })));
  const refusal = new RegExp(
    `^${x.me}: /\\S*: .*(more than 40 symbolic links|is not a directory|is a directory; not replacing it|cannot turn SSH password login off)`,
    'm',
  );
  return farms.map((farm, i) => {
    const r = runs[i]!;
    const outcome = x.predict(before[i]!);
    try {
      assert.equal(tree(boxes[i]!.outside), outsideBefore[i], 'something outside ROOT changed');
      assert.equal(readdirSync(boxes[i]!.dir).sort(), ['outside', 'root'], 'something appeared next to ROOT');
      if (outcome.refuse) {
        assert.is(r.status, 1, 'a refusal exits 1');
        assert.match(r.stderr, refusal, 'no clear refusal on stderr');
      } else {
        x.check(r, before[i]!, after[i]!, outcome);
      }
      rmSync(boxes[i]!.dir, { recursive: true, force: true });
      return { farm, outcome };
    } catch (e) {
      const failure = `${(e as Error).message}\nfarm ${JSON.stringify(farm)} (box ${boxes[i]!.dir})\npredicted ${JSON.stringify(outcome)}\nexit ${r.status}\nstdout:\n${r.stdout}stderr:\n${r.stderr}`;
      return { farm, outcome, failure };
    }
  });
}

/**
 * The random farms and paths below are drawn with this fixed seed: every run tries the same ones,
 * so the outcome counts asserted for them are stable. Change it to explore other farms.
 */
const SEED = 12;

/** Named farms first, then `random` random ones; run once, on first use. */
function farmBatch<O extends Outcome>(x: Runner<O>, named: Farm[], random: number): () => FarmResult<O>[] {
  let results: FarmResult<O>[] | undefined;
  return () => (results ??= runFarms(x, [...named, ...fc.sample(farmOf(x.scenario), { seed: SEED, numRuns: random })]));
}

/** Asserts that every random farm of a batch kept the rules and that each outcome label occurred
 * at least `min[label]` times (the property is not vacuous). */
function assertRandom<O extends Outcome>(results: FarmResult<O>[], label: (o: O) => string, min: Record<string, number>): void {
  const failures = results.filter((r) => r.failure);
  assert.is(failures.length, 0, `${failures.length} of ${results.length} farms broke a rule; the first:\n${failures[0]?.failure}`);
  const seen: Record<string, number> = {};
  for (const r of results) seen[label(r.outcome)] = (seen[label(r.outcome)] ?? 0) + 1;
  for (const [k, n] of Object.entries(min)) assert.ok((seen[k] ?? 0) >= n, `too few "${k}" outcomes: ${JSON.stringify(seen)}`);
}

/** Asserts that one named farm kept the rules and had the outcome this project chose for it. */
function assertNamed<O extends Outcome>(result: FarmResult<O>, label: (o: O) => string, expected: string): void {
  assert.not.ok(result.failure, result.failure);
  assert.is(label(result.outcome), expected, 'the chroot view disagrees with the documented outcome');
}

/**
 * A random farm: every node a directory, every leaf absent (3 in 4) or a file of either content;
 * then one to three nodes or leaves get any kind, so most farms are ordinary trees with a few
 * hostile entries at random depths.
 */
function farmOf(s: Scenario): fc.Arbitrary<Farm> {
  const leaf = fc.oneof({ arbitrary: fc.constant<Kind>('absent'), weight: 3 }, fc.constantFrom<Kind>('file', 'file2'));
  const base = fc.record(Object.fromEntries(s.leaves.map((l) => [l, leaf])));
  const hostile = fc.array(fc.tuple(fc.constantFrom(...s.nodes, ...s.leaves), fc.constantFrom(...KINDS)), { minLength: 1, maxLength: 3 });
  return fc.tuple(base, hostile).map(([b, h]) => ({ ...b, ...Object.fromEntries(h) }) as Farm);
}

const typeOf = (st: Stat) => ('error' in st ? undefined : st.type);

/** Does the chroot refuse to walk to a directory (a loop, or a file where a directory is needed)?
 * A missing one (ENOENT, a dangling link included) is created by the scripts, not refused. */
function dirRefused(st: Stat): boolean {
  const e = err(st);
  return e === 'ELOOP' || e === 'ENOTDIR' || (e === undefined && typeOf(st) !== 'dir');
}

// ---------------------------------------------------------------------------------------------
// 10-files.sh

const filesRunner: Runner<Outcome> = {
  scenario: {
    nodes: prefixes(scripts.hostFiles.map((f) => f.rel)),
    leaves: scripts.hostFiles.map((f) => f.rel),
    fileOf: (rel, alt) => ({ text: `old ${rel}\n`, mode: alt ? 0o600 : 0o644 }),
    sentinel: (rel) => ({ text: `sentinel outside ROOT: ${rel}\n`, mode: 0o640 }),
  },
  script: scripts.files,
  me: '10-files',
  predict(before) {
    for (const f of scripts.hostFiles) {
      if (dirRefused(before[`/${parentOf(f.rel)}`]!.stat)) return { refuse: true };
      if (typeOf(before[`/${f.rel}`]!.lstat) === 'dir') return { refuse: true };
    }
    return { refuse: false };
  },
  check(r, _before, after) {
    assert.is(r.status, 0, 'exit status');
    for (const f of scripts.hostFiles) {
      const st = after[`/${f.rel}`]!.lstat;
      assert.is(typeOf(st), 'file', `/${f.rel} is not a regular file in the chroot: ${JSON.stringify(st)}`);
      assert.is(text(st), f.text, `/${f.rel} bytes`);
      assert.is((st as { mode: number }).mode, f.mode, `/${f.rel} mode`);
      assert.ok(r.stdout.includes(`10-files: wrote /${f.rel} (0${f.mode.toString(8)})\n`), `no "wrote /${f.rel}" line`);
    }
  },
};

const filesLabel = (o: Outcome) => (o.refuse ? 'refuses' : 'writes');

/** Named farms for 10-files.sh, each with the outcome this project chose for it. */
const FILES_CASES: [string, Farm, 'writes' | 'refuses'][] = [
  ['etc is an absolute link out of ROOT: followed from ROOT, the files land in ROOT/<target>', { etc: 'out-abs' }, 'writes'],
  ['etc/born-tuned is an absolute link out of ROOT', { 'etc/born-tuned': 'out-abs' }, 'writes'],
  ['usr/local/sbin is an absolute link out of ROOT', { 'usr/local/sbin': 'out-abs' }, 'writes'],
  ['usr is an absolute link out of ROOT', { usr: 'out-abs' }, 'writes'],
  ['etc/systemd/system/incus.service.d is an absolute link out of ROOT', { 'etc/systemd/system/incus.service.d': 'out-abs' }, 'writes'],
  ['etc/security/limits.d is an absolute link out of ROOT', { 'etc/security/limits.d': 'out-abs' }, 'writes'],
  ['etc is a relative link climbing ../../.. above ROOT: `..` stops at ROOT', { etc: 'out-rel' }, 'writes'],
  ['etc/udev/rules.d is a relative link climbing above ROOT', { 'etc/udev/rules.d': 'out-rel' }, 'writes'],
  [
    'the file itself is a link to a file outside: the link is replaced, the outside file untouched',
    { 'etc/born-tuned/sysctl.wanted': 'out-abs' },
    'writes',
  ],
  ['the file itself is a relative link climbing out', { 'usr/local/sbin/born-tuned-step': 'out-rel' }, 'writes'],
  ['the file itself is a dangling link', { 'etc/tmpfiles.d/born-tuned-hide-instance-names.conf': 'dangling' }, 'writes'],
  ['etc/tmpfiles.d links to a directory that exists at the same path inside ROOT and outside', { 'etc/tmpfiles.d': 'in-abs' }, 'writes'],
  ['etc/born-tuned is a dangling absolute link: its target is created inside ROOT', { 'etc/born-tuned': 'dangling' }, 'writes'],
  ['etc links through outside/loops back to /etc (a loop only inside ROOT)', { etc: 'loop-via-out' }, 'refuses'],
  ['etc/born-tuned links to itself', { 'etc/born-tuned': 'loop-self' }, 'refuses'],
  ['usr/local is a loop through outside', { 'usr/local': 'loop-via-out' }, 'refuses'],
  ['etc/udev is a regular file', { 'etc/udev': 'file' }, 'refuses'],
  ['the file to write is a directory', { 'etc/born-tuned/sysctl.wanted': 'dir' }, 'refuses'],
];

const filesResults = farmBatch(
  filesRunner,
  FILES_CASES.map((c) => c[1]),
  30,
);

FILES_CASES.forEach(([name, , expected], i) => {
  test(`10-files.sh, hostile ROOT: ${name} (${expected})`, () => assertNamed(filesResults()[i]!, filesLabel, expected));
});

test('10-files.sh, 30 random hostile ROOTs: outside never changes; each file is written where the chroot sees it, or the script refuses exactly where the chroot cannot walk', () => {
  assertRandom(filesResults().slice(FILES_CASES.length), filesLabel, { writes: 5, refuses: 5 });
});

test('10-files.sh: a ROOT that is not a directory stops it before anything is written', () => {
  const dir = join(scratch, `box-${counter++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'file'), '');
  for (const root of [join(dir, 'missing'), join(dir, 'file')]) {
    const r = run('bash', [scripts.files], { env: { PATH: '/usr/bin:/bin', ROOT: root } });
    assert.is(r.status, 1);
    assert.is(r.stderr, `10-files: ROOT=${root} is not a directory\n`);
    assert.is(r.stdout, '');
  }
  assert.equal(readdirSync(dir), ['file']);
});

// ---------------------------------------------------------------------------------------------
// 20-install-manager.sh: the apt sources it reads and the one it adds.

const APT_LIST = '/etc/apt/sources.list.d/born-tuned-backports.list';
const APT_LEAVES = [
  'etc/apt/sources.list',
  'etc/apt/sources.list.d/debian.sources',
  'etc/apt/sources.list.d/extra.list',
  APT_LIST.slice(1),
];

type InstallOutcome = { refuse: true } | { refuse: false; found: boolean };

const installRunner: Runner<InstallOutcome> = {
  scenario: {
    nodes: prefixes(APT_LEAVES),
    leaves: APT_LEAVES,
    // `file` names the backports suite, `file2` another suite.
    fileOf: (_rel, alt) => ({ text: `deb http://inside.invalid/debian ${alt ? 'bookworm' : SUITE} main\n`, mode: 0o644 }),
    // Every source outside names the suite: reading one of them instead of ROOT's skips the write.
    sentinel: () => ({ text: `deb http://outside.invalid/debian ${SUITE} main\n`, mode: 0o644 }),
  },
  script: scripts.install,
  me: '20-install-manager',
  // has_suite as the chroot sees it: sources.list, then sources.list.d's *.list, then *.sources.
  predict(before) {
    const dirStat = before['/etc/apt/sources.list.d']!.stat;
    if (err(dirStat) === 'ELOOP') return { refuse: true };
    const names = 'names' in dirStat ? dirStat.names! : [];
    const inDir = (ext: string) => names.filter((n) => n.endsWith(ext)).map((n) => `/etc/apt/sources.list.d/${n}`);
    for (const p of ['/etc/apt/sources.list', ...inDir('.list'), ...inDir('.sources')]) {
      const seen = before[p];
      if (!seen) throw new Error(`the farm put ${p} in sources.list.d, which the test does not look at`);
      if (err(seen.stat) === 'ELOOP') return { refuse: true };
      const t = text(seen.stat);
      if (t !== undefined && t.split('\n').some((line) => !/^\s*#/.test(line) && line.split(/\s+/).includes(SUITE)))
        return { refuse: false, found: true };
    }
    if (dirRefused(dirStat) || typeOf(before[APT_LIST]!.lstat) === 'dir') return { refuse: true };
    return { refuse: false, found: false };
  },
  check(r, before, after, o) {
    assert.is(r.status, 0, 'exit status');
    if (o.refuse) return;
    if (o.found) {
      assert.not.match(r.stdout, /added/, 'a source was added although one names the suite');
      assert.equal(after[APT_LIST], before[APT_LIST]);
    } else {
      assert.match(r.stdout, `20-install-manager: added ${APT_LIST} (${SUITE})\n`);
      const st = after[APT_LIST]!.lstat;
      assert.is(typeOf(st), 'file', `${APT_LIST} is not a regular file in the chroot: ${JSON.stringify(st)}`);
      assert.is(text(st), BACKPORTS_LINE);
      assert.is((st as { mode: number }).mode, 0o644);
    }
  },
};

const installLabel = (o: InstallOutcome) => (o.refuse ? 'refuses' : o.found ? 'finds the suite' : 'adds the source');

const INSTALL_CASES: [string, Farm, string][] = [
  [
    'etc/apt/sources.list.d is an absolute link out of ROOT (whose sources name the suite): not read, the source is added inside ROOT',
    { 'etc/apt/sources.list.d': 'out-abs' },
    'adds the source',
  ],
  [
    'etc/apt/sources.list is a link to an outside file naming the suite: not read',
    { 'etc/apt/sources.list': 'out-abs' },
    'adds the source',
  ],
  ['etc is a relative link climbing above ROOT', { etc: 'out-rel' }, 'adds the source'],
  [
    'born-tuned-backports.list is a link to an outside file: replaced, not written through',
    { [APT_LIST.slice(1)]: 'out-abs' },
    'adds the source',
  ],
  [
    'debian.sources links to a file inside ROOT naming the suite: read as the chroot reads it',
    { 'etc/apt/sources.list.d/debian.sources': 'in-abs' },
    'finds the suite',
  ],
  ['extra.list is a source inside ROOT naming the suite', { 'etc/apt/sources.list.d/extra.list': 'file' }, 'finds the suite'],
  ['etc/apt links to itself', { 'etc/apt': 'loop-self' }, 'refuses'],
  ['sources.list is a loop through outside', { 'etc/apt/sources.list': 'loop-via-out' }, 'refuses'],
  ['born-tuned-backports.list is a directory', { [APT_LIST.slice(1)]: 'dir' }, 'refuses'],
];

const installResults = farmBatch(
  installRunner,
  INSTALL_CASES.map((c) => c[1]),
  30,
);

INSTALL_CASES.forEach(([name, , expected], i) => {
  test(`20-install-manager.sh (backports), hostile ROOT: ${name} (${expected})`, () =>
    assertNamed(installResults()[i]!, installLabel, expected));
});

test('20-install-manager.sh (backports), 30 random hostile ROOTs: apt sources are read and added only where the chroot sees them', () => {
  assertRandom(installResults().slice(INSTALL_CASES.length), installLabel, { 'adds the source': 4, 'finds the suite': 4, refuses: 2 });
});

// ---------------------------------------------------------------------------------------------
// 20-install-manager.sh, install: present: where it looks for the client.

const CLIENT_DIRS = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin', 'snap/bin'];

type PresentOutcome = { refuse: true } | { refuse: false; found?: string };

const presentRunner: Runner<PresentOutcome> = {
  scenario: {
    nodes: prefixes(CLIENT_DIRS.map((d) => `${d}/incus`)),
    leaves: CLIENT_DIRS.map((d) => `${d}/incus`),
    // `file` is an executable client, `file2` one without execute permission.
    fileOf: (_rel, alt) => ({ text: '#!/bin/sh\n', mode: alt ? 0o644 : 0o755 }),
    // An executable client in every directory outside: finding one of them is the bug.
    sentinel: () => ({ text: '#!/bin/sh\necho outside\n', mode: 0o755 }),
  },
  script: scripts.present,
  me: '20-install-manager',
  predict(before) {
    for (const d of CLIENT_DIRS) {
      const st = before[`/${d}/incus`]!.stat;
      if (err(st) === 'ELOOP') return { refuse: true };
      if (typeOf(st) === 'file' && ((st as { mode: number }).mode & 0o111) !== 0) return { refuse: false, found: d };
    }
    return { refuse: false };
  },
  check(r, _before, _after, o) {
    if (o.refuse) return;
    if (o.found) {
      assert.is(r.status, 0, 'exit status');
      assert.is(r.stdout, `20-install-manager: found /${o.found}/incus\n`);
    } else {
      assert.is(r.status, 1, 'exit status');
      assert.match(r.stderr, /^20-install-manager: incus is not installed under /m);
    }
  },
};

const presentLabel = (o: PresentOutcome) => (o.refuse ? 'refuses' : (o.found ?? 'missing'));

const PRESENT_CASES: [string, Farm, string][] = [
  ['usr/bin/incus links to an executable outside ROOT: not found', { 'usr/bin/incus': 'out-abs' }, 'missing'],
  ['usr/local/sbin links to a directory outside ROOT holding incus: not found', { 'usr/local/sbin': 'out-abs' }, 'missing'],
  ['usr is a relative link climbing above ROOT: not found', { usr: 'out-rel' }, 'missing'],
  ['usr/bin/incus links to an executable inside ROOT: found', { 'usr/bin/incus': 'in-abs' }, 'usr/bin'],
  ['sbin/incus is in ROOT but not executable, bin/incus is: bin', { 'sbin/incus': 'file2', 'bin/incus': 'file' }, 'bin'],
  ['usr is a loop through outside', { usr: 'loop-via-out' }, 'refuses'],
];

const presentResults = farmBatch(
  presentRunner,
  PRESENT_CASES.map((c) => c[1]),
  30,
);

PRESENT_CASES.forEach(([name, , expected], i) => {
  test(`20-install-manager.sh (present), hostile ROOT: ${name}`, () => assertNamed(presentResults()[i]!, presentLabel, expected));
});

test('20-install-manager.sh (present), 30 random hostile ROOTs: the client is found only where the chroot sees it', () => {
  const bucket = (o: PresentOutcome) => (o.refuse ? 'refuses' : o.found ? 'found' : 'missing');
  assertRandom(presentResults().slice(PRESENT_CASES.length), bucket, { found: 5, missing: 3, refuses: 2 });
});

// ---------------------------------------------------------------------------------------------
// 90-cleanup.sh: /etc/machine-id is emptied inside ROOT only, every kind of etc x machine-id.

type CleanupOutcome = { refuse: true } | { refuse: false; emptied?: number };

const cleanupRunner: Runner<CleanupOutcome> = {
  scenario: {
    nodes: ['etc'],
    leaves: ['etc/machine-id'],
    fileOf: (_rel, alt) => ({ text: '0123456789abcdef0123456789abcdef\n', mode: alt ? 0o444 : 0o644 }),
    sentinel: () => ({ text: 'fedcba9876543210fedcba9876543210\n', mode: 0o444 }),
  },
  script: scripts.cleanup,
  me: '90-cleanup',
  env: { BUILD_USER: 'debian' },
  predict(before) {
    const etc = before['/etc']!.stat;
    if (err(etc) === 'ELOOP') return { refuse: true };
    if (typeOf(etc) !== 'dir') return { refuse: false };
    const id = before['/etc/machine-id']!.lstat;
    if (typeOf(id) === 'file') return { refuse: false, emptied: (id as { mode: number }).mode };
    if (typeOf(id) === 'link') return { refuse: false, emptied: 0o444 };
    return { refuse: false };
  },
  check(r, before, after, o) {
    assert.is(r.status, 0, 'exit status');
    if (o.refuse) return;
    const st = after['/etc/machine-id']!.lstat;
    if (o.emptied === undefined) {
      assert.equal(after['/etc/machine-id'], before['/etc/machine-id'], '/etc/machine-id changed');
    } else {
      assert.is(typeOf(st), 'file', `/etc/machine-id is not a regular file: ${JSON.stringify(st)}`);
      assert.is(text(st), '');
      assert.is((st as { mode: number }).mode, o.emptied);
    }
  },
};

test("90-cleanup.sh, every kind of etc x every kind of etc/machine-id: only ROOT's machine-id is emptied (a link there is replaced), a loop refuses", () => {
  const farms = KINDS.flatMap((etc) => KINDS.map((id): Farm => ({ etc, 'etc/machine-id': id })));
  const results = runFarms(cleanupRunner, farms);
  const failures = results.filter((r) => r.failure);
  assert.is(failures.length, 0, `${failures.length} of ${results.length} farms broke a rule; the first:\n${failures[0]?.failure}`);
  const outcome: Record<string, string> = {};
  for (const r of results)
    outcome[`${r.farm.etc} ${r.farm['etc/machine-id']}`] = r.outcome.refuse
      ? 'refuses'
      : r.outcome.emptied !== undefined
        ? `emptied 0${r.outcome.emptied.toString(8)}`
        : 'untouched';
  // The cases the brief names, with the outcome chosen for each.
  assert.is(outcome['dir out-abs'], 'emptied 0444', 'machine-id linked to an outside file: the link is replaced by an empty file');
  assert.is(outcome['dir out-rel'], 'emptied 0444');
  assert.is(outcome['dir file'], 'emptied 0644', 'a regular machine-id keeps its mode');
  assert.is(outcome['dir loop-self'], 'emptied 0444', 'a looping link at the file itself is replaced, never followed');
  assert.is(outcome['out-abs file'], 'untouched', 'etc linked out of ROOT: ROOT/<target>/machine-id does not exist');
  assert.is(outcome['in-abs absent'], 'untouched');
  assert.is(outcome['loop-via-out file'], 'refuses');
  assert.is(outcome['loop-self absent'], 'refuses');
  assert.is(outcome['dir dir'], 'untouched', 'a directory at /etc/machine-id is left alone');
});

// ---------------------------------------------------------------------------------------------
// 90-cleanup.sh: the per-host identity it removes and the sshd drop-in it writes, inside ROOT only.

/** Files 90-cleanup.sh removes (each inside a directory it clears or names), Incus's state included. */
const IDENTITY = [
  'var/lib/incus/server.crt',
  'var/lib/incus/database/local.db',
  'var/log/incus/incusd.log',
  'var/lib/dbus/machine-id',
  'etc/ssh/ssh_host_ed25519_key',
  'etc/ssh/sshd_config.d/50-cloud-init.conf',
  'var/lib/systemd/random-seed',
  'var/lib/dhcp/dhclient.enp1s0.leases',
  'var/log/journal/0123456789abcdef0123456789abcdef/system.journal',
  'var/log/wtmp',
];
/** Directories whose whole content goes: a node below one of them goes with it. */
const CLEARED = ['var/lib/incus', 'var/log/incus', 'var/log/journal'];
const SSHD_CONFIG = 'etc/ssh/sshd_config';
const SSHD_DROP_IN = 'etc/ssh/sshd_config.d/60-born-tuned-no-password.conf';
const GOOD_SSHD = 'Include /etc/ssh/sshd_config.d/*.conf\n#PasswordAuthentication yes\n';
/** Every directory the script walks (to clear it, or to reach a file it removes or writes). */
const WALKED = [
  'etc',
  'etc/ssh',
  'etc/ssh/sshd_config.d',
  'var/lib/incus',
  'var/log/incus',
  'var/lib/dbus',
  'var/lib/systemd',
  'var/lib/dhcp',
  'var/log/journal',
  'var/log',
];

type RemoveOutcome = { refuse: true } | { refuse: false; dropIn: boolean };

const removeRunner: Runner<RemoveOutcome> = {
  scenario: {
    nodes: prefixes([...IDENTITY, SSHD_CONFIG, SSHD_DROP_IN]),
    leaves: [...IDENTITY, SSHD_CONFIG, SSHD_DROP_IN],
    // sshd_config as `file` includes the drop-ins first; as `file2` it says yes before that (refused).
    fileOf: (rel, alt) =>
      rel === SSHD_CONFIG
        ? { text: alt ? 'PasswordAuthentication yes\n' + GOOD_SSHD : GOOD_SSHD, mode: 0o644 }
        : { text: `build VM: ${rel}\n`, mode: alt ? 0o600 : 0o644 },
    // Outside, every sshd_config is one the script accepts: reading it instead of ROOT's is caught.
    sentinel: (rel) => ({ text: rel === SSHD_CONFIG ? GOOD_SSHD : `sentinel outside ROOT: ${rel}\n`, mode: 0o640 }),
  },
  script: scripts.cleanup,
  me: '90-cleanup',
  predict(before) {
    if (WALKED.some((d) => err(before[`/${d}`]!.stat) === 'ELOOP')) return { refuse: true };
    const config = before[`/${SSHD_CONFIG}`]!.stat;
    if (err(config) === 'ELOOP') return { refuse: true };
    if (typeOf(config) !== 'file') return { refuse: false, dropIn: false };
    if (text(config) !== GOOD_SSHD) return { refuse: true };
    if (dirRefused(before[`/${parentOf(SSHD_DROP_IN)}`]!.stat) || typeOf(before[`/${SSHD_DROP_IN}`]!.lstat) === 'dir')
      return { refuse: true };
    return { refuse: false, dropIn: true };
  },
  check(r, before, after, o) {
    assert.is(r.status, 0, 'exit status');
    if (o.refuse) return;
    for (const rel of IDENTITY) {
      const st = after[`/${rel}`]!.lstat;
      assert.ok(err(st) !== undefined, `/${rel} is still there in the chroot: ${JSON.stringify(st)}`);
    }
    for (const d of CLEARED) {
      const was = before[`/${d}`]!.stat;
      const is = after[`/${d}`]!.stat;
      if (typeOf(was) === 'dir') assert.equal(typeOf(is) === 'dir' && 'names' in is ? is.names : is, [], `/${d} is not an empty directory`);
    }
    const dropIn = after[`/${SSHD_DROP_IN}`]!.lstat;
    if (o.dropIn) {
      assert.is(typeOf(dropIn), 'file', `/${SSHD_DROP_IN} is not a regular file in the chroot: ${JSON.stringify(dropIn)}`);
      assert.match(text(dropIn)!, /\nPasswordAuthentication no\n$/);
      assert.is((dropIn as { mode: number }).mode, 0o644);
    } else {
      assert.equal(after[`/${SSHD_DROP_IN}`], before[`/${SSHD_DROP_IN}`], 'the drop-in changed without an sshd_config');
    }
  },
};

const removeLabel = (o: RemoveOutcome) => (o.refuse ? 'refuses' : o.dropIn ? 'removes, writes the drop-in' : 'removes');

const REMOVE_CASES: [string, Farm, string][] = [
  [
    'var/lib/incus is an absolute link out of ROOT: the state of ROOT/<target> goes, not the outside',
    { 'var/lib/incus': 'out-abs' },
    'removes',
  ],
  ['var/lib is a relative link climbing above ROOT', { 'var/lib': 'out-rel' }, 'removes'],
  [
    'the daemon certificate is a link to an outside file: the link goes, the file stays',
    { 'var/lib/incus/server.crt': 'out-abs' },
    'removes',
  ],
  ['etc/ssh links to a directory inside ROOT: its host keys go', { 'etc/ssh': 'in-abs' }, 'removes'],
  ['var/log/journal is a dangling link', { 'var/log/journal': 'dangling' }, 'removes'],
  ['sshd_config includes the drop-ins first: the drop-in is written', { [SSHD_CONFIG]: 'file' }, 'removes, writes the drop-in'],
  [
    'the drop-in is a link to an outside file: replaced, not written through',
    { [SSHD_CONFIG]: 'file', [SSHD_DROP_IN]: 'out-abs' },
    'removes, writes the drop-in',
  ],
  ['sshd_config links to an outside file that includes the drop-ins: not read, no drop-in', { [SSHD_CONFIG]: 'out-abs' }, 'removes'],
  ['sshd_config sets PasswordAuthentication before the Include', { [SSHD_CONFIG]: 'file2' }, 'refuses'],
  ['var/lib/incus links to itself', { 'var/lib/incus': 'loop-self' }, 'refuses'],
  ['var/log is a loop through outside', { 'var/log': 'loop-via-out' }, 'refuses'],
];

const removeResults = farmBatch(
  removeRunner,
  REMOVE_CASES.map((c) => c[1]),
  40,
);

REMOVE_CASES.forEach(([name, , expected], i) => {
  test(`90-cleanup.sh (identity), hostile ROOT: ${name} (${expected})`, () => assertNamed(removeResults()[i]!, removeLabel, expected));
});

test('90-cleanup.sh (identity), 40 random hostile ROOTs: every identity file the chroot sees goes, nothing outside ROOT changes, the drop-in lands where the chroot sees it', () => {
  assertRandom(removeResults().slice(REMOVE_CASES.length), removeLabel, { removes: 5, refuses: 3 });
});

// ---------------------------------------------------------------------------------------------
// The resolver itself, against the kernel: random link farms, random paths.

/** A bash driver that prints, for each path argument, what root_walk makes of it under ROOT:
 * `ok PATH` (where it is on the host), `missing`, or `refused` (the script would stop). */
const walker = (() => {
  const p = join(scratch, 'walk.sh');
  writeFileSync(
    p,
    `#!/bin/bash
set -euo pipefail
me=walk
${renderTemplate('packer-root-paths.sh', {})}
for p in "$@"; do
	( if root_walk "$p" 0; then echo "ok $root_path"; else echo missing; fi ) 2>/dev/null || echo refused
done
`,
  );
  return p;
})();

/** A walker line with the host path it found replaced by that file's DEV:INO (links not followed:
 * root_walk leaves none in what it returns). */
function identify(line: string): string {
  if (!line.startsWith('ok ')) return line;
  const st = lstatSync(line.slice(3), { throwIfNoEntry: false });
  return st ? `ok ${st.dev}:${st.ino}` : `${line} (does not exist)`;
}

/** What the kernel says of a path from inside ROOT, in the walker's words. */
function kernelWord(st: Stat): string {
  const e = err(st);
  if (e === undefined) return `ok ${(st as { id: string }).id}`;
  return e === 'ENOENT' || e === 'ENOTDIR' ? 'missing' : e === 'ELOOP' ? 'refused' : e;
}

test('root_walk finds what a chroot at ROOT finds (the same inode), says missing where the chroot does, refuses exactly its loops: 80 random link farms', () => {
  const piece = fc.constantFrom('a', 'b', 'c', 'etc', '..', '.', '', 'OUT', 'SELF');
  const pathOf = fc.tuple(fc.boolean(), fc.array(piece, { minLength: 1, maxLength: 6 }), fc.boolean());
  const entry = fc.record({
    at: fc.array(fc.constantFrom('a', 'b', 'c', 'etc'), { minLength: 1, maxLength: 3 }),
    kind: fc.oneof({ arbitrary: fc.constantFrom('dir', 'file'), weight: 2 }, { arbitrary: fc.constant('link'), weight: 3 }),
    target: pathOf,
  });
  const cases = fc.sample(fc.tuple(fc.array(entry, { maxLength: 14 }), fc.array(pathOf, { minLength: 10, maxLength: 30 })), {
    seed: SEED,
    numRuns: 80,
  });
  const boxes = cases.map(([entries, queries]) => {
    const dir = join(scratch, `walk-${counter++}`);
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    mkdirSync(join(outside, 'a', 'b'), { recursive: true });
    writeFileSync(join(outside, 'a', 'c'), 'outside\n');
    writeFileSync(join(outside, 'b'), 'outside\n');
    symlinkSync('a', join(outside, 'etc'));
    mkdirSync(root);
    // OUT is the outside directory, SELF ROOT's own host path: both absolute only on the host.
    const spell = ([abs, parts, slash]: [boolean, string[], boolean]) =>
      (abs ? '/' : '') +
      parts.map((x) => (x === 'OUT' ? outside.slice(1) : x === 'SELF' ? root.slice(1) : x)).join('/') +
      (slash ? '/' : '');
    for (const e of entries) {
      // Planted only under real directories of ROOT: planting never follows a link.
      let parent = root;
      let ok = true;
      for (const part of e.at.slice(0, -1)) {
        parent = join(parent, part);
        const st = lstatSync(parent, { throwIfNoEntry: false });
        if (!st) mkdirSync(parent);
        else if (!st.isDirectory()) ok = false;
        if (!ok) break;
      }
      const at = join(parent, e.at[e.at.length - 1]!);
      if (!ok || lstatSync(at, { throwIfNoEntry: false })) continue;
      const target = spell(e.target);
      if (e.kind === 'dir') mkdirSync(at);
      else if (e.kind === 'file') writeFileSync(at, 'inside\n');
      else if (target !== '') symlinkSync(target, at);
    }
    return { dir, root, outside, paths: queries.map((q) => `/${spell(q)}`), outsideBefore: tree(outside) };
  });
  const kernel = chrootViews(boxes.map((b) => ({ root: b.root, paths: b.paths })));
  let compared = 0;
  boxes.forEach((b, i) => {
    const ours = run('bash', [walker, ...b.paths], { env: { PATH: '/usr/bin:/bin', ROOT: b.root } });
    assert.is(ours.status, 0, ours.stderr);
    const got = ours.stdout.split('\n').slice(0, -1).map(identify);
    assert.equal(
      got.map((g, j) => `${b.paths[j]} ${g}`),
      b.paths.map((p) => `${p} ${kernelWord(kernel[i]![p]!.stat)}`),
      `ROOT (${b.root}): ${JSON.stringify(tree(b.root))}`,
    );
    assert.equal(tree(b.outside), b.outsideBefore);
    compared += b.paths.length;
    rmSync(b.dir, { recursive: true, force: true });
  });
  assert.ok(compared >= 1000, `only ${compared} paths compared`);
});

test('root_walk with ROOT=/ resolves every path to itself, as the kernel does', () => {
  const paths = [
    '/bin/sh',
    '/usr/bin/../lib',
    '/etc/alternatives/awk',
    '/usr/bin/python3',
    '/etc/../../etc/hostname',
    '/lib64/',
    '/nonexistent-born-tuned/x',
    '/etc/hostname/x',
  ];
  const ours = run('bash', [walker, ...paths], { env: { PATH: '/usr/bin:/bin', ROOT: '/' } });
  assert.is(ours.status, 0, ours.stderr);
  const expected = paths.map((p) => {
    try {
      const st = statSync(p);
      return `ok ${st.dev}:${st.ino}`;
    } catch {
      return 'missing';
    }
  });
  assert.equal(ours.stdout.split('\n').slice(0, -1).map(identify), expected);
  assert.ok(expected.filter((e) => e.startsWith('ok')).length >= 5);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
