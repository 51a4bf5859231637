import { closeSync, constants, fstatSync, linkSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../diagnostics/errors.ts';
import { environmentError } from './fs-errors.ts';
import { displayText } from '../base/display-text.ts';
import type { OutTarget } from './target.ts';

/** The lock of one output directory, held by this process until release(). */
export interface OutLock {
  release(): void;
}

/** Who holds a lock: a process, named by its pid and its start time (clock ticks after boot,
 * field 22 of /proc/PID/stat), so that a pid reused by an unrelated process is not mistaken for it. */
interface Holder {
  pid: number;
  start: string;
}

/** The lock file beside DIR. */
function lockPath(t: OutTarget): string {
  return join(t.parent, `.${t.name}.gen-lock`);
}

/**
 * Takes the lock of `t`: the file `.NAME.gen-lock` beside DIR, holding "PID START". It is created
 * whole (written under a name of this process, then hard-linked into place: link fails when the
 * lock exists), so no reader ever sees it empty. A lock whose process is gone (killed) is taken
 * over: it is first renamed aside, and put back if what was renamed turns out to be another run's
 * fresh lock. A live holder makes this run a usage error, exit 2: "another gen (pid N) is writing
 * DIR".
 */
export function acquireLock(t: OutTarget): OutLock {
  const lock = lockPath(t);
  const me = currentHolder();
  const content = `${me.pid} ${me.start}\n`;
  const mine = `${lock}.${me.pid}`;
  const what = `create the lock ${displayText(lock)} beside --out ${t.shown}`;
  writeWhole(mine, content, what);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (publish(mine, lock, what)) return { release: () => releaseLock(lock, content) };
      const held = readLock(lock);
      if (held === undefined) continue; // released meanwhile
      const holder = parseHolder(held);
      if (holder && isRunning(holder)) throw new UsageError(`another gen (pid ${holder.pid}) is writing ${t.shown}; wait until it ends`);
      takeOverStale(lock, held, `${lock}.${me.pid}.stale`, what);
    }
    throw new UsageError(`cannot take the lock ${displayText(lock)}: other runs of gen keep taking it; try again`);
  } finally {
    unlinkQuietly(mine);
  }
}

/**
 * Removes the per-process files of lock attempts that a killed gen left beside DIR
 * (`.NAME.gen-lock.PID` and `.NAME.gen-lock.PID.stale`), leaving those of running processes.
 */
export function removeStaleLockAttempts(t: OutTarget, entries = readdirSync(t.parent)): void {
  const prefix = `.${t.name}.gen-lock.`;
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const m = /^(\d+)(\.stale)?$/.exec(entry.slice(prefix.length));
    if (m && Number(m[1]) !== process.pid && !pidExists(Number(m[1]))) unlinkQuietly(join(t.parent, entry));
  }
}

/** Puts the lock in place (a hard link of this process's file); false when one exists. */
function publish(mine: string, lock: string, what: string): boolean {
  try {
    linkSync(mine, lock);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw environmentError(e, what);
  }
}

function takeOverStale(lock: string, staleContent: string, aside: string, what: string): void {
  try {
    renameSync(lock, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another run took it over first
    throw environmentError(e, what);
  }
  if (readLock(aside) === staleContent) {
    unlinkQuietly(aside);
    return;
  }
  // Another run took the stale lock over between our read and our rename: give its lock back.
  try {
    linkSync(aside, lock);
  } catch {
    // A third run took the lock in that very instant: it holds it now, and so, without knowing,
    // does the run whose lock this was (the one race left; the README states it).
  }
  unlinkQuietly(aside);
}

function releaseLock(lock: string, content: string): void {
  if (readLock(lock) === content) unlinkQuietly(lock);
}

function writeWhole(path: string, content: string, what: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    throw environmentError(e, what);
  }
  try {
    writeSync(fd, content);
  } catch (e) {
    unlinkQuietly(path);
    throw environmentError(e, what);
  } finally {
    closeSync(fd);
  }
}

/** The lock's content; undefined when it is gone (or not a regular file gen could have made). */
function readLock(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function parseHolder(text: string): Holder | undefined {
  const m = /^(\d{1,10}) (\d{1,20}|-)\n$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2]! } : undefined;
}

/** This process. Read at each call: a startup snapshot must not keep the pid of its builder. */
function currentHolder(): Holder {
  return { pid: process.pid, start: statOf(process.pid)?.start ?? '-' };
}

/** True when the holder still runs: same pid, same start time, not a zombie. */
function isRunning(h: Holder): boolean {
  if (h.start === '-') return pidExists(h.pid);
  const st = statOf(h.pid);
  return st !== undefined && st.start === h.start && st.state !== 'Z' && st.state !== 'X';
}

function pidExists(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** State and start time of a process, from /proc/PID/stat (after the command name, which may hold
 * spaces and parentheses: the fields are counted from the last ')'). */
function statOf(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const start = fields[19];
  return start && /^\d+$/.test(start) ? { state: fields[0] ?? '', start } : undefined;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or not ours to remove: nothing to clean.
  }
}
