/**
 * Issue 14, item 8: an image that already has the LXD snap (Ubuntu's do) on an older track is
 * refreshed to the profile's channel at first boot; `snap install` alone leaves it where it is.
 * The install step of the real user-data runs under dash against a stand-in `snap` that plays
 * each state of the image and records what it was asked; a newer track is never moved back.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, ROOT, run } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-snap-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** The install-manager step's command (after the wrapper and the step name) of a snap profile. */
function installStep(): string[] {
  const r = gen(['--profile', join(ROOT, 'test', 'fixtures', 'valid', 'ubuntu-2204-lxd-snap.yaml')]);
  assert.is(r.status, 0, r.stderr);
  const runcmd = (parse(r.stdout) as { runcmd: string[][] }).runcmd;
  const step = runcmd.find((c) => c[1] === 'install-manager');
  assert.ok(step, 'no install-manager step');
  return step!.slice(2);
}
const step = installStep();

/** Runs the step with a `snap` whose `list lxd` shows `tracking` (none: not installed). */
function runWith(tracking: string | undefined): { status: number; calls: string[]; stderr: string } {
  const bin = mkdtempSync(join(tmp, 'bin-'));
  const log = join(bin, 'calls');
  const listed = tracking === undefined ? '' : `Name Version Rev Tracking Publisher Notes\nlxd 5.0.3 100 ${tracking} canonical** -\n`;
  writeFileSync(
    join(bin, 'snap'),
    `#!/bin/sh\necho "$*" >> '${log}'\nif [ "$1" = list ]; then [ -n '${listed}' ] || { echo 'error: no matching snaps installed' >&2; exit 1; }; printf '%s' '${listed}'; fi\nexit 0\n`,
  );
  chmodSync(join(bin, 'snap'), 0o755);
  writeFileSync(log, '');
  const r = run('dash', ['-c', `PATH='${bin}':"$PATH"; export PATH; exec "$@"`, 'sh', ...step]);
  return { status: r.status, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean), stderr: r.stderr };
}

test('the step is a shell script shellcheck accepts, given the channel as its argument', () => {
  assert.equal([step[0], step[1], step.at(-2), step.at(-1)], ['sh', '-c', 'born-tuned-snap', '5.21/stable']);
  const file = join(tmp, 'step.sh');
  writeFileSync(file, `#!/bin/sh\n${step[2]}\n`);
  const r = run('shellcheck', ['-s', 'sh', '-S', 'style', file]);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

const cases: [string, string | undefined, number, string][] = [
  ['absent: installed at the channel', undefined, 0, 'install lxd --channel=5.21/stable'],
  ['an older track (5.0): refreshed to the channel', '5.0/stable', 0, 'refresh lxd --channel=5.21/stable'],
  ['the same track, another risk: refreshed to the channel', '5.21/candidate', 0, 'refresh lxd --channel=5.21/stable'],
  ['a newer track (6): left alone, the step fails', '6/stable', 1, ''],
  ['latest: left alone, the step fails', 'latest/stable', 1, ''],
];
for (const [name, tracking, status, change] of cases) {
  test(`snap ${name}`, () => {
    const r = runWith(tracking);
    assert.is(r.status, status, r.stderr);
    assert.equal(r.calls, ['list lxd', ...(change ? [change] : [])]);
    if (status !== 0) assert.match(r.stderr, /not moved back .* set manager\.version to (6|latest) or remove the snap/);
  });
}

test.run();
