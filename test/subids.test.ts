import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, profileArgs, ROOT, run } from './helpers.ts';

/**
 * The first-boot subids step, run for real by dash on scratch copies of /etc/subuid: root's first
 * range (the one LXD and Incus map from) comes to hold the ids asked for, grown in place when it
 * can be, never shrunk, and a second run changes nothing.
 */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-subids-'));
const script = join(dir, 'born-tuned-subids');
writeFileSync(script, gen(['--profile', 'incus-dense', '--artifact', 'subids']).stdout, { mode: 0o755 });

/** Runs the script for IDS on a file holding TEXT; returns the run and the file's text after it. */
function subids(ids: number, text: string) {
  const file = mkdtempSync(join(dir, 'etc-')) + '/subuid';
  writeFileSync(file, text);
  const res = run('dash', [script, String(ids), file]);
  return { ...res, file, after: readFileSync(file, 'utf8') };
}

test('shellcheck and dash -n accept the script', () => {
  const sc = run('shellcheck', ['-S', 'style', '-s', 'sh', script]);
  assert.is(sc.status, 0, sc.stdout);
  assert.is(run('dash', ['-n', script]).status, 0);
});

test("Debian lxd's ranges grow in place to hold incus-dense (2500 isolated: 163905536 ids), _lxd's twin with them", () => {
  const r = subids(163905536, '_lxd:100000:10000001\nroot:100000:10000001\n');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.after, '_lxd:100000:163905536\nroot:100000:163905536\n');
  assert.match(r.stderr, /root:100000:10000001 grown to 163905536 ids/);
  assert.is(statSync(r.file).mode & 0o777, 0o644);
  // Idempotent: the second run leaves the file byte for byte.
  const again = run('dash', [script, '163905536', r.file]);
  assert.is(again.status, 0);
  assert.is(readFileSync(r.file, 'utf8'), r.after);
  assert.match(again.stderr, /holds 163905536 ids/);
});

test('a larger range is never shrunk, and the file is not rewritten', () => {
  const text = 'root:1000000:1000000000\n';
  const r = subids(6619136, text);
  assert.is(r.status, 0);
  assert.is(r.after, text);
});

test("a range whose growth would overlap another user's gets a new root range first; nothing removed, no duplicate", () => {
  const text = 'root:100000:65536\nbob:165536:65536\n';
  const r = subids(655360, text);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.after, 'root:231072:655360\nroot:100000:65536\nbob:165536:65536\n'.replace('231072', '1000000'));
  const again = run('dash', [script, '655360', r.file]);
  assert.is(again.status, 0);
  assert.is(readFileSync(r.file, 'utf8'), r.after);
  assert.is(r.after.split('\n').filter((l) => l.startsWith('root:')).length, 2);
});

test('no root range yet: one is added after the highest range in use (at least 1000000)', () => {
  const r = subids(131072, 'alice:100000:65536\nbob:2000000:65536\n');
  assert.is(r.after, 'alice:100000:65536\nbob:2000000:65536\nroot:2065536:131072\n');
});

test('no room below 2^32 fails the step and leaves the file as it was', () => {
  const text = 'root:100000:65536\nbob:500000:65536\ncarol:4000000000:65536\n';
  const r = subids(1_000_000_000, text);
  assert.is(r.status, 1);
  assert.match(r.stderr, /no room for 1000000000 ids/);
  assert.is(r.after, text);
});

test('a missing file is left missing (the daemon then maps its own default range)', () => {
  const missing = join(dir, 'no-such-subgid');
  const r = run('dash', [script, '65536', missing]);
  assert.is(r.status, 0);
  assert.not.ok(existsSync(missing));
});

test('user-data runs subids after the install and before the restart, with the planned ids; the snap gets none', () => {
  const steps = (args: string[]) => (parse(gen(args).stdout) as { runcmd: string[][] }).runcmd.map((c) => c[1]);
  const dense = parse(gen(profileArgs(['incus-dense'])).stdout) as { runcmd: string[][] };
  const step = dense.runcmd.find((c) => c[1] === 'subids')!;
  assert.equal(step.slice(2), ['/usr/local/sbin/born-tuned-subids', '163905536', '/etc/subuid', '/etc/subgid']);
  const order = steps(profileArgs(['incus-dense']));
  assert.ok(order.indexOf('install-manager') < order.indexOf('subids'));
  assert.ok(order.indexOf('subids') < order.indexOf('restart-manager'));
  assert.ok(order.indexOf('modules') < order.indexOf('sysctl'));
  // The LXD snap maps ids without /etc/subuid (LXD's idmap documentation): no step, no script.
  const snapDir = mkdtempSync(join(dir, 'profiles-'));
  writeFileSync(
    join(snapDir, 'snap.yaml'),
    readFileSync(join(ROOT, 'profiles/lxd-small.yaml'), 'utf8').replace('install: deb', 'install: snap'),
  );
  const snapArgs = ['--profiles-dir', snapDir, '--profile', 'snap'];
  assert.ok(steps(snapArgs).includes('modules'));
  assert.not.ok(steps(snapArgs).includes('subids'));
  assert.is(gen([...snapArgs, '--artifact', 'subids']).status, 2);
});

test.run();
