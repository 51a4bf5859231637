import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { crypto } from '../builtins.ts';
import { readRegularFile } from '../source/read-file.ts';
import { environmentError } from './fs-errors.ts';
import { displayText } from '../base/display-text.ts';
import { MANIFEST_FILE } from './manifest.ts';
import { byCodeUnit } from '../base/order.ts';
import { keyedDigest, parseSecretDigests, SECRET_DIGESTS_FILE } from './secret-digests.ts';

/** One thing that replacing a directory would lose, or that shows gen did not leave it so. */
interface Loss {
  change: 'added' | 'changed' | 'missing';
  path: string;
  /** e.g. "a symbolic link", "mode 0644, manifest.json says 0600". */
  detail?: string;
}

/** What replacing a directory would lose: nothing when it is exactly a tree gen wrote, or empty. */
interface Inspection {
  /** Set when the directory is not a gen tree at all (no usable manifest.json): why. */
  notOurs?: string;
  losses: Loss[];
  /** True when the directory holds more than was looked at (a foreign tree is not read whole). */
  truncated?: boolean;
}

// manifest.json of a 10,000-host inventory is ~10 MB; no file gen writes comes near 64 MiB.
const MANIFEST_MAX_BYTES = 256 << 20;
const FILE_MAX_BYTES = 64 << 20;
// A directory that is not a gen tree is refused whatever it holds: listing its first entries is
// enough, and --out mistakenly naming a large directory must not walk all of it.
const FOREIGN_WALK_LIMIT = 10_000;

interface Expected {
  mode: number;
  sha256?: string;
}

/**
 * Compares the directory `dir` with what gen would have left there. It is a tree gen wrote when
 * manifest.json is a regular file (not a link) that reads as gen's manifest, every file it lists is
 * a regular file with the listed mode and sha256 (files that hold a secret: the keyed digest in
 * secret-digests.json), and nothing else is there: no other file, link, special file or directory
 * that no listed path needs. Every difference is a Loss, sorted by path.
 */
export function inspectTree(dir: string, shown: string): Inspection {
  try {
    return compare(dir);
  } catch (e) {
    throw environmentError(e, `read --out ${shown}`, `${shown} was left as it was`);
  }
}

function compare(dir: string): Inspection {
  const manifest = readManifest(dir);
  if (typeof manifest === 'string') {
    const { tree, truncated } = walk(dir, FOREIGN_WALK_LIMIT);
    if (tree.size === 0) return { losses: [] };
    const losses = [...tree].filter(([, kind]) => kind !== DIR_WITH_CONTENT).map(([path, kind]) => addedLoss(path, kind));
    return { notOurs: manifest, losses: losses.sort((a, b) => byCodeUnit(a.path, b.path)), ...(truncated ? { truncated } : {}) };
  }
  const { tree } = walk(dir, Infinity);
  const losses: Loss[] = [];
  const implied = new Set<string>();
  for (const path of manifest.keys()) {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) implied.add(path.slice(0, i));
  }
  for (const [path, kind] of tree) {
    if (path === MANIFEST_FILE) continue;
    const listed = manifest.has(path);
    if (kind === FILE) {
      if (!listed) losses.push(addedLoss(path, kind));
    } else if (listed) {
      losses.push({ change: 'changed', path, detail: `now ${isDirectory(kind) ? 'a directory' : kind}` });
    } else if (kind === EMPTY_DIR ? !implied.has(path) : kind !== DIR_WITH_CONTENT) {
      // A directory with content is reported through its content; one that a listed path needs is
      // gen's (were it empty, its listed files are reported missing).
      losses.push(addedLoss(path, kind));
    }
  }
  // Read on the first file that needs it (most trees hold no secret).
  let secrets: ReturnType<typeof parseSecretDigests> | null = null;
  const verified = new Map<string, Buffer>();
  for (const [path, want] of manifest) {
    const kind = tree.get(path);
    if (kind === undefined) {
      losses.push({ change: 'missing', path });
      continue;
    }
    if (kind !== FILE) continue;
    const got = readTreeFile(join(dir, path));
    if (typeof got === 'string') {
      losses.push({ change: 'changed', path, detail: got });
      continue;
    }
    if (got.mode !== want.mode)
      losses.push({ change: 'changed', path, detail: `mode ${octal(got.mode)}, ${MANIFEST_FILE} says ${octal(want.mode)}` });
    if (want.sha256 !== undefined) {
      if (!sameContent(got.bytes, want.sha256, verified)) losses.push({ change: 'changed', path, detail: 'content' });
    } else if (path !== SECRET_DIGESTS_FILE) {
      if (secrets === null) secrets = readSecretDigests(dir, manifest);
      const digest = secrets?.files.get(path);
      if (!secrets || digest === undefined)
        losses.push({ change: 'changed', path, detail: `cannot be checked: ${SECRET_DIGESTS_FILE} is missing or not gen's` });
      else if (keyedDigest(secrets.key, got.bytes) !== digest) losses.push({ change: 'changed', path, detail: 'content' });
    }
  }
  losses.sort((a, b) => byCodeUnit(a.path, b.path));
  return { losses };
}

/**
 * The refusal of a directory that is not exactly gen's: what would be lost, at most `max` lines
 * of it, and how to proceed.
 */
