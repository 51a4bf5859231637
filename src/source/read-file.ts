import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/**
 * The one way gen reads a file a user named (profile, inventory, include, secret, a file under
 * `verify --root`): regular files only, never more than a cap. A FIFO would block the read forever,
 * a device such as /dev/zero never ends (and opening some devices has side effects, so they are not
 * even opened), a huge file exhausts memory. The file is stat'ed before it is opened, and the open
 * descriptor is checked again, so a file swapped for a FIFO in between is still refused.
 */
export type ReadResult = { ok: true; bytes: Buffer } | { ok: false; problem: ReadProblem };

/** Why a file could not be read, in words that complete "PATH ..." plus the errno when there is one. */
export interface ReadProblem {
  kind: 'missing' | 'not-regular' | 'too-large' | 'unreadable';
  /** e.g. "does not exist", "is a FIFO, not a regular file", "is larger than 262144 bytes". */
  message: string;
  code?: string;
}

/** Options of a read. */
interface ReadOptions {
  /** The most bytes the caller accepts; one more is a refusal, not a truncation. */
  maxBytes: number;
  /** Refuse a symbolic link as the last component (the caller resolved the path itself). */
  noFollow?: boolean;
}

/** Reads the regular file at `path` whole, up to `maxBytes`, or says why it cannot. */
export function readRegularFile(path: string, opts: ReadOptions): ReadResult {
  let before: Stats;
  try {
    before = opts.noFollow ? lstatSync(path) : statSync(path);
  } catch (e) {
    return failure(e);
  }
  if (!before.isFile()) return { ok: false, problem: { kind: 'not-regular', message: `is ${fileType(before)}, not a regular file` } };
  if (before.size > opts.maxBytes) return tooLarge(opts.maxBytes);
  let fd: number;
  try {
    // O_NONBLOCK: had the path become a FIFO since the stat, open would wait for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    return failure(e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) {
      return { ok: false, problem: { kind: 'not-regular', message: 'changed while it was being read: run again' } };
    }
    // Files in /proc and /sys say size 0 and have content: read until the end, one byte past the cap.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(65536, opts.maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > opts.maxBytes) return tooLarge(opts.maxBytes);
    }
    return { ok: true, bytes: Buffer.concat(chunks, total) };
  } catch (e) {
    return failure(e);
  } finally {
    closeSync(fd);
  }
}

/** What a stat says a path is, for messages: "a directory", "a FIFO", "a character device". */
export function fileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'a regular file';
}

function tooLarge(maxBytes: number): ReadResult {
  return { ok: false, problem: { kind: 'too-large', message: `is larger than ${maxBytes} bytes` } };
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'does not exist (a part of the path is not a directory)',
  EACCES: 'cannot be read (permission denied)',
  EPERM: 'cannot be read (operation not permitted)',
  ELOOP: 'is a symbolic link loop, or a symbolic link where none is allowed',
  ENAMETOOLONG: 'has a name too long for the file system',
  EISDIR: 'is a directory, not a regular file',
  EIO: 'cannot be read (input/output error)',
};

function failure(e: unknown): ReadResult {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const words = Object.hasOwn(ERRNO_WORDS, code) ? ERRNO_WORDS[code]! : `cannot be read (${code})`;
  return { ok: false, problem: { kind: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'unreadable', message: words, code } };
}

/** Text decoded from a user's file, or where the first byte that is not UTF-8 is. */
type Decoded = { ok: true; text: string } | { ok: false; line: number; col: number };

/**
 * Decodes UTF-8 strictly (a file that is not UTF-8 is refused, never silently "repaired" with
 * U+FFFD). A byte order mark is kept with `keepBom` (the include is carried byte for byte) and
 * dropped otherwise. The failure points at the line, and the column of its first non-ASCII byte.
 */
export function decodeUtf8(bytes: Uint8Array, opts: { keepBom?: boolean } = {}): Decoded {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: opts.keepBom ?? false }).decode(bytes) };
  } catch {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    for (let line = 1; start <= bytes.length; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      const chunk = bytes.subarray(start, end);
      try {
        decoder.decode(chunk);
      } catch {
        return { ok: false, line, col: chunk.findIndex((b) => b >= 0x80) + 1 };
      }
      start = end + 1;
    }
    return { ok: false, line: 1, col: 1 };
  }
}
