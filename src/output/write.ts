import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { UsageError } from '../diagnostics/errors.ts';
import type { Artifact } from '../render/artifact.ts';
import { environmentError, orEnvironmentError } from './fs-errors.ts';
import { displayText } from '../base/display-text.ts';
import { acquireLock, type OutLock } from './lock.ts';
import { SecretDigests } from './secret-digests.ts';
import { stopOnSignals, yieldToSignals } from './signals.ts';
import { recoverInterrupted, removeTree, swapIn, tmpPrefix, type SwapStep } from './swap.ts';
import { resolveOutTarget, targetExists, type OutTarget } from './target.ts';
import { describeLosses, inspectTree } from './tree-check.ts';

/** Test hooks: called after each file is written into the temporary tree, and at each step of the
 * swap (to inject failures, or to kill the process at an exact instant). */
interface WriteHooks {
  afterFile?: (path: string) => void;
  atStep?: (step: SwapStep) => void;
}

/** Options of a tree write. */
interface WriteOptions {
  /** Replace DIR even when it is not exactly a tree gen wrote. */
  force?: boolean;
  hooks?: WriteHooks;
}

/** What a commit did: how many files the tree has, and the copy of the old tree left beside DIR
 * when it could not be removed after the swap (the next run removes it). */
interface Written {
  files: number;
  leftAside?: string;
}

