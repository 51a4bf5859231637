import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { UsageError } from '../diagnostics/errors.ts';
import type { Artifact } from '../render/artifact.ts';
import { MANIFEST_FILE } from './manifest.ts';

/** Test hook: called after each file is written into the temporary tree (to inject failures). */
export interface WriteHooks {
  afterFile?: (path: string) => void;
}

/**
 * Writes every artifact under `outDir` atomically: the tree is built in a temporary directory next
 * to it and renamed into place; on any error the temporary tree is removed and an existing
 * `outDir` is left exactly as it was. An existing non-empty directory is replaced only when gen
 * wrote it (it holds our manifest.json) or `force` is set.
 */
export function writeTree(outDir: string, artifacts: readonly Artifact[], opts: { force?: boolean; hooks?: WriteHooks } = {}): void {
  const writer = TreeWriter.open(outDir, opts);
  try {
    for (const a of artifacts) writer.write(a);
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/**
 * The same atomic tree, written one artifact at a time, so a large run (an inventory of thousands
 * of hosts) never holds every file in memory. Call commit() at the end, abort() on any error.
 */
export class TreeWriter {
  private readonly made = new Set<string>();
  private readonly umask = process.umask();

  private constructor(
    private readonly target: string,
    private readonly tmp: string,
    private readonly hooks: WriteHooks | undefined,
  ) {}

  /** Checks `outDir` and creates the temporary directory next to it. */
  static open(outDir: string, opts: { force?: boolean; hooks?: WriteHooks } = {}): TreeWriter {
    const target = resolve(outDir);
    checkTarget(target, opts.force ?? false);
    const parent = dirname(target);
    try {
      mkdirSync(parent, { recursive: true });
    } catch (e) {
      throw new UsageError(`cannot create ${parent}: ${(e as NodeJS.ErrnoException).code}`);
    }
    try {
      return new TreeWriter(target, mkdtempSync(join(parent, `.${basename(target)}.tmp-`)), opts.hooks);
    } catch (e) {
      throw new UsageError(`cannot write next to ${outDir}: ${(e as NodeJS.ErrnoException).code}; choose a writable --out`);
    }
  }

  /** Writes one file into the temporary tree with its mode. */
  write(a: Artifact): void {
    const file = safeJoin(this.tmp, a.path);
    this.makeDir(dirname(file));
    writeFileSync(file, a.bytes ?? a.text, { mode: a.mode });
    // The umask may only narrow the mode we chose; restore it when it did.
    if ((a.mode & ~this.umask) !== a.mode) chmodSync(file, a.mode);
    this.hooks?.afterFile?.(a.path);
  }

  /** Creates a directory of the tree and its missing parents, one mkdir each: syscalls are what a
   * 10,000-host inventory spends its time on, and a recursive mkdir probes before it creates. */
  private makeDir(dir: string): void {
    if (dir === this.tmp || this.made.has(dir)) return;
    this.makeDir(dirname(dir));
    mkdirSync(dir);
    this.made.add(dir);
  }

  /** Puts the finished tree in place of `outDir`. */
  commit(): void {
    swapInto(this.tmp, this.target);
  }

  /** Removes the temporary tree; `outDir` stays as it was. */
  abort(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

function checkTarget(target: string, force: boolean): void {
  if (target === '/' || target === dirname(target)) throw new UsageError('--out must not be the root directory');
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new UsageError(`--out ${target} exists and is not a directory`);
  const entries = readdirSync(target);
  if (entries.length === 0 || force) return;
  if (!entries.includes(MANIFEST_FILE) || !isOurManifest(join(target, MANIFEST_FILE))) {
    throw new UsageError(`--out ${target} is not empty and was not written by gen (no ${MANIFEST_FILE}); choose another directory or add --force to replace it`);
  }
}

function isOurManifest(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { generator?: string }).generator === 'born-tuned';
  } catch {
    return false;
  }
}

/** Replaces `target` by `tmp`: move the old tree aside, move the new one in, then drop the old. */
function swapInto(tmp: string, target: string): void {
  if (!existsSync(target)) {
    renameSync(tmp, target);
    return;
  }
  const old = `${tmp}.old`;
  renameSync(target, old);
  try {
    renameSync(tmp, target);
  } catch (e) {
    renameSync(old, target);
    throw e;
  }
  rmSync(old, { recursive: true, force: true });
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
