import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Io } from '../src/cli.ts';
import { runExplain } from '../src/commands/explain.ts';
import { runList } from '../src/commands/list.ts';
import { GEN, genInProcess, run } from './helpers.ts';

/**
 * issue 13, "A CLI with manners": options where people put them, did-you-mean for commands,
 * --strict, code frames (escaped, coloured only when they should be, secrets kept out), the
 * "version" of --format json, a warning for a profile that hides a shipped one, and commands as
 * plain functions a test calls without commander.
 */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-manners-'));
const mine = join(dir, 'my-profiles');
mkdirSync(mine);
const HOST =
  'manager: {name: lxd, install: present, version: "5.0"}\ntarget: {distro: debian, release: "12"}\ncapacity: {instances: 10}\ndmesg_restrict: true\n';
writeFileSync(join(mine, 'edge-host.yaml'), `description: an edge host\n${HOST}`);
writeFileSync(join(mine, 'incus-dense.yaml'), `description: my own copy\n${HOST}`);
writeFileSync(join(mine, 'uses-copy.yaml'), 'extends: incus-dense\n');

interface Result {
  code: number;
  out: string;
  err: string;
}
async function gen(argv: string[], extra: Partial<Io> = {}): Promise<Result> {
  const r = await genInProcess(argv, dir, { env: {}, ...extra });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// ---- Options where people put them ----

test('gen --profiles-dir DIR list is gen list --profiles-dir DIR', async () => {
  const before = await gen(['--profiles-dir', 'my-profiles', 'list']);
  const after = await gen(['list', '--profiles-dir', 'my-profiles']);
  assert.is(before.code, 0, before.err);
  assert.match(before.out, /edge-host +host +Debian 12 +an edge host/);
  assert.is(before.out, after.out);
});

test('gen -p X explain is gen explain -p X; -p on both sides stacks, the ones before first', async () => {
  const before = await gen(['-p', 'incus-dense', 'explain', 'txqueuelen']);
  assert.is(before.code, 2, 'incus-dense alone sets no txqueuelen');
  const stacked = await gen(['-p', 'incus-dense', 'explain', '-p', '10gbe', 'netdev_max_backlog']);
  const plain = await gen(['explain', '-p', 'incus-dense', '-p', '10gbe', 'netdev_max_backlog']);
  assert.is(stacked.code, 0, stacked.err);
  assert.is(stacked.out, plain.out);
  assert.match(stacked.out, /= word 1 of net\.ipv4\.tcp_mem on the host$/m);
});

test('an option the command does not take is a usage error naming it, never dropped', async () => {
  for (const [argv, flag, command] of [
    [['-p', 'incus-dense', 'list'], '--profile', 'list'],
    [['--artifact', 'sysctl', 'explain', '-p', 'incus-dense'], '--artifact', 'explain'],
    [['--out', 'x', 'verify', '-p', 'incus-dense'], '--out', 'verify'],
    [['--profiles-dir', 'my-profiles', 'schema'], '--profiles-dir', 'schema'],
    [['--strict', 'list'], '--strict', 'list'],
  ] as const) {
    const r = await gen([...argv]);
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, new RegExp(`^gen: ${flag} does not apply to gen ${command} `));
    assert.is(r.out, '');
  }
  assert.not.ok(existsSync(join(dir, 'x')));
});

test('the same option before and after the command with different values is a usage error', async () => {
  const r = await gen(['--profiles-dir', 'my-profiles', 'list', '--profiles-dir', '.']);
  assert.is(r.code, 2);
  assert.match(r.err, /--profiles-dir is given twice, before and after "list", with different values: give it once/);
});

test('gen schema takes no options', async () => {
  const r = await gen(['schema', '--profiles-dir', 'my-profiles']);
  assert.is(r.code, 2);
  assert.match(r.err, /unknown option '--profiles-dir'/);
});

test('a --profiles-dir that does not exist is a usage error for every command that reads profiles', async () => {
  for (const argv of [
    ['-p', 'incus-dense'],
    ['explain', '-p', 'incus-dense'],
    ['verify', '-p', 'incus-dense', '--root', dir],
    ['diff', 'lxd-small', 'incus-dense'],
    ['list'],
    ['list', '--names'],
  ]) {
    const r = await gen([...argv, '--profiles-dir', 'no-such-dir']);
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.is(r.err, 'gen: --profiles-dir no-such-dir: no such file or directory (ENOENT); give the directory that holds your profiles\n');
  }
});

test('an unknown command gets a did-you-mean', async () => {
  const r = await gen(['explan', '-p', 'incus-dense']);
  assert.is(r.code, 2);
  assert.is(
    r.err,
    'gen: unknown command "explan" (did you mean "explain"?); the commands are explain, diff, verify, list, schema, completion, and gen alone takes --profile NAME\n',
  );
  const far = await gen(['frobnicate']);
  assert.match(far.err, /^gen: unknown command "frobnicate"; the commands are/);
});

// ---- A user's profile that hides a shipped one ----

