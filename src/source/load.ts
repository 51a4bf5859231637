import { readFileSync, statSync } from 'node:fs';
import { Document, LineCounter, parseDocument, isMap } from 'yaml';
import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { displayPath } from './locate.ts';

/** One loaded profile file: its text, its YAML document and what it holds as plain data. */
export interface Source {
  /** Profile name (file name without `.yaml`). */
  name: string;
  /** Absolute path. */
  file: string;
  /** Path shown in diagnostics. */
  display: string;
  /** The file's text as read (BOM included when there was one). */
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The document as plain data; undefined when it could not be read as a mapping. */
  value: Record<string, unknown> | undefined;
}

/** What kind of file is being read: its name in messages, its limits and its expected shape. */
export const FILE_KINDS = {
  // No real profile comes close to 256 KiB; an inventory of 10,000 hosts needs a few MiB.
  profile: { noun: 'profile', maxBytes: 256 * 1024, maxAliases: 100, shape: 'a profile is a mapping of keys such as manager:, sysctl:, limits:' },
  inventory: { noun: 'inventory', maxBytes: 64 * 1024 * 1024, maxAliases: 100_000, shape: 'an inventory is a mapping with hosts: (and optionally defaults: and groups:)' },
  include: { noun: 'cloud-config include', maxBytes: 1024 * 1024, maxAliases: 100, shape: 'a cloud-config is a mapping of modules such as users:, packages:, runcmd:' },
} as const;
export type FileKind = keyof typeof FILE_KINDS;
/** Deepest nesting a profile may have; the schema itself needs 4. */
export const MAX_DEPTH = 16;

const YAML_CODE: Record<string, 'YAML_DUPLICATE_KEY' | 'YAML_TAB' | 'YAML_ALIAS'> = {
  DUPLICATE_KEY: 'YAML_DUPLICATE_KEY',
  TAB_AS_INDENT: 'YAML_TAB',
  BAD_ALIAS: 'YAML_ALIAS',
};

/**
 * Reads and parses one profile file. Problems (unreadable, too large, not UTF-8, YAML errors, not a
 * mapping) go to `bag` with their position; the Source is returned when the file could be parsed.
 */
export function loadSource(name: string, file: string, bag: DiagnosticBag, kind: FileKind = 'profile'): Source | undefined {
  const display = displayPath(file);
  const { noun, maxBytes, maxAliases, shape } = FILE_KINDS[kind];
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (st.isDirectory()) {
      bag.error('FILE_UNREADABLE', `${display} is a directory, not a ${noun} file: give a .yaml file`, { file: display });
      return undefined;
    }
    if (!st.isFile()) {
      bag.error('FILE_UNREADABLE', `${display} is not a regular file: give a .yaml file`, { file: display });
      return undefined;
    }
    if (st.size > maxBytes) {
      bag.error('FILE_TOO_LARGE', `${noun} is ${st.size} bytes; a ${noun} is limited to ${maxBytes} bytes`, { file: display });
      return undefined;
    }
    bytes = readFileSync(file);
  } catch (e) {
    bag.error('FILE_UNREADABLE', `cannot read the ${noun}: ${(e as NodeJS.ErrnoException).code ?? 'error'}; check that the file exists and is readable`, { file: display });
    return undefined;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    bag.error('YAML_SYNTAX', 'the file is not valid UTF-8: save it as UTF-8', { file: display, ...at });
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    strict: true,
    merge: false,
    prettyErrors: false,
    keepSourceTokens: false,
  });
  for (const err of doc.errors) {
    const pos = lineCounter.linePos(err.pos[0]);
    if (/call stack/i.test(err.message)) {
      bag.error('YAML_SYNTAX', `the document nests too deeply to read; a ${noun} is at most ${MAX_DEPTH} levels deep`, { file: display, line: pos.line, col: pos.col });
      continue;
    }
    bag.error(YAML_CODE[err.code] ?? 'YAML_SYNTAX', yamlMessage(err.code, err.message, keyAt(text, err.pos[0])), { file: display, line: pos.line, col: pos.col });
  }
  if (doc.errors.length > 0) return undefined;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: maxAliases });
  } catch (e) {
    bag.error('YAML_ALIAS', `aliases expand too far (${(e as Error).message.split('.')[0]}): write the values out`, { file: display, line: 1, col: 1 });
    return undefined;
  }
  const depth = nestingDepth(value);
  if (depth > MAX_DEPTH) {
    bag.error('YAML_SYNTAX', `the document nests ${depth} levels deep; a ${noun} is at most ${MAX_DEPTH} levels deep`, { file: display, line: 1, col: 1 });
    return undefined;
  }
  if (!isMap(doc.contents)) {
    const what = value === null || value === undefined ? 'empty' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
    const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
    bag.error('NOT_A_MAPPING', `the ${noun} is ${what}; ${shape}`, { file: display, ...pos });
    return { name, file, display, text, doc, lineCounter, value: undefined };
  }
  return { name, file, display, text, doc, lineCounter, value: value as Record<string, unknown> };
}

function yamlMessage(code: string, message: string, at: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'TAB_AS_INDENT') return 'tabs are not allowed for indentation in YAML: indent with spaces';
  if (code === 'DUPLICATE_KEY') return `duplicate key ${JSON.stringify(at.trim())}: keep one of them`;
  return first;
}

function nestingDepth(value: unknown, depth = 0): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return depth;
  let max = depth + 1;
  for (const v of Object.values(value)) max = Math.max(max, nestingDepth(v, depth + 1));
  return max;
}

/** The mapping key that starts at `offset` (up to its colon), for duplicate-key messages. */
function keyAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  return rest.slice(0, rest.search(/:(\s|$)|\n|$/)).trim();
}

/** Line and column of the first line that does not decode, pointing at its first non-ASCII byte. */
function firstInvalidUtf8(bytes: Buffer): { line: number; col: number } {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const chunk = bytes.subarray(start, end);
    try {
      decoder.decode(chunk);
    } catch {
      return { line, col: chunk.findIndex((b) => b >= 0x80) + 1 };
    }
    start = end + 1;
  }
  return { line: 1, col: 1 };
}
