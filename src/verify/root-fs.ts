import { lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fileType, readRegularFile, type ReadProblem, type ReadResult } from '../source/read-file.ts';

/**
 * A host's filesystem seen from a root directory, as a process chrooted there sees it: `gen verify`
 * reads `/` on a live host and a mounted image or fixture tree with `--root`, through the same code.
 * Paths are resolved here component by component, so nothing an image contains (an absolute link,
 * a `..` chain, a link in the middle of a path) leads a read outside the root, and only then read
 * without following links. A tree rewritten while verify runs is out of scope: the resolved path is
 * read by name, so a directory swapped for a link in between is followed once.
 */

/** Links followed in one resolution before it is called a loop: the kernel's own limit (MAXSYMLINKS). */
export const MAX_LINKS = 40;

/** Where a path under the root leads: the real path to read, the same path as seen from inside the
 * root (`/sys/devices/...`), and what it is (never a symbolic link); or why it leads nowhere, and
 * where (as seen from inside the root) the walk stopped. */
type Resolution = { ok: true; path: string; inRoot: string; stats: Stats } | { ok: false; problem: ReadProblem; at: string };

/**
 * Resolves `path` (absolute, as seen from inside the root) under `root` as a chroot would: each
 * component is lstat'ed; a symbolic link's target replaces it (an absolute target starts again at the
 * root), `..` never climbs above the root, and more than MAX_LINKS links is a loop. `root` itself is
 * trusted (the operator named it) and may be a link.
 */
export function resolveInRoot(root: string, path: string): Resolution {
  // A stack of the components still to walk, the next one last.
  const pending = path.split('/').reverse();
  const walked: string[] = [];
  let stats: Stats | undefined;
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      walked.pop();
      stats = undefined;
      continue;
    }
    // walked holds real directories only, so the kernel follows no link to reach `here`.
    const here = join(root, ...walked, name);
    const at = `/${[...walked, name].join('/')}`;
    let st: Stats;
    try {
      st = lstatSync(here);
    } catch (e) {
      return { ...fsProblem(e), at };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS)
        return {
          ok: false,
          problem: { kind: 'unreadable', message: `is a symbolic link loop (more than ${MAX_LINKS} links to follow)`, code: 'ELOOP' },
          at,
        };
      let target: string;
      try {
        target = readlinkSync(here);
      } catch (e) {
        return { ...fsProblem(e), at };
      }
      if (target.startsWith('/')) walked.length = 0;
      pending.push(...target.split('/').reverse());
      continue;
    }
    // As the kernel does: a file cannot be walked through (`file/x`, `file/..`, `file/`).
    if (!st.isDirectory() && pending.length > 0)
      return {
        ok: false,
        problem: { kind: 'missing', message: 'does not exist (a part of the path is not a directory)', code: 'ENOTDIR' },
        at,
      };
    walked.push(name);
    stats = st;
  }
  const real = join(root, ...walked);
  if (stats === undefined) {
    // The path ended at the root or after a `..`: a directory already walked, or the root itself.
    try {
      stats = statSync(real);
    } catch (e) {
      return { ...fsProblem(e), at: `/${walked.join('/')}` };
    }
  }
  return { ok: true, path: real, inRoot: `/${walked.join('/')}`, stats };
}

/** Options of a read under a root. */
interface RootReadOptions {
  /** The most bytes the caller accepts (see readRegularFile). */
  maxBytes: number;
  /** A directory (as seen from inside the root, e.g. `/proc`) the path must not lead out of. */
  within?: string;
}

/** Reads the regular file `path` under `root` whole, up to `maxBytes`, or says why it cannot. */
export function readInRoot(root: string, path: string, opts: RootReadOptions): ReadResult {
  const r = resolveConfined(root, path, opts.within);
  if (!r.ok) return r;
  // The path is resolved: a link now would be one that appeared since, and is refused.
  return readRegularFile(r.path, { maxBytes: opts.maxBytes, noFollow: true });
}

/** The names in the directory `path` under `root`, sorted, or why it cannot be listed. */
export function listInRoot(
  root: string,
  path: string,
  within?: string,
): { ok: true; names: string[] } | { ok: false; problem: ReadProblem } {
  const r = resolveConfined(root, path, within);
  if (!r.ok) return r;
  // Checked first: only a directory is opened (opening a FIFO to list it would wait for a writer).
  if (!r.stats.isDirectory()) return { ok: false, problem: { kind: 'not-regular', message: `is ${fileType(r.stats)}, not a directory` } };
  try {
    return { ok: true, names: readdirSync(r.path).sort() };
  } catch (e) {
    return fsProblem(e);
  }
}

/** resolveInRoot, refusing a path that leads out of `within` (as seen from inside the root), whether
 * or not what it leads to exists there. */
export function resolveConfined(root: string, path: string, within?: string): Resolution {
  const r = resolveInRoot(root, path);
  if (within === undefined) return r;
  const reached = r.ok ? r.inRoot : r.at;
  if (reached !== within && !reached.startsWith(`${within}/`)) {
    return { ok: false, problem: { kind: 'unreadable', message: `is a symbolic link out of ${within}` }, at: reached };
  }
  return r;
}

/** The problem an error of lstat, readlink or readdir stands for. */
function fsProblem(e: unknown): { ok: false; problem: ReadProblem } {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, problem: { kind: 'missing', message: 'does not exist', code } };
  const words = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
  return { ok: false, problem: { kind: 'unreadable', message: `cannot be read (${words})`, code } };
}