test('a profile of --profiles-dir named like a shipped one gets a warning, by name and through extends', async () => {
  const expected = 'my-profiles/incus-dense.yaml: warning SHADOWS_SHIPPED: this profile hides the shipped profile "incus-dense" (';
  for (const name of ['incus-dense', 'uses-copy']) {
    const r = await gen(['--profiles-dir', 'my-profiles', '-p', name, '--artifact', 'sysctl']);
    assert.is(r.code, 0, r.err);
    assert.ok(r.err.startsWith(expected), r.err);
    assert.is(r.err.split('\n').filter(Boolean).length, 1, 'one warning, no code frame (it concerns the whole file)');
  }
  const shipped = await gen(['--profiles-dir', 'my-profiles', '-p', 'lxd-small', '--artifact', 'sysctl']);
  assert.is(shipped.err, '');
});

// ---- --strict ----

test('--strict: warnings become errors, exit 1, nothing printed or written', async () => {
  const loose = await gen(['-p', 'lxd-small', '-p', '10gbe']);
  assert.is(loose.code, 0);
  assert.match(loose.err, /warning UNSUPPORTED_BY_VERSION/);
  assert.ok(loose.out.startsWith('#cloud-config'));
  const strict = await gen(['-p', 'lxd-small', '-p', '10gbe', '--strict']);
  assert.is(strict.code, 1);
  assert.match(strict.err, /^\S*profiles\/10gbe\.yaml:21:19: error UNSUPPORTED_BY_VERSION: /);
  assert.is(strict.out, '');
  const out = await gen(['-p', 'lxd-small', '-p', '10gbe', '--strict', '--out', 'strict-out']);
  assert.is(out.code, 1);
  assert.not.ok(existsSync(join(dir, 'strict-out')));
  for (const argv of [
    ['explain', '-p', 'lxd-small', '-p', '10gbe', '--strict'],
    ['verify', '-p', 'lxd-small', '-p', '10gbe', '--root', dir, '--strict'],
  ]) {
    const r = await gen(argv);
    assert.is(r.code, 1, argv.join(' '));
    assert.is(r.out, '');
  }
  // diff keeps 1 for "different": an invalid side, and so a strict warning, is 2.
  const diff = await gen(['diff', 'lxd-small', 'lxd-small+10gbe', '--strict']);
  assert.is(diff.code, 2);
  assert.is(diff.out, '');
  assert.is((await gen(['-p', 'incus-dense', '--strict', '--artifact', 'sysctl'])).code, 0);
});

// ---- Code frames ----

const profile = (name: string, text: string) => {
  writeFileSync(join(mine, `${name}.yaml`), text);
  return ['--profiles-dir', 'my-profiles', '-p', name];
};

test('a located diagnostic shows its line with a caret under the column', async () => {
  const r = await gen(profile('frame', `${HOST}limits: {nofile: 12}\n`));
  assert.is(r.code, 1);
  assert.is(
    r.err,
    'my-profiles/frame.yaml:5:18: error OUT_OF_RANGE: limits.nofile is 12: must be at least 1024 (below that, ordinary programs fail)\n 5 | limits: {nofile: 12}\n   |                  ^\n',
  );
});