/** Writes every artifact as a tree at `outDir`, replacing what is there (see TreeWriter). */
export async function writeTree(outDir: string, artifacts: readonly Artifact[], opts: WriteOptions = {}): Promise<Written> {
  const writer = TreeWriter.open(outDir, opts);
  try {
    for (const a of artifacts) writer.write(a);
    return await writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/**
 * Writes a tree at `--out DIR`, one artifact at a time (a 10,000-host inventory never holds every
 * file in memory), and puts it in place of DIR only once it is complete and on disk.
 *
 * open() checks DIR (target.ts), then, when DIR's parent exists: takes the lock beside DIR
 * (lock.ts) and finishes or rolls back what an interrupted run left (swap.ts). The first file
 * refuses a DIR that is not exactly a tree gen wrote unless `force` (tree-check.ts), then goes
 * with the others to a temporary tree beside DIR (mode 0700); commit() syncs it to disk and swaps
 * it in (swap.ts), abort() removes it.
 * Until then, SIGINT, SIGTERM and SIGHUP remove the temporary tree and the lock and end the process
 * (signals.ts). Any failed system call is a UsageError (exit 2) saying what could not be done.
 */
export class TreeWriter {
  private lock: OutLock | undefined;
  private tmp: string | undefined;
  private unguardSignals: (() => void) | undefined;
  private secrets: SecretDigests | undefined;
  private swapped = false;
  private files = 0;
  private readonly made = new Set<string>();
  private readonly umask = process.umask();

  private constructor(
    private readonly target: OutTarget,
    private readonly opts: WriteOptions,
  ) {}

  /** Checks `outDir`; when its parent exists, locks it and recovers what an interrupted run left. */
  static open(outDir: string, opts: WriteOptions = {}): TreeWriter {
    const writer = new TreeWriter(resolveOutTarget(outDir), opts);
    try {
      // Without the parent there is nothing to recover or replace: the lock is taken with the
      // first file, once the parent is created (so that an invalid input creates nothing).
      if (isDirectory(writer.target.parent)) writer.takeOver();
    } catch (e) {
      writer.abort();
      throw e;
    }
    return writer;
  }

  /** Writes one file into the temporary tree with its mode. */
  write(a: Artifact): void {
    const content = a.bytes ?? a.text;
    this.put(a, content);
    if (a.holdsSecret) (this.secrets ??= new SecretDigests()).add(a.path, content);
    this.opts.hooks?.afterFile?.(a.path);
  }

  /**
   * Puts the finished tree in place of DIR and releases the lock. A signal received while the swap
   * ran is handled once it is over (DIR then holds the new tree).
   */
  async commit(): Promise<Written> {
    // A signal received during the synchronous work so far stops the run here, before the swap.
    await yieldToSignals();
    if (this.secrets) {
      const digests = this.secrets.artifact();
      this.put(digests, digests.text);
    }
    const tmp = this.tmp ?? this.startTree();
    const done = swapIn(tmp, this.target, this.opts.hooks?.atStep);
    this.tmp = undefined;
    this.swapped = true;
    this.releaseLock();
    await yieldToSignals();
    this.unguardSignals?.();
    return { files: this.files, ...done };
  }

  /** Removes the temporary tree and releases the lock; DIR stays as it was. Never throws. */
  abort(): void {
    if (this.tmp !== undefined) {
      try {
        removeTree(this.tmp);
      } catch {
        // Left for the next run's recovery, which removes temporary trees.
      }
      this.tmp = undefined;
    }
    this.releaseLock();
    this.unguardSignals?.();
  }

  /** Locks DIR and recovers what an interrupted run left: first thing, before the input is read. */
  private takeOver(): void {
    this.lock = acquireLock(this.target);
    this.unguardSignals = stopOnSignals((signal) => this.stoppedBy(signal));
    recoverInterrupted(this.target);
  }

  /** Refuses a DIR that is not exactly a tree gen wrote, unless `force`. Checked with the first
   * file, once the input has proved valid: an invalid input is reported without reading DIR. */
  private checkReplaceable(): void {
    const t = this.target;
    if (!targetExists(t) || this.opts.force) return;
    const inspection = inspectTree(t.path, t.shown);
    if (inspection.losses.length > 0) throw new UsageError(describeLosses(inspection, t.shown));
  }

  private stoppedBy(signal: string): string {
    if (this.swapped) {
      this.releaseLock();
      return `stopped by ${signal}; --out ${this.target.shown} holds the new tree`;
    }
    this.abort();
    return `stopped by ${signal}; --out ${this.target.shown} was left as it was`;
  }

  private releaseLock(): void {
    this.lock?.release();
    this.lock = undefined;
  }

  /** Creates the temporary tree (and DIR's parent, the lock, the recovery when not done yet). */
  private startTree(): string {
    const t = this.target;
    if (this.lock === undefined) {
      orEnvironmentError(`create the directory ${displayText(t.parent)} for --out ${t.shown}`, () =>
        mkdirSync(t.parent, { recursive: true }),
      );
      this.takeOver();
    }
    this.checkReplaceable();
    this.tmp = orEnvironmentError(
      `create a temporary tree beside --out ${t.shown}`,
      () => mkdtempSync(tmpPrefix(t)),
      `${t.shown} was left as it was`,
    );
    return this.tmp;
  }

  private put(a: Artifact, content: string | Uint8Array): void {
    const tmp = this.tmp ?? this.startTree();
    const file = safeJoin(tmp, a.path);
    try {
      this.makeDir(tmp, dirname(file));
      writeFileSync(file, content, { mode: a.mode });
      // The umask may only narrow the mode we chose; restore it when it did.
      if ((a.mode & ~this.umask) !== a.mode) chmodSync(file, a.mode);
      this.files++;
    } catch (e) {
      throw environmentError(e, `write the new tree beside --out ${this.target.shown}`, `${this.target.shown} was left as it was`);
    }
  }

  /** Creates a directory of the tree and its missing parents, one mkdir each: syscalls are what a
   * 10,000-host inventory spends its time on, and a recursive mkdir probes before it creates. */
  private makeDir(tmp: string, dir: string): void {
    if (dir === tmp || this.made.has(dir)) return;
    this.makeDir(tmp, dirname(dir));
    mkdirSync(dir);
    this.made.add(dir);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `root/rel`, refusing any relative path that would leave `root`. */
function safeJoin(root: string, rel: string): string {
  const full = resolve(root, rel);
  const back = relative(root, full);
  if (back === '' || back.startsWith(`..${sep}`) || back === '..' || isAbsolute(back)) {
    throw new Error(`artifact path ${rel} leaves the output directory`);
  }
  return full;
}
