import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARTIFACT_KINDS } from '../src/commands/artifact-kinds.ts';
import { GEN, run } from './helpers.ts';

/**
 * A canary secret given by reference must appear only in the artifacts that carry the preseed
 * (user-data and the preseed itself, mode 0600 in a tree), never in any other artifact, in
 * explain/diff/verify/list output, in diagnostics (text or JSON) or in error messages.
 */
const CANARY = 'canary-3b9d-7f1e-do-not-print';
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-secret-'));
// A NIC with addresses and a queue length, so the stack has every kind of artifact.
writeFileSync(
  join(dir, 'host.yaml'),
  'extends: lxd-small\nserver:\n  https_address: "[::]:8443"\n  trust_password: {env: BT_CANARY}\nnics:\n  mgmt:\n    match: {mac: "52:54:00:00:00:01"}\n    addresses: ["192.0.2.10/24"]\n    txqueuelen: 10000\n',
);
writeFileSync(join(dir, 'broken.yaml'), 'extends: host\nsysctl:\n  vm.max_map_count: -1\nlimits:\n  nofile: 1\n');
writeFileSync(join(dir, 'warn.yaml'), 'extends: host\nsysctl:\n  fs.inotify.max_user_watches: 10\n');
const env = { ...process.env, BT_CANARY: CANARY };
const genIn = (args: string[]) => run(process.execPath, [GEN, '--profiles-dir', dir, ...args], { env });

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
    const r = run(process.execPath, [GEN, ...args], { env });
    assert.ok(r.stdout.length + r.stderr.length > 0, 'the command printed something');
    assert.not.ok(r.stdout.includes(CANARY), `stdout of ${name}`);
    assert.not.ok(r.stderr.includes(CANARY), `stderr of ${name}`);
  });
}

test.run();
