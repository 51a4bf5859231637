import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GEN, ROOT, run, type Run } from './helpers.ts';
import { goodHost } from './host-tree.ts';

/**
 * The npm package as a user gets it: `npm pack` in a copy of this checkout (its prepack build, and
 * stray files a user's tree may hold beside the sources), the tarball installed on its own with
 * `npm install -g --prefix DIR` (offline, under --strict-allow-scripts), and gen run from DIR/bin:
 * the same bytes as this checkout's build, `gen verify --root`, and the startup snapshot its first
 * run makes for this node in the background. Packing a copy leaves this checkout's dist/ alone
 * while other suites run it.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-package-'));
// npm's own variables, set when this runs under `npm test`, would steer the npm runs below.
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  NODE_OPTIONS: '',
  npm_config_update_notifier: 'false',
};
const npm = (args: string[], cwd: string) => run('npm', ['--no-audit', '--no-fund', ...args], { cwd, env });

// The copy: everything a clone has (tests, bench, CI files), node_modules shared with this checkout,
// no dist/ (prepack must build it), and what an operator leaves lying in a tree.
const source = join(scratch, 'born-tuned');
cpSync(ROOT, source, { recursive: true, filter: (from) => !/^\/(node_modules|dist|\.git)(\/|$)/.test(from.slice(ROOT.length)) });
symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
const STRAYS = [
  'user-data',
  'meta-data',
  'out/dense/user-data',
  'seeds/node1/user-data',
  'profiles/user-data',
  'templates/user-data',
  'dist/gen.blob',
  'dist/gen.blob.stamp',
  'born-tuned-0.0.9.tgz',
  '.env',
];
for (const f of STRAYS) {
  mkdirSync(join(source, f, '..'), { recursive: true });
  writeFileSync(join(source, f), '#cloud-config\npassword: hunter2\n');
}

const packed = npm(['pack', '--json', '--pack-destination', scratch], source);
const packReport =
  packed.status === 0 ? (JSON.parse(packed.stdout) as { filename: string; files: { path: string; mode: number }[] }[])[0] : undefined;
const tarball = join(scratch, packReport?.filename ?? 'no-tarball');
const prefix = join(scratch, 'prefix');
// npm 11's --strict-allow-scripts check reads DIR/lib before the install creates it.
mkdirSync(join(prefix, 'lib'), { recursive: true });
const installed = existsSync(tarball)
  ? npm(['install', '-g', '--prefix', prefix, '--offline', '--strict-allow-scripts', tarball], scratch)
  : undefined;
const pkgDir = join(prefix, 'lib', 'node_modules', 'born-tuned');
const bin = (name: string) => join(prefix, 'bin', name);
/** Where gen runs: no package.json, no profiles/, nothing of this checkout. */
const work = join(scratch, 'work');
mkdirSync(work);

