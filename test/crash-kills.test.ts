// tier: full — 30 kill -9 at random moments of 5,000-host --out runs (issue 12): about 150 s of CPU, half as much as all of test:fast
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyTree, firstDifference, genAsync, inventoryYaml, leftBeside, prng, sameTree, treeSnapshot } from './out-helpers.ts';

/**
 * Issue 12, item 3: whatever instant gen is killed at, DIR holds the complete old tree or the
 * complete new one once the next run has recovered, and nothing of gen's is left beside it: at
 * least 30 kill -9 at random moments of a 5,000-host --out. The exact instants of the protocol,
 * signals, concurrent runs and the order of syncs are tested in crash-safety.test.ts.
 *
 * The trees live on tmpfs when there is one: a kill stops the process the same way on any file
 * system, and tmpfs spares this machine's ext4 the slow inode allocation that follows the removal
 * of many files (README, Performance), which would make the 30 kills take minutes.
 */
const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'born-tuned-kills-'));
const HOSTS = 5000;
const KILLS = 30;
const SEED = Number(process.env.CRASH_SEED ?? 20260212);

const inventories = {
  old: join(base, 'old.yaml'),
  new: join(base, 'new.yaml'),
  // Fails validation (exit 1): the run that follows a kill must still recover DIR first.
  invalid: join(base, 'invalid.yaml'),
};
// Hosts with nothing of their own but a name: 15,000 files per tree, and each run costs the least
// a 5,000-host run can (NICs would add a file and ~40% of the time per host).
writeFileSync(inventories.old, inventoryYaml(HOSTS, ['incus-dense', '10gbe']));
writeFileSync(inventories.new, inventoryYaml(HOSTS, ['incus-dense']));
writeFileSync(inventories.invalid, 'hosts:\n  node1:\n    profles: [incus-dense]\n');

/** The two reference trees, written by uninterrupted runs into fresh directories. */
const refs = await (async () => {
  const dirs = { old: join(base, 'ref-old'), new: join(base, 'ref-new') };
  const runs = await Promise.all(
    (['old', 'new'] as const).map((which) => genAsync(['--inventory', inventories[which], '--out', dirs[which]]).done),
  );
  for (const r of runs) if (r.status !== 0) throw new Error(`a reference tree: exit ${r.status}: ${r.stderr}`);
  return { dirs, old: treeSnapshot(dirs.old), new: treeSnapshot(dirs.new) };
})();

/** Which reference tree `dir` is, or a failure naming the first difference. */
function whichTree(dir: string): 'old' | 'new' {
  const snap = treeSnapshot(dir);
  if (sameTree(snap, refs.old)) return 'old';
  if (sameTree(snap, refs.new)) return 'new';
  assert.unreachable(
    `${dir} is neither the old tree nor the new one: old/new ${firstDifference(snap, refs.old)} | ${firstDifference(snap, refs.new)}`,
  );
  throw new Error('unreachable');
}

/** Where a kill stopped a run replacing the tree `from`, from what is at and beside DIR. */
function stoppedAt(dir: string, from: 'old' | 'new'): string {
  const left = leftBeside(dir);
  const has = (infix: string) => left.some((e) => e.includes(infix));
  if (has('.gen-old-')) return existsSync(dir) ? 'removing the old tree' : 'between the two renames';
  if (has('.gen-tmp-')) return 'writing the new tree';
  const manifest = readFileSync(join(dir, 'manifest.json'), 'utf8');
  return manifest === readFileSync(join(refs.dirs[from], 'manifest.json'), 'utf8') ? 'before the first file' : 'after the swap';
}

test(`kill -9 at ${KILLS} random moments of a ${HOSTS}-host --out: the next run leaves the old tree or the new one, and nothing beside it`, async () => {
  // Two lanes (two directories) run at once: one gen each keeps both cores busy. The length of a
  // run, to spread the kills over it, is measured the same way: both lanes' first replacement at once.
  const lanes = [join(base, 'lane0', 'out'), join(base, 'lane1', 'out')];
  for (const dir of lanes) copyTree(refs.dirs.old, dir);
  const t0 = Date.now();
  const firsts = await Promise.all(lanes.map((dir) => genAsync(['--inventory', inventories.new, '--out', dir]).done));
  const runMs = Date.now() - t0;
  for (const [i, dir] of lanes.entries()) {
    assert.is(firsts[i]!.status, 0, firsts[i]!.stderr);
    assert.is(whichTree(dir), 'new');
    assert.equal(leftBeside(dir), []);
  }

  // One kill moment in each of KILLS equal slices of the run, at random within its slice, in a
  // random order: random, yet spread from the start to the swap and the removal of the old tree.
  const random = prng(SEED);
  const moments = Array.from({ length: KILLS }, (_, i) => ((i + random()) / KILLS) * runMs).sort(() => random() - 0.5);
  const phases = new Map<string, number>();
  const outcomes = { old: 0, new: 0 };
  let kills = 0;
  const lane = async (dir: string) => {
    let current: 'old' | 'new' = 'new';
    for (let moment = moments.pop(); moment !== undefined; moment = moments.pop()) {
      const other = current === 'old' ? 'new' : 'old';
      const run = genAsync(['--inventory', inventories[other], '--out', dir]);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), moment);
      const r = await run.done;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') {
        kills++;
        const phase = stoppedAt(dir, current);
        phases.set(phase, (phases.get(phase) ?? 0) + 1);
      } else {
        assert.is(r.status, 0, `uninterrupted run: ${r.stderr}`);
        // It ended before its moment: that moment goes to a later run.
        moments.unshift(moment * 0.9);
      }
      const next = await genAsync(['--inventory', inventories.invalid, '--out', dir]).done;
      assert.is(next.status, 1, `the run after the kill fails on its invalid inventory: ${next.stderr}`);
      assert.equal(leftBeside(dir), [], `nothing of gen's left beside ${dir} after the next run`);
      current = whichTree(dir);
      if (r.signal !== 'SIGKILL') assert.is(current, other, 'a run that was not killed wrote its tree');
      else outcomes[current]++;
    }
  };
  await Promise.all(lanes.map(lane));
  console.log(
    `  ${kills} kills (seed ${SEED}, run ${runMs} ms): ${[...phases].map(([p, n]) => `${n} ${p}`).join(', ')}; then the old tree ${outcomes.old} times, the new tree ${outcomes.new}`,
  );
  assert.is(kills, KILLS);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