test('the source line is escaped for the terminal, and the caret still lands under the column', async () => {
  const r = await gen(profile('hostile', `${HOST}description: "\\e]0;pwned\\a"\nlimits: {nofile: 12}  # \x1b[2J\u202e\x07\n`));
  assert.is(r.code, 1);
  assert.not.match(r.err, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'a control character reached the terminal');
  assert.match(r.err, / 6 \| limits: \{nofile: 12\}  # \\x1b\[2J\\u202e\\x07\n {3}\| {18}\^\n/);
  // A control character before the column: the caret moves by the width of its escape.
  const before = await gen(profile('hostile2', `${HOST}limits: {nproc: "\x1b", nofile: 12}\n`));
  const lines = before.err.split('\n');
  const head = lines.findIndex((l) => l.includes('limits.nofile is 12'));
  const frame = lines[head + 1]!;
  const caret = lines[head + 2]!;
  assert.is(caret.indexOf('^'), frame.indexOf('12'), `${frame}\n${caret}`);
});

test('a line holding an inline secret is shown only up to its key', async () => {
  const r = await gen(profile('secret', `extends: lxd-small\nserver: {https_address: "[::]:8443", trust_password: hunter2-secret}\n`));
  assert.is(r.code, 1);
  assert.not.match(r.err, /hunter2/);
  assert.match(r.err, / 2 \| server: \{https_address: "\[::\]:8443", trust_password: \(not shown\)\n/);
});

test('a long line is cut around the caret', async () => {
  const r = await gen(
    profile('long', `${HOST}description: "${'x'.repeat(300)}"\nlimits: {nofile: 12, nproc: 1024}  # ${'y'.repeat(300)}\n`),
  );
  const frame = r.err.split('\n').find((l) => l.startsWith(' 6 |'))!;
  assert.ok(frame.length < 120, frame);
  assert.ok(frame.endsWith('...'), frame);
  const far = await gen(profile('far', `${HOST}limits: {${' '.repeat(200)}nofile: 12}\n`));
  const lines = far.err.split('\n');
  const i = lines.findIndex((l) => l.startsWith(' 5 |'));
  assert.ok(lines[i]!.startsWith(' 5 | ...'), lines[i]);
  assert.is(lines[i + 1]!.indexOf('^'), lines[i]!.indexOf('12'));
});

test('a byte-order mark and CRLF line ends do not show in the frame', async () => {
  const r = await gen(profile('crlf', `\ufeff${HOST.replace(/\n/g, '\r\n')}limits: {nofile: 12}\r\n`));
  assert.match(r.err, / 5 \| limits: \{nofile: 12\}\n {3}\| {18}\^\n/);
  const bom = await gen(profile('bom', '\ufeffsysclt: {}\n'));
  assert.match(
    bom.err,
    /bom\.yaml:1:1: error UNKNOWN_KEY: unknown key "sysclt" \(did you mean "sysctl"\?\)\n 1 \| sysclt: \{\}\n {3}\| \^\n/,
  );
});

// ---- Colours ----

const SGR = /\x1b\[[0-9;]*m/g;

test('colours on a terminal; plain with NO_COLOR, TERM=dumb or off a terminal; FORCE_COLOR forces them', async () => {
  const argv = profile('colour', `${HOST}limits: {nofile: 12}\n`);
  const plain = (await gen(argv)).err;
  const cases: [string, Partial<Io>, boolean][] = [
    ['a terminal', { isTTY: true }, true],
    ['a pipe', { isTTY: false }, false],
    ['NO_COLOR on a terminal', { isTTY: true, env: { NO_COLOR: '1' } }, false],
    ['an empty NO_COLOR', { isTTY: true, env: { NO_COLOR: '' } }, true],
    ['TERM=dumb', { isTTY: true, env: { TERM: 'dumb' } }, false],
    ['FORCE_COLOR off a terminal', { isTTY: false, env: { FORCE_COLOR: '1' } }, true],
    ['FORCE_COLOR over NO_COLOR', { isTTY: false, env: { FORCE_COLOR: '1', NO_COLOR: '1' } }, true],
    ['FORCE_COLOR=0 on a terminal', { isTTY: true, env: { FORCE_COLOR: '0' } }, false],
  ];
  for (const [name, io, coloured] of cases) {
    const err = (await gen(argv, io)).err;
    assert.is(SGR.test(err), coloured, name);
    SGR.lastIndex = 0;
    // Colours are the only difference, and the only escape sequences there are.
    assert.is(err.replace(SGR, ''), plain, name);
    assert.not.match(err.replace(SGR, ''), /\x1b/, name);
  }
});

test('a real terminal gets colours, and --format json never does', () => {
  const argv = `${GEN} --profiles-dir my-profiles -p colour`;
  const tty = run('script', ['-qec', `node ${argv}`, '/dev/null'], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', TERM: 'xterm' },
  });
  assert.match(tty.stdout, /\x1b\[1;31merror\x1b\[0m/);
  const json = run('script', ['-qec', `node ${argv} --format json`, '/dev/null'], { cwd: dir, env: { ...process.env, FORCE_COLOR: '1' } });
  assert.not.match(json.stdout, /\x1b/);
  assert.is(JSON.parse(json.stdout.replace(/\r\n/g, '\n')).version, 1);
});

// ---- --format json ----

test('--format json carries "version" for its shape, on every command; diagnostics are unchanged otherwise', async () => {
  const r = await gen([...profile('json', `${HOST}limits: {nofile: 12}\n`), '--format', 'json']);
  assert.equal(JSON.parse(r.err), {
    version: 1,
    diagnostics: [
      {
        severity: 'error',
        code: 'OUT_OF_RANGE',
        message: 'limits.nofile is 12: must be at least 1024 (below that, ordinary programs fail)',
        path: 'limits.nofile',
        file: 'my-profiles/json.yaml',
        line: 5,
        col: 18,
      },
    ],
  });
  for (const argv of [
    ['explain', '-p', 'lxd-small'],
    ['diff', 'lxd-small', 'incus-dense'],
    ['verify', '-p', 'lxd-small', '--root', dir],
    ['list'],
  ]) {
    const out = (await gen([...argv, '--format', 'json'])).out;
    assert.is(JSON.parse(out).version, 1, argv.join(' '));
  }
});

// ---- Commands are plain functions ----

test('a command runs without commander: run<Name>(options, io) returns its exit code', async () => {
  let out = '';
  const io: Io = { stdout: (t) => void (out += String(t)), stderr: () => undefined };
  assert.is(await runList({ format: 'text', names: true }, io), 0);
  assert.is(out, '10gbe\nincus-dense\nlxd-small\n');
  out = '';
  assert.is(await runExplain({ profile: ['incus-dense'], format: 'json', strict: false, key: 'fs.aio-max-nr' }, io), 0);
  assert.is(JSON.parse(out).settings[0].value, '524288');
});

test.run();
