import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARTIFACT_KINDS } from '../src/render/artifact.ts';
import { BIN_GEN, run } from './helpers.ts';

/**
 * A canary secret given by reference must appear only in the artifacts that carry the preseed
 * (user-data and the preseed itself, mode 0600 in a tree), never in any other artifact, in
 * explain/diff/verify/list output, in diagnostics (text or JSON) or in error messages.
 */
const CANARY = 'canary-3b9d-7f1e-do-not-print';
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-secret-'));
// A NIC with addresses and a queue length, the verifier on a timer, and a zfs pool on a device with
// an ARC ceiling, so the stack has every kind of artifact.
writeFileSync(
  join(dir, 'host.yaml'),
  'extends: lxd-small\nserver:\n  https_address: "[::]:8443"\n  trust_password: {env: BT_CANARY}\nnics:\n  mgmt:\n    match: {mac: "52:54:00:00:00:01"}\n    addresses: ["192.0.2.10/24"]\n    txqueuelen: 10000\nverify:\n  timer: true\nstorage_pools:\n  default: {driver: zfs, source: /dev/disk/by-id/nvme-x}\nzfs: {arc_max: 8GiB}\n',
);
writeFileSync(join(dir, 'broken.yaml'), 'extends: host\nsysctl:\n  vm.max_map_count: -1\nlimits:\n  nofile: 1\n');
writeFileSync(join(dir, 'warn.yaml'), 'extends: host\nsysctl:\n  fs.inotify.max_user_watches: 10\n');
const env = { ...process.env, BT_CANARY: CANARY };
const genIn = (args: string[]) => run(BIN_GEN, ['--profiles-dir', dir, ...args], { env });

const CARRIERS = new Set(['user-data', 'preseed', 'packer-user-data']);

for (const kind of ARTIFACT_KINDS) {
  test(`--artifact ${kind}: the secret appears only where the preseed is carried`, () => {
    const r = genIn(['--profile', 'host', '--artifact', kind]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.includes(CANARY), CARRIERS.has(kind), `${kind} stdout`);
    assert.not.ok(r.stderr.includes(CANARY), `${kind} stderr`);
  });
}

const commands: [string, string[]][] = [
  ['explain (table)', ['explain', '--profiles-dir', dir, '--profile', 'host']],
  ['explain (json)', ['explain', '--profiles-dir', dir, '--profile', 'host', '--format', 'json']],
  ['explain KEY', ['explain', '--profiles-dir', dir, '--profile', 'host', 'trust_password']],
  ['diff (table)', ['diff', '--profiles-dir', dir, 'lxd-small', 'host']],
  ['diff (json)', ['diff', '--profiles-dir', dir, 'host', 'lxd-small', '--format', 'json']],
  ['verify (json)', ['verify', '--profiles-dir', dir, '--profile', 'host', '--root', dir, '--format', 'json']],
  ['verify (table)', ['verify', '--profiles-dir', dir, '--profile', 'host', '--root', dir]],
  ['list', ['list', '--profiles-dir', dir]],
  ['invalid stack (text)', ['--profiles-dir', dir, '--profile', 'broken']],
  ['invalid stack (json)', ['--profiles-dir', dir, '--profile', 'broken', '--format', 'json']],
  ['warnings (json)', ['--profiles-dir', dir, '--profile', 'warn', '--artifact', 'sysctl', '--format', 'json']],
  ['usage error', ['--profiles-dir', dir, '--profile', 'host', '--artifact', 'nope']],
];

for (const [name, args] of commands) {
  test(`${name}: no output stream holds the secret`, () => {
    const r = run(BIN_GEN, args, { env });
    assert.ok(r.stdout.length + r.stderr.length > 0, 'the command printed something');
    assert.not.ok(r.stdout.includes(CANARY), `stdout of ${name}`);
    assert.not.ok(r.stderr.includes(CANARY), `stderr of ${name}`);
  });
}

/**
 * A secret file is hostile input like any other: only a regular file of at most 4 KiB of UTF-8
 * text, one line, not blank, is read. Each refusal is exit 2 with a sentence naming the reference;
 * none may hang (a FIFO), abort (/dev/zero) or pass a mangled value on.
 */
