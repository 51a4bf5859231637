import { UsageError } from '../diagnostics/errors.ts';

// What an errno means to the operator. A failed system call while gen writes an output tree is a
// fact about the machine (a full disk, a read-only mount, a permission), never a bug in gen: it is
// exit 2 with one sentence, not an internal error with a stack trace.
const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EBUSY: 'it is in use (a mount point, or busy)',
  ENAMETOOLONG: 'a name is too long for the file system',
  ELOOP: 'too many symbolic links',
  ENOTDIR: 'a part of the path is not a directory',
  ENOENT: 'a part of the path does not exist (removed while gen ran?)',
  EEXIST: 'something else was created there while gen ran',
  ENOTEMPTY: 'a directory was not empty',
  EXDEV: 'it is on another file system',
  EMLINK: 'too many links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  EINVAL: 'the file system refused the operation',
};

/** True when `e` is a failed system call (Node's SystemError: `code` and `syscall`). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * Turns a failed system call into a UsageError "cannot WHAT: WHY (ECODE)[; TAIL]"; anything else
 * (a bug) is returned unchanged, for the caller to rethrow.
 */
export function environmentError(e: unknown, what: string, tail?: string): unknown {
  if (e instanceof UsageError || !isSystemError(e)) return e;
  const code = e.code!;
  const why = Object.hasOwn(ERRNO_WORDS, code) ? ERRNO_WORDS[code]! : 'the system refused';
  return new UsageError(`cannot ${what}: ${why} (${code})${tail ? `; ${tail}` : ''}`);
}

/** Runs `fn`; a failed system call in it becomes the UsageError of `environmentError`. */
export function orEnvironmentError<T>(what: string, fn: () => T, tail?: string): T {
  try {
    return fn();
  } catch (e) {
    throw environmentError(e, what, tail);
  }
}

// C0 and C1 controls, DEL, line separators and the bidirectional controls: a file name holding
// them could rewrite what the operator's terminal shows.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A path as it may be shown on a terminal: unprintable characters as \u{…} escapes. */
export function shownPath(path: string): string {
  return path.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}
