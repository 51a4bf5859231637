import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { userDataSizeWarning } from '../src/pipeline.ts';
import { GEN, ROOT } from './helpers.ts';

/**
 * USER_DATA_SIZE: a user-data gen writes that is larger than the smallest cloud cap (AWS EC2's
 * 16384 bytes) draws a warning that says its size as delivered (after gzip, before base64), the
 * caps it is over, and what --encoding gzip and the Packer image's packer/user-data make of it,
 * each measured on the real bytes; exit 0 unless --strict.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-size-'));

/** gen as a process, stdout as bytes. */
function genBytes(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [GEN, ...args], { cwd: ROOT, maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}
const sizeLines = (stderr: string) => stderr.split('\n').filter((l) => l.includes('USER_DATA_SIZE'));

test('plain user-data of incus-dense: warned with its real size, the caps it is over and the measured fixes; exit 0', () => {
  const plain = genBytes(['-p', 'incus-dense']);
  const gzip = genBytes(['-p', 'incus-dense', '--encoding', 'gzip']);
  const packer = genBytes(['-p', 'incus-dense', '--artifact', 'packer-user-data']);
  assert.is(plain.status, 0, plain.stderr);
  const [line, ...more] = sizeLines(plain.stderr);
  assert.equal(more, []);
  assert.ok(plain.stdout.length > 16384);
  assert.is(
    line,
    `warning USER_DATA_SIZE: user-data is ${plain.stdout.length} bytes, over the user-data cap in bytes of AWS EC2 (16384), OpenStack Nova (49149: 65535 as base64), Azure custom data (65535) (a NoCloud seed and LXD/Incus's cloud-init.user-data have none); --encoding gzip makes it ${gzip.stdout.length} bytes (still over AWS EC2); or hosts made from the Packer image (gen --profile … --out DIR writes it under packer/) boot with packer/user-data: ${packer.stdout.length} bytes (under every cap)`,
  );
  // The gzip it names is the one --encoding gzip writes, of the same text.
  assert.equal(gunzipSync(gzip.stdout), plain.stdout);
  // packer/user-data is small and draws nothing.
  assert.equal(sizeLines(packer.stderr), []);
});

test('gzip: the delivered size is the gzip; gzip+base64: the same, before base64 (the cloud decodes it)', () => {
  const gzip = genBytes(['-p', 'lxd-small', '--encoding', 'gzip']);
  const b64 = genBytes(['-p', 'lxd-small', '--encoding', 'gzip+base64']);
  const decoded = Buffer.from(b64.stdout.toString('latin1'), 'base64');
  assert.equal(decoded, gzip.stdout);
  assert.match(
    sizeLines(gzip.stderr)[0] ?? '',
    new RegExp(`user-data is ${gzip.stdout.length} bytes gzipped, over the user-data cap in bytes of AWS EC2 \\(16384\\) \\(`),
  );
  assert.match(sizeLines(b64.stderr)[0] ?? '', new RegExp(`user-data is ${gzip.stdout.length} bytes gzipped, before base64, over`));
  // Already gzipped: gzip is not offered again.
  assert.not.match(sizeLines(gzip.stderr)[0]!, /--encoding gzip/);
  const base64 = genBytes(['-p', 'lxd-small', '--encoding', 'base64']);
  assert.match(sizeLines(base64.stderr)[0] ?? '', /bytes before base64, over .*; --encoding gzip\+base64 makes it \d+ bytes/);
});

test('--strict: the warning is an error, exit 1, nothing printed or written', () => {
  const r = genBytes(['-p', 'incus-dense', '--strict']);
  assert.is(r.status, 1);
  assert.is(r.stdout.length, 0);
  assert.match(r.stderr, /error USER_DATA_SIZE: user-data is \d+ bytes/);
  const out = join(scratch, 'strict');
  const w = genBytes(['-p', 'incus-dense', '--strict', '--out', out]);
  assert.is(w.status, 1);
  assert.throws(() => readFileSync(join(out, 'user-data')));
});

test('--out: one warning for user-data (packer/user-data fits), printed after the tree is written', () => {
  const out = join(scratch, 'tree');
  const r = genBytes(['-p', 'incus-dense', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const lines = sizeLines(r.stderr);
  assert.is(lines.length, 1);
  assert.ok(lines[0]!.includes(`user-data is ${readFileSync(join(out, 'user-data')).length} bytes`));
  assert.ok(lines[0]!.includes(`packer/user-data: ${readFileSync(join(out, 'packer/user-data')).length} bytes`));
});

test('an inventory: one warning for all its seeds, naming the largest and how many', () => {
  const out = join(scratch, 'fleet');
  const r = genBytes(['--inventory', join(ROOT, 'test/fixtures/inventory/hosts.yaml'), '--out', out, '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  const d = (JSON.parse(r.stderr) as { diagnostics: { code: string; severity: string; message: string }[] }).diagnostics.filter(
    (x) => x.code === 'USER_DATA_SIZE',
  );
  assert.is(d.length, 1);
  assert.is(d[0]!.severity, 'warning');
  const m = /^the user-data of (\d+) hosts of (\d+): the largest, ([^/]+)\/seed\/user-data, is (\d+) bytes,/.exec(d[0]!.message);
  assert.ok(m, d[0]!.message);
  assert.is(m[1], m[2]);
  assert.is(Number(m[4]), readFileSync(join(out, m[3]!, 'seed/user-data')).length);
});

test('the boundary: 16384 bytes fits every cap, 16385 is over AWS EC2 only; over 65535 all but GCE', () => {
  const size = (payload: number) => ({ path: 'user-data', payload, encoding: 'plain' as const, alternatives: () => ({}) });
  assert.equal(userDataSizeWarning('user-data', size(16384)), []);
  const [over] = userDataSizeWarning('user-data', size(16385));
  assert.match(over!.message, /^user-data is 16385 bytes, over the user-data cap in bytes of AWS EC2 \(16384\) \(a NoCloud/);
  assert.match(
    userDataSizeWarning('user-data', size(65536))[0]!.message,
    /AWS EC2 \(16384\), OpenStack Nova \(49149: 65535 as base64\), Azure custom data \(65535\) \(/,
  );
  assert.match(userDataSizeWarning('user-data', size(262145))[0]!.message, /Azure custom data \(65535\), GCE metadata \(262144\) \(/);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
