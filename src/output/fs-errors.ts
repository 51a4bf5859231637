import { errnoWords, isErrnoException, UsageError } from '../diagnostics/errors.ts';

// A failed system call while gen writes an output tree is a fact about the machine (a full disk, a
// read-only mount, a permission), never a bug in gen: exit 2 with one sentence, no stack trace.

/**
 * Turns a failed system call into a UsageError "cannot WHAT: WHY (ECODE)[; TAIL]"; anything else
 * (a bug) is returned unchanged, for the caller to rethrow.
 */
export function environmentError(e: unknown, what: string, tail?: string): unknown {
  if (e instanceof UsageError || !isErrnoException(e)) return e;
  return new UsageError(`cannot ${what}: ${errnoWords(e)}${tail ? `; ${tail}` : ''}`);
}

/** Runs `fn`; a failed system call in it becomes the UsageError of `environmentError`. */
export function orEnvironmentError<T>(what: string, fn: () => T, tail?: string): T {
  try {
    return fn();
  } catch (e) {
    throw environmentError(e, what, tail);
  }
}