const secretFiles: [string, string | (() => void), RegExp][] = [
  ['a FIFO', () => spawnSync('mkfifo', [join(dir, 'secret-fifo')]), /which is a FIFO \(named pipe\), not a regular file/],
  ['/dev/zero', '/dev/zero', /which is a character device, not a regular file/],
  ['a directory', dir, /which is a directory, not a regular file/],
  ['10 MB', () => writeFileSync(join(dir, 'secret-huge'), 'x'.repeat(10 * 1024 * 1024)), /which is larger than 4096 bytes/],
  [
    'invalid UTF-8',
    () => writeFileSync(join(dir, 'secret-latin1'), Buffer.from([0x70, 0xe4, 0x73, 0x73, 0x0a])),
    /which is not valid UTF-8 text/,
  ],
  ['only spaces', () => writeFileSync(join(dir, 'secret-blank'), '   \n'), /which holds only spaces: the secret is missing/],
  ['empty', () => writeFileSync(join(dir, 'secret-empty'), ''), /which is empty/],
  [
    'two lines',
    () => writeFileSync(join(dir, 'secret-lines'), 'one\ntwo\n'),
    /which holds a line break or a control character: the secret must be a single line of printable text/,
  ],
  ['missing', join(dir, 'no-such-secret'), /which does not exist: create it \(mode 0600\) or fix the path/],
];
const FILES: Record<string, string> = {
  'a FIFO': 'secret-fifo',
  '10 MB': 'secret-huge',
  'invalid UTF-8': 'secret-latin1',
  'only spaces': 'secret-blank',
  empty: 'secret-empty',
  'two lines': 'secret-lines',
};

for (const [name, make, message] of secretFiles) {
  test(`a secret file that is ${name} is refused with exit 2 and a sentence, never a hang`, () => {
    const file = typeof make === 'string' ? make : (make(), join(dir, FILES[name]!));
    writeFileSync(join(dir, 'bad-secret.yaml'), `extends: lxd-small\nserver: {trust_password: {file: ${JSON.stringify(file)}}}\n`);
    const r = spawnSync(BIN_GEN, ['--profiles-dir', dir, '--profile', 'bad-secret'], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.signal, null, 'gen was killed by the guard timeout: it hung');
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /^gen: server\.trust_password reads /);
    assert.match(r.stderr, message);
    assert.is(r.stdout, '');
  });
}

test('a trust password riding in user-data is warned about at its key; the preseed alone and explain are not', () => {
  const warning =
    /^host\.yaml:4:3: warning SECRET_IN_USER_DATA: the trust password rides in user-data: a metadata service serves user-data to anything that can reach it/;
  for (const args of [[], ['--artifact', 'user-data'], ['--artifact', 'packer-user-data'], ['--out', join(dir, 'warned-tree')]]) {
    const r = run(BIN_GEN, ['--profiles-dir', '.', '--profile', 'host', ...args], { env, cwd: dir });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, warning, args.join(' ') || 'user-data');
    assert.not.ok(r.stderr.includes(CANARY));
  }
  for (const args of [['--artifact', 'preseed'], ['--artifact', 'sysctl'], ['explain']]) {
    const r = run(BIN_GEN, [...(args[0] === 'explain' ? ['explain'] : args), '--profiles-dir', '.', '--profile', 'host'], {
      env,
      cwd: dir,
    });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, '', args.join(' '));
  }
  const strict = run(BIN_GEN, ['--profiles-dir', '.', '--profile', 'host', '--strict'], { env, cwd: dir });
  assert.is(strict.status, 1);
  assert.match(strict.stderr, /error SECRET_IN_USER_DATA/);
  assert.is(strict.stdout, '', '--strict prints nothing');
});

test('a secret file may be a symbolic link to a regular file (a mounted secret)', () => {
  writeFileSync(join(dir, 'secret-real'), `${CANARY}\n`);
  symlinkSync(join(dir, 'secret-real'), join(dir, 'secret-link'));
  writeFileSync(
    join(dir, 'linked-secret.yaml'),
    `extends: lxd-small\nserver: {trust_password: {file: ${JSON.stringify(join(dir, 'secret-link'))}}}\n`,
  );
  const r = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 'linked-secret', '--artifact', 'preseed']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`core\\.trust_password: ${CANARY}\\n`));
});