export function describeLosses(inspection: Inspection, shown: string, max = 20): string {
  const head = inspection.notOurs
    ? `--out ${shown} is not a tree gen wrote (${inspection.notOurs}); replacing it would delete everything in it:`
    : `--out ${shown} is not exactly the tree gen wrote there; replacing it would lose what changed:`;
  const lines = inspection.losses
    .slice(0, max)
    .map((l) => `  ${l.change.padEnd(8)} ${displayText(l.path)}${l.detail ? ` (${l.detail})` : ''}`);
  if (inspection.truncated) lines.push(`  ... and more (gen stopped looking after ${inspection.losses.length} entries)`);
  else if (inspection.losses.length > max) lines.push(`  ... and ${inspection.losses.length - max} more`);
  return [
    head,
    ...lines,
    `Move what you want to keep out of ${shown}, or choose another --out; --force replaces ${shown} as a whole (everything in it is deleted).`,
  ].join('\n');
}

// What walk() records for each path: FILE, a directory (with or without content), or the kind of
// anything else in fileType()'s words ("a symbolic link", "a FIFO (named pipe)", ...).
const FILE = 'file';
const DIR_WITH_CONTENT = 'dir';
const EMPTY_DIR = 'an empty directory';

/** Every entry under `root` (up to `limit`), by relative path, without following a link. */
function walk(root: string, limit: number): { tree: Map<string, string>; truncated: boolean } {
  const tree = new Map<string, string>();
  const visit = (dir: string, rel: string) => {
    const entries = readdirSync(dir, { withFileTypes: true });
    for (const e of entries) {
      if (tree.size >= limit) return entries.length;
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        tree.set(path, DIR_WITH_CONTENT);
        if (visit(join(dir, e.name), path) === 0) tree.set(path, EMPTY_DIR);
      } else tree.set(path, e.isFile() ? FILE : direntType(e));
    }
    return entries.length;
  };
  visit(root, '');
  return { tree, truncated: tree.size >= limit };
}

function direntType(e: Dirent): string {
  if (e.isSymbolicLink()) return 'a symbolic link';
  if (e.isFIFO()) return 'a FIFO (named pipe)';
  if (e.isSocket()) return 'a socket';
  if (e.isCharacterDevice()) return 'a character device';
  if (e.isBlockDevice()) return 'a block device';
  return 'a special file';
}

function isDirectory(kind: string): boolean {
  return kind === DIR_WITH_CONTENT || kind === EMPTY_DIR;
}

function addedLoss(path: string, kind: string): Loss {
  return kind === FILE ? { change: 'added', path } : { change: 'added', path, detail: kind };
}

/** The files manifest.json lists, or why it is not gen's manifest. */
function readManifest(dir: string): Map<string, Expected> | string {
  const read = readRegularFile(join(dir, MANIFEST_FILE), { maxBytes: MANIFEST_MAX_BYTES, noFollow: true });
  if (!read.ok && read.problem.kind === 'missing') return `it has no ${MANIFEST_FILE}`;
  if (!read.ok) return `its ${MANIFEST_FILE} ${read.problem.message}`;
  let doc: unknown;
  try {
    doc = JSON.parse(read.bytes.toString('utf8'));
  } catch {
    return `its ${MANIFEST_FILE} is not JSON`;
  }
  const files =
    typeof doc === 'object' && doc !== null && (doc as { generator?: unknown }).generator === 'born-tuned'
      ? (doc as { files?: unknown }).files
      : undefined;
  if (!Array.isArray(files)) return `its ${MANIFEST_FILE} is not gen's`;
  const expected = new Map<string, Expected>();
  for (const f of files as unknown[]) {
    const { path, mode, sha256 } = (typeof f === 'object' && f !== null ? f : {}) as { path?: unknown; mode?: unknown; sha256?: unknown };
    if (typeof path !== 'string' || !isTreePath(path) || path === MANIFEST_FILE || expected.has(path))
      return `its ${MANIFEST_FILE} lists a path gen does not write`;
    if (
      typeof mode !== 'string' ||
      !/^0[0-7]{3}$/.test(mode) ||
      !(sha256 === undefined || (typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256)))
    ) {
      return `its ${MANIFEST_FILE} has an entry gen does not write`;
    }
    expected.set(path, sha256 === undefined ? { mode: parseInt(mode, 8) } : { mode: parseInt(mode, 8), sha256 });
  }
  return expected;
}

/** A relative path of plain names joined by '/': no empty, '.' or '..' part, no NUL. */
function isTreePath(path: string): boolean {
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..' && !part.includes('\0'));
}

function readSecretDigests(dir: string, manifest: Map<string, Expected>): ReturnType<typeof parseSecretDigests> {
  if (!manifest.has(SECRET_DIGESTS_FILE)) return undefined;
  const read = readRegularFile(join(dir, SECRET_DIGESTS_FILE), { maxBytes: MANIFEST_MAX_BYTES, noFollow: true });
  return read.ok ? parseSecretDigests(read.bytes.toString('utf8')) : undefined;
}

/** A file of the tree, its permission bits and bytes; or why it is not the regular file it was. */
function readTreeFile(path: string): { mode: number; bytes: Buffer } | string {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put there since the directory was read must not block the open.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'now a symbolic link';
    if (code === 'ENOENT') return 'removed while gen read it';
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'no longer a regular file';
    if (st.size > FILE_MAX_BYTES) return `larger than any file gen writes (${st.size} bytes)`;
    const bytes = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < st.size) {
      const got = readSync(fd, bytes, n, st.size - n, n);
      if (got === 0) break;
      n += got;
    }
    return { mode: st.mode & 0o7777, bytes: bytes.subarray(0, n) };
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `bytes` has the sha256 `want`. Trees share content (an inventory's hosts of one stack
 * have the same user-data): bytes already checked against a digest are compared, not hashed again.
 */
function sameContent(bytes: Buffer, want: string, verified: Map<string, Buffer>): boolean {
  const known = verified.get(want);
  if (known) return known.equals(bytes);
  if (crypto().createHash('sha256').update(bytes).digest('hex') !== want) return false;
  verified.set(want, bytes);
  return true;
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
