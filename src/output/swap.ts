import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  type Dirent,
} from 'node:fs';
import { join } from 'node:path';
import { startupSnapshot } from 'node:v8';
import { childProcess } from '../builtins.ts';
import { UsageError } from '../diagnostics/errors.ts';
import { environmentError } from './fs-errors.ts';
import { displayText } from '../base/display-text.ts';
import { removeStaleLockAttempts } from './lock.ts';
import type { OutTarget } from './target.ts';

// The replacement protocol. Beside DIR, in its parent P, gen keeps only names of these shapes
// (NAME is DIR's last component, XXXXXX six letters or digits):
//   .NAME.gen-tmp-XXXXXX   the new tree being written (mode 0700); complete only once renamed to DIR
//   .NAME.gen-old-XXXXXX   the old DIR, renamed aside during the swap, removed right after it
//   .NAME.gen-lock         the lock (lock.ts)
// The swap is: sync the new tree to disk; rename DIR to .gen-old; rename .gen-tmp to DIR; fsync P;
// remove .gen-old. Whatever instant a kill stops it at, the names left say how far it got, and
// recoverInterrupted() brings P back to the complete old DIR or the complete new one:
//   no DIR, a .gen-old      killed between the two renames: the .gen-old is renamed back to DIR
//   DIR and a .gen-old      killed after the swap: the .gen-old (the old tree) is removed
//   a .gen-tmp              never swapped in (killed while writing, or before the renames): removed

/** Points of the swap a test can stop the process at (a real SIGKILL at an exact instant). */
export type SwapStep = 'synced' | 'moved-aside' | 'moved-in' | 'parent-synced';

const TMP = 'tmp';
const OLD = 'old';

/** The prefix of a temporary tree's name, for mkdtemp (which appends the six characters). */
export function tmpPrefix(t: OutTarget): string {
  return join(t.parent, `.${t.name}.gen-${TMP}-`);
}

/** Where the old DIR goes during the swap: the temporary tree's name, with gen-old for gen-tmp. */
function asideOf(tmp: string, t: OutTarget): string {
  return join(t.parent, `.${t.name}.gen-${OLD}-${tmp.slice(-6)}`);
}

/**
 * Finishes or rolls back what an interrupted run left beside DIR (see the table above), removes
 * its temporary trees and lock attempts, and syncs P when it renamed something. Runs under the
 * lock, before anything else of a run. Only entries owned by this user are touched: in a shared
 * parent such as /tmp, another user's look-alike is not gen's.
 */
export function recoverInterrupted(t: OutTarget): void {
  const what = `recover what an interrupted gen left beside --out ${t.shown}`;
  try {
    const entries = readdirSync(t.parent);
    const ours = new RegExp(`^\\.${escapeRegExp(t.name)}\\.gen-(${TMP}|${OLD})-[A-Za-z0-9]{6}$`);
    const uid = process.getuid?.();
    const found = { [TMP]: [] as string[], [OLD]: [] as string[] };
    for (const entry of entries) {
      const m = ours.exec(entry);
      if (!m) continue;
      const st = lstatSync(join(t.parent, entry));
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) found[m[1] as typeof TMP].push(join(t.parent, entry));
    }
    const olds = found[OLD];
    if (olds.length > 0 && !existsOrLink(t.path)) {
      if (olds.length > 1) {
        throw new UsageError(
          `--out ${t.shown} is missing and ${olds.length} copies set aside by interrupted runs are beside it (${olds.map(displayText).join(', ')}): gen cannot tell which is the last; rename the right one to ${t.shown}`,
        );
      }
      renameSync(olds.pop()!, t.path);
      syncDirectory(t.parent);
    }
    for (const dir of [...olds, ...found[TMP]]) removeTree(dir);
    removeStaleLockAttempts(t, entries);
  } catch (e) {
    throw environmentError(e, what);
  }
}

/**
 * Puts the complete tree `tmp` in place of DIR (see the table above). Returns the aside copy when
 * it could not be removed after a successful swap (the next run removes it). A failure before the
 * new tree is in leaves DIR as it was.
 */
export function swapIn(tmp: string, t: OutTarget, atStep?: (step: SwapStep) => void): { leftAside?: string } {
  try {
    syncTree(tmp);
  } catch (e) {
    throw environmentError(e, 'write the new tree to disk', `${t.shown} was left as it was`);
  }
  atStep?.('synced');
  const aside = asideOf(tmp, t);
  if (existsOrLink(t.path)) {
    try {
      renameSync(t.path, aside);
    } catch (e) {
      throw environmentError(e, `replace --out ${t.shown}`, `${t.shown} was left as it was`);
    }
    atStep?.('moved-aside');
    try {
      renameSync(tmp, t.path);
    } catch (e) {
      // Put the old tree back; should even that fail, the next run's recover() does it.
      try {
        renameSync(aside, t.path);
      } catch {}
      throw environmentError(e, `replace --out ${t.shown}`, `${t.shown} was left as it was`);
    }
  } else {
    try {
      renameSync(tmp, t.path);
    } catch (e) {
      throw environmentError(e, `create --out ${t.shown}`);
    }
  }
  atStep?.('moved-in');
  try {
    syncDirectory(t.parent);
  } catch (e) {
    throw environmentError(
      e,
      `sync the directory holding --out ${t.shown} to disk`,
      `${t.shown} holds the new tree, but a crash now could undo that`,
    );
  }
  atStep?.('parent-synced');
  if (!existsSync(aside)) return {};
  try {
    removeTree(aside);
    return {};
  } catch {
    return { leftAside: aside };
  }
}

/** fsync of one directory (its entries: names created, renamed or removed in it). */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** coreutils' sync, looked up at fixed places rather than in PATH (a swapped PATH must not decide). */
const SYNC_PROGRAMS = ['/usr/bin/sync', '/bin/sync'];

/**
 * Writes every file and directory of the tree `dir` to disk: one `sync -f DIR` (syncfs(2) of the
 * file system holding it) when coreutils' sync is there, else an fsync of each file and directory.
 * One syncfs costs far less than an fsync per file, which waits for the disk once per file (README,
 * Performance: a 5,000-host inventory took 17 s with one syncfs, 69 s with an fsync per file; a
 * single stack ~20 ms against 50–140 ms).
 */
function syncTree(dir: string): void {
  // The startup snapshot's warm-up writes a throw-away tree: loading node:child_process there would
  // put it into the heap that every start of gen restores (scripts/build.mjs).
  if (startupSnapshot.isBuildingSnapshot()) return;
  const sync = SYNC_PROGRAMS.find((p) => existsSync(p));
  if (sync === undefined) return fsyncEach(dir);
  const r = childProcess().spawnSync(sync, ['-f', dir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new UsageError(
      `cannot write the new tree to disk: ${sync} -f failed: ${displayText((r.stderr ?? '').trim().split('\n')[0] ?? '')}`,
    );
}

/** fsync of every file and directory under `dir`, children before their directory. */
export function fsyncEach(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fsyncEach(p);
    else if (e.isFile()) {
      const fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
  syncDirectory(dir);
}

/**
 * Removes the tree `dir` (gen's own: a temporary tree or an aside copy). Twice as fast as
 * fs.rmSync, which stats every entry before removing it: here the type readdir reports decides,
 * and only directories are stat'ed again (so a directory swapped for a link is unlinked, not
 * followed). A `dir` that is already gone is no error.
 */
export function removeTree(dir: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && lstatSync(p).isDirectory()) removeTree(p);
    else unlinkSync(p);
  }
  rmdirSync(dir);
}

function existsOrLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}