/** A run with its package's place (messages name a profile by its path from `work`) written PKG. */
function placeless(r: Run, root: string): Run {
  const at = `${relative(work, root)}/`;
  return { status: r.status, stdout: r.stdout.replaceAll(at, 'PKG/'), stderr: r.stderr.replaceAll(at, 'PKG/') };
}
/** The installed gen, as a user runs it (a shell finds it on PATH), in `work`. */
function installedGen(args: string[], name = 'gen'): Run {
  return placeless(run(name, args, { cwd: work, env: { ...env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` } }), pkgDir);
}
/** This checkout's build, in the same directory. */
const checkoutGen = (args: string[]): Run => placeless(run(process.execPath, [GEN, ...args], { cwd: work, env }), ROOT);

test('npm pack builds the package in prepack and ships exactly what gen needs', () => {
  assert.is(packed.status, 0, packed.stderr);
  const files = packReport!.files;
  const listed = (dir: string, ext: string) =>
    readdirSync(join(source, dir))
      .filter((f) => f.endsWith(ext))
      .map((f) => `${dir}/${f}`);
  const want = [
    'LICENSE',
    'README.md',
    'bin/gen',
    'dist/THIRD-PARTY-LICENSES.txt',
    'dist/gen-snapshot.cjs',
    'dist/gen.js',
    'package.json',
    'schema/inventory.schema.json',
    'schema/profile.schema.json',
    'scripts/snapshot.mjs',
    ...listed('profiles', '.yaml'),
    ...listed('templates', '.hbs'),
  ];
  assert.equal(files.map((f) => f.path).sort(), want.sort());
  assert.ok(
    listed('profiles', '.yaml').length >= 3 && listed('templates', '.hbs').length >= 10,
    'the shipped profiles and templates are in the list',
  );
  assert.is(files.find((f) => f.path === 'bin/gen')!.mode & 0o111, 0o111, 'bin/gen is executable');
  // The build ran in the copy (it had no dist/), from prepack.
  assert.ok(existsSync(join(source, 'dist', 'gen.js')));
  assert.not.ok(existsSync(join(source, 'dist', 'gen.blob.node')), 'prepack makes no snapshot: the package would not ship it');
});

test('the manifest: no runtime dependency (all bundled), two bin names, MIT with the bundled licenses', () => {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.is(manifest.dependencies, undefined);
  assert.equal(manifest.bin, { gen: 'bin/gen', 'born-tuned': 'bin/gen' });
  assert.is(manifest.license, 'MIT');
  assert.match(readFileSync(join(pkgDir, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) /);
  const notices = readFileSync(join(pkgDir, 'dist', 'THIRD-PARTY-LICENSES.txt'), 'utf8');
  for (const dep of ['commander', 'handlebars', 'yaml', 'zod']) {
    assert.ok(Object.hasOwn(manifest.devDependencies as object, dep), `${dep} is bundled, so a devDependency`);
    assert.match(notices, new RegExp(`^${dep} \\d+\\.\\d+\\.\\d+ \\((MIT|ISC)\\)\\n\\n\\S`, 'm'), `the license of ${dep}`);
  }
});

test('npm install -g --prefix DIR TARBALL: offline, nothing fetched, no install script, under --strict-allow-scripts', () => {
  assert.ok(installed, 'npm pack made no tarball');
  assert.is(installed!.status, 0, installed!.stderr);
  assert.not.match(installed!.stderr, /install-scripts|warn/i);
  assert.match(installed!.stdout, /added 1 package/);
  assert.not.ok(existsSync(join(pkgDir, 'node_modules')), 'nothing to install beside it');
});

test('gen and born-tuned from DIR/bin print what this checkout prints', () => {
  for (const args of [
    ['--profile', 'incus-dense'],
    ['--profile', 'lxd-small', '--profile', '10gbe', '--artifact', 'packer-scripts'],
    ['list'],
    ['--profile', 'no-such-profile'],
  ]) {
    const want = checkoutGen(args);
    assert.equal(installedGen(args), want, `gen ${args.join(' ')}`);
    assert.equal(installedGen(args, 'born-tuned'), want, `born-tuned ${args.join(' ')}`);
  }
  assert.is(checkoutGen(['--profile', 'incus-dense']).status, 0);
});

test('gen verify --root from DIR/bin: a tuned tree passes, a drifted one fails, as in this checkout', () => {
  const host = goodHost(scratch, ['incus-dense', '10gbe']);
  const args = ['verify', '-p', 'incus-dense', '-p', '10gbe', '--root', host];
  const good = installedGen(args);
  assert.equal(good, checkoutGen(args));
  assert.is(good.status, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^PASS +sysctl fs\.inotify\.max_user_watches /m);
  writeFileSync(join(host, 'proc/sys/fs/inotify/max_user_watches'), '8192\n');
  const drifted = installedGen(args);
  assert.equal(drifted, checkoutGen(args));
  assert.is(drifted.status, 1);
  assert.match(drifted.stdout, /^FAIL +sysctl fs\.inotify\.max_user_watches +>= 20480000 +8192/m);
});

test('npm ci of this checkout is clean under --strict-allow-scripts (allowScripts approves esbuild)', () => {
  const dir = join(scratch, 'ci');
  mkdirSync(dir);
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(dir, f));
  const r = npm(['ci', '--dry-run', '--offline', '--strict-allow-scripts'], dir);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /install-scripts|ESTRICTALLOWSCRIPTS/);
});

test('the first run made a startup snapshot for this node, which the next run starts', () => {
  const dist = join(pkgDir, 'dist');
  // The maker runs in the background under flock(1): wait for it, then for its lock (a guard ends
  // the wait; it takes ~5-25 s on the 2-core machine).
  for (let i = 0; i < 1200 && !existsSync(join(dist, 'gen.blob.lock')); i++) run('sleep', ['0.1']);
  for (let i = 0; i < 100 && !existsSync(join(dist, 'gen.blob.stamp')) && !existsSync(join(dist, 'gen.blob.failed')); i++) {
    assert.is(run('flock', [join(dist, 'gen.blob.lock'), 'true'], { env }).status, 0);
    if (!existsSync(join(dist, 'gen.blob.stamp'))) run('sleep', ['0.1']);
  }
  assert.not.ok(
    existsSync(join(dist, 'gen.blob.failed')),
    existsSync(join(dist, 'gen.blob.failed')) ? readFileSync(join(dist, 'gen.blob.failed'), 'utf8') : '',
  );
  assert.ok(statSync(join(dist, 'gen.blob')).size > 1_000_000, 'dist/gen.blob');
  assert.ok(
    readFileSync(join(dist, 'gen.blob.stamp'), 'utf8')
      .split('\n')
      .includes(`bt_root='${realpathSync(pkgDir)}'`),
    'made for the installed package',
  );
  assert.equal(
    readdirSync(dist).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
  const r = run('sh', ['-x', bin('gen'), '--profile', 'incus-dense'], { cwd: work, env });
  assert.match(
    r.stderr,
    /^\+ exec \S+ --no-opt --no-rehash-snapshot --snapshot-blob \S*dist\/gen\.blob \S*dist\/gen\.js --profile incus-dense$/m,
    r.stderr,
  );
  assert.is(r.stdout, checkoutGen(['--profile', 'incus-dense']).stdout);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