test('an environment secret that is blank is refused', () => {
  const r = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 'host'], { env: { ...process.env, BT_CANARY: ' \t ' } });
  assert.is(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /^gen: server\.trust_password reads the environment variable BT_CANARY, which holds a line break or a control character/,
  );
});

test('an inline secret anywhere in the chain is an error, even when a later profile overrides it', () => {
  writeFileSync(join(dir, 'inline-parent.yaml'), 'extends: lxd-small\nserver:\n  trust_password: hunter2\n');
  writeFileSync(join(dir, 'inline-child.yaml'), 'extends: inline-parent\nserver:\n  trust_password: {env: BT_CANARY}\n');
  const r = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 'inline-child'], { env });
  assert.is(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /inline-parent\.yaml:3:19: error SECRET_INLINE: server\.trust_password is written in the file \(a later profile overrides it/,
  );
  assert.not.ok(r.stderr.includes('hunter2'));
});

/** A command that never writes a secret never needs it: its variable may be unset. */
const withoutSecret: [string, string[]][] = [
  ['verify', ['verify', '--profiles-dir', dir, '--profile', 'host', '--root', dir]],
  ['diff', ['diff', '--profiles-dir', dir, 'lxd-small', 'host']],
  ['explain', ['explain', '--profiles-dir', dir, '--profile', 'host']],
  ['--artifact sysctl', ['--profiles-dir', dir, '--profile', 'host', '--artifact', 'sysctl']],
  ['--artifact packer-scripts', ['--profiles-dir', dir, '--profile', 'host', '--artifact', 'packer-scripts']],
];
const unset = { ...process.env };
delete unset.BT_CANARY;
for (const [name, args] of withoutSecret) {
  test(`${name} runs without the secret it never writes`, () => {
    const r = run(BIN_GEN, args, { env: unset });
    assert.not.match(r.stderr, /BT_CANARY/, r.stderr);
    assert.ok([0, 1].includes(r.status), `${name}: exit ${r.status}\n${r.stderr}`);
  });
}
for (const kind of CARRIERS) {
  test(`--artifact ${kind} needs the secret it carries`, () => {
    const r = run(BIN_GEN, ['--profiles-dir', dir, '--profile', 'host', '--artifact', kind], { env: unset });
    assert.is(r.status, 2);
    assert.match(r.stderr, /reads the environment variable BT_CANARY, which is not set/);
  });
}

test('--out: the secret is only in the 0600 files that carry the preseed, which have no sha256 in manifest.json', () => {
  const out = join(dir, 'tree');
  const r = genIn(['--profile', 'host', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
    files: { path: string; sha256?: string; mode: string }[];
  };
  // Which files must hold it: those that carry the preseed (secret-digests.json holds only keyed digests).
  const holders: string[] = [];
  for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(out, join(entry.parentPath, entry.name));
    const bytes = readFileSync(join(out, path));
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (bytes.includes(CANARY)) {
      holders.push(path);
      assert.is(statSync(join(out, path)).mode & 0o777, 0o600, `${path} is 0600`);
      const listed = manifest.files.find((f) => f.path === path);
      assert.ok(listed, `${path} is listed`);
      assert.is(listed!.sha256, undefined, `${path} has no published digest`);
      // Nor anywhere else in the tree: a published digest of a weak password is a guessing oracle.
      for (const other of readdirSync(out, { recursive: true })) {
        const file = join(out, String(other));
        if (statSync(file).isFile()) assert.not.ok(readFileSync(file, 'utf8').includes(digest), `${other} holds the digest of ${path}`);
      }
    }
  }
  assert.equal(holders.sort(), ['packer/user-data', 'preseed/lxd.yaml', 'user-data'], 'exactly the files that carry the preseed');
  assert.ok(
    manifest.files.some((f) => f.path === 'secret-digests.json' && f.mode === '0600'),
    'secret-digests.json stands in',
  );
});

test.run();
