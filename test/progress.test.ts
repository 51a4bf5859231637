import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main, type Io } from '../src/cli.ts';
import { progressLine } from '../src/output/progress.ts';
import { GEN, ROOT, run, withoutSizeWarning } from './helpers.ts';

/** The progress line of `gen --inventory`: on a terminal, for runs over a second, nowhere else. */

/** An Io that records stderr, on a terminal or not, with a clock that moves `step` ms per reading. */
function recorder(isTTY: boolean, step: number): Io & { err: string[] } {
  let t = 0;
  const err: string[] = [];
  return { err, isTTY, stdout: () => undefined, stderr: (s) => void err.push(s), now: () => (t += step) };
}

test('a terminal gets the line once a run has taken a second, redrawn at most every 100 ms, the last count always', () => {
  const io = recorder(true, 30); // update k reads the clock 30k ms after the start
  const p = progressLine(io);
  for (let k = 1; k <= 100; k++) p.update(k, 100);
  p.end();
  const lines = io.err.slice(0, -1);
  assert.ok(lines.length >= 2 && lines.length <= 25, `${lines.length} redraws`);
  assert.is(lines[0], '\rrendering hosts: 34/100'); // the first update 1000 ms or more after the start
  assert.is(lines.at(-1), '\rrendering hosts: 100/100');
  assert.is(io.err.at(-1), '\n');
});

test('nothing under a second on a terminal, and nothing at all off a terminal', () => {
  const fast = recorder(true, 1);
  const p = progressLine(fast);
  for (let k = 1; k <= 100; k++) p.update(k, 100);
  p.end();
  assert.equal(fast.err, []);
  const pipe = recorder(false, 500);
  const q = progressLine(pipe);
  for (let k = 1; k <= 100; k++) q.update(k, 100);
  q.end();
  assert.equal(pipe.err, []);
});

test('gen --inventory draws it on a slow run on a terminal; stderr stays empty otherwise', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-progress-'));
  try {
    const inventory = join(ROOT, 'test', 'fixtures', 'inventory', 'hosts.yaml');
    const slow = recorder(true, 700);
    assert.is(await main(['--inventory', inventory, '--out', join(tmp, 'a')], slow), 0, slow.err.join(''));
    assert.match(withoutSizeWarning(slow.err.join('')), /\rrendering hosts: 3\/3\n$/);
    const piped = recorder(false, 700);
    assert.is(await main(['--inventory', inventory, '--out', join(tmp, 'b')], piped), 0);
    assert.is(withoutSizeWarning(piped.err.join('')), '');
    // A real terminal (script(1) gives the CLI a pty): stderr holds the progress line and nothing
    // else. Whether the line shows depends on how long the run took (over a second on a loaded
    // machine), so either is accepted; the clock-driven cases are the recorder's above.
    const r = run('script', ['-qec', `node ${GEN} --inventory ${inventory} --out ${join(tmp, 'c')} 2>&1 >/dev/null`, '/dev/null'], {
      cwd: tmp,
    });
    assert.is(r.status, 0, r.stdout);
    assert.match(withoutSizeWarning(r.stdout), /^(?:(?:\rrendering hosts: [1-3]\/3)+\r?\n)?$/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
