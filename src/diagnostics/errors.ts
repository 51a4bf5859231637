import type { Diagnostic } from './diagnostic.ts';

/** Exit codes of the CLI; the README documents them. */
export const ExitCode = {
  ok: 0,
  invalidProfile: 1,
  /** verify found a failing check, diff a difference: the answer, not a fault. */
  findings: 1,
  usage: 2,
  internal: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The user's input (profile or stack) is invalid; carries every diagnostic found. */
export class ProfileError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`${diagnostics.length} problem(s) in the profile`);
  }
}

/** The command line is wrong: unknown profile, bad flag, conflicting options. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly diagnostics: Diagnostic[] = [],
  ) {
    super(message);
  }
}

/** The generator produced something that does not parse back to what it meant: a bug in this tool. */
export class InternalError extends Error {}

/** An error from the operating system (errno code and system call), as Node raises them. */
export function isErrnoException(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) &&
    typeof (e as NodeJS.ErrnoException).syscall === 'string'
  );
}

const ERRNO_WORDS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'the disk quota is exceeded',
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EBUSY: 'the file or directory is busy (a mount point?)',
    ENAMETOOLONG: 'a name is too long for the file system',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is not a directory',
    EISDIR: 'is a directory',
    EEXIST: 'already exists',
    ELOOP: 'too many levels of symbolic links',
    EMFILE: 'too many open files in this process',
    ENFILE: 'too many open files in the system',
    EIO: 'input/output error',
    EXDEV: 'crosses file systems',
    ENOTEMPTY: 'the directory is not empty',
    EMLINK: 'too many links',
    EINVAL: 'the file system refused the operation',
  }),
);

/** An errno in words for a sentence, with its code: "no space left on the device (ENOSPC)". */
export function errnoWords(e: NodeJS.ErrnoException): string {
  const code = e.code ?? 'EIO';
  return `${ERRNO_WORDS[code] ?? 'system error'} (${code})`;
}
