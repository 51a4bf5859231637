import { existsSync, lstatSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { os } from '../builtins.ts';
import { UsageError } from '../diagnostics/errors.ts';
import { fileType } from '../source/read-file.ts';
import { environmentError } from './fs-errors.ts';
import { displayText } from '../base/display-text.ts';

/** Where `--out DIR` writes, once checked. */
export interface OutTarget {
  /** DIR as the operator typed it, for messages. */
  shown: string;
  /** The absolute path (normalised without resolving symbolic links): every operation uses it. */
  path: string;
  /** Its parent directory, which holds the temporary tree, the aside copy and the lock. */
  parent: string;
  /** Its last component. */
  name: string;
}

// gen keeps `.NAME.gen-tmp-XXXXXX` beside DIR: 1 + NAME + 15 bytes must fit the 255-byte limit of
// a file name on Linux file systems.
const MAX_NAME_BYTES = 255 - '..gen-tmp-XXXXXX'.length;

/**
 * Checks `--out DIR` before anything is read or written, and says in one sentence why it cannot be
 * used: an empty path; `/`, the current directory, one of its parents, or a home directory (or a
 * directory holding one) — compared as real paths, so a symbolic link to one of them is caught; a
 * name too long for the temporary names kept beside it; a symbolic link at DIR (gen does not follow
 * it into another place: the operator gives the real path); something other than a directory; a
 * mount point (DIR is replaced by renaming, which a mount point does not allow). `--force` changes
 * none of this.
 */
export function resolveOutTarget(out: string): OutTarget {
  if (out === '') throw new UsageError('--out needs a directory: an empty path would name the current directory');
  const shown = displayText(out);
  if (out.includes('\0')) throw new UsageError(`--out ${shown} holds a NUL character, which no path can`);
  const path = resolve(out);
  const name = basename(path);
  if (path === dirname(path)) throw new UsageError(`--out ${shown} is the root directory: gen never replaces it`);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new UsageError(
      `--out ${shown}: the name ${displayText(name)} is too long (${Buffer.byteLength(name)} bytes); gen keeps .NAME.gen-tmp-XXXXXX beside it, so a name may have at most ${MAX_NAME_BYTES} bytes`,
    );
  }
  refuseForbidden(shown, realPathOf(path, shown));
  const target = { shown, path, parent: dirname(path), name };
  targetExists(target);
  return target;
}

/**
 * Whether a directory is at DIR now; throws the UsageError of anything else there (a symbolic link,
 * a file, a mount point). Checked again after an interrupted run was recovered.
 */
export function targetExists(t: OutTarget): boolean {
  const { shown, path, parent } = t;
  const st = lstatOrUndefined(path, shown);
  if (st === undefined) return false;
  if (st.isSymbolicLink()) {
    const to = displayText(readlinkSync(path));
    const dangling = !existsSync(path);
    throw new UsageError(
      `--out ${shown} is a symbolic link (to ${to}${dangling ? ', which does not exist' : ''}): gen does not write through a link into another place; give the real path`,
    );
  }
  if (!st.isDirectory()) throw new UsageError(`--out ${shown} exists and is not a directory (it is ${fileType(st)})`);
  const parentStat = lstatOrUndefined(parent, shown);
  if (parentStat && parentStat.dev !== st.dev) {
    throw new UsageError(
      `--out ${shown} is a mount point: gen replaces DIR by renaming, which a mount point does not allow; use a directory inside it`,
    );
  }
  return true;
}

/** Refuses `/`, the current directory and its parents, a home directory and its parents. */
function refuseForbidden(shown: string, real: string): void {
  const contains = (dir: string) => dir === real || dir.startsWith(real.endsWith(sep) ? real : `${real}${sep}`);
  if (real === dirname(real)) throw new UsageError(`--out ${shown} is the root directory (${displayText(real)}): gen never replaces it`);
  // getcwd(2) already gives the real path; resolving it again only fails where the user cannot
  // enter a directory above it (a cwd of root's under sudo -u), which must not stop the run.
  const cwd = realPathOf(process.cwd(), '.', true);
  if (cwd === real)
    throw new UsageError(
      `--out ${shown} is the current directory (${displayText(real)}): gen would replace it as a whole; name a directory of its own, such as out/NAME`,
    );
  if (contains(cwd))
    throw new UsageError(
      `--out ${shown} is a parent of the current directory (${displayText(real)}): gen would replace it as a whole; name a directory of its own, such as out/NAME`,
    );
  for (const home of homeDirectories()) {
    if (contains(home))
      throw new UsageError(
        `--out ${shown} ${home === real ? 'is' : 'holds'} the home directory ${displayText(home)}: gen would replace it as a whole; name a directory of its own, such as out/NAME`,
      );
  }
}

/** $HOME, and for root also the home of its passwd entry (HOME may be another user's under sudo). */
function homeDirectories(): string[] {
  const homes = [process.env.HOME, process.getuid?.() === 0 ? os().userInfo().homedir : undefined];
  return homes.filter((h): h is string => typeof h === 'string' && h.startsWith('/')).map((h) => realPathOf(h, h, true));
}

/**
 * The real path of `path` (symbolic links resolved): the deepest part that exists, resolved by the
 * kernel, plus the rest, which does not exist yet and so holds no link.
 */
function realPathOf(path: string, shown: string, lenient = false): string {
  try {
    return realpathSync.native(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const up = dirname(path);
    if (code === 'ENOENT' && up !== path) return join(realPathOf(up, shown, lenient), basename(path));
    if (lenient) return path;
    throw environmentError(e, `use --out ${shown}`);
  }
}

function lstatOrUndefined(path: string, shown: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw environmentError(e, `use --out ${shown}`);
  }
}
