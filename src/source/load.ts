import { Document, LineCounter, parseDocument, isMap } from 'yaml';
import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { recordSourceText } from '../diagnostics/source-text.ts';
import { displayPath } from './locate.ts';
import { decodeUtf8, readRegularFile } from './read-file.ts';
import { documentToData, type DataProblem } from './to-data.ts';

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
const FILE_KINDS = {
  // No real profile comes close to 256 KiB; an inventory of 50,000 hosts needs about 10 MiB.
  profile: {
    noun: 'profile',
    maxBytes: 256 * 1024,
    maxValues: 1_000_000,
    shape: 'a profile is a mapping of keys such as manager:, sysctl:, limits:',
  },
  inventory: {
    noun: 'inventory',
    maxBytes: 64 * 1024 * 1024,
    maxValues: 20_000_000,
    shape: 'an inventory is a mapping with hosts: (and optionally defaults: and groups:)',
  },
} as const;
type FileKind = keyof typeof FILE_KINDS;
/** Deepest nesting a profile may have; the schema itself needs 4. */
export const MAX_DEPTH = 16;

const YAML_CODE: Readonly<Record<string, 'YAML_TAB'>> = { TAB_AS_INDENT: 'YAML_TAB' };

/**
 * Reads and parses one profile or inventory file into prototype-free data (src/source/to-data.ts).
 * Problems (unreadable, not a regular file, too large, not UTF-8, YAML errors, keys that are not
 * names, tags, not a mapping) go to `bag` with their position; the Source is returned when the file
 * could be parsed.
 */
export function loadSource(name: string, file: string, bag: DiagnosticBag, kind: FileKind = 'profile'): Source | undefined {
  const display = displayPath(file);
  const { noun, maxBytes, maxValues, shape } = FILE_KINDS[kind];
  const read = readRegularFile(file, { maxBytes });
  if (!read.ok) {
    const { problem } = read;
    if (problem.kind === 'too-large')
      bag.error('FILE_TOO_LARGE', `the ${noun} ${problem.message}, the most a ${noun} may be: split it or remove what it does not need`, {
        file: display,
      });
    else if (problem.kind === 'not-regular')
      bag.error('FILE_UNREADABLE', `the ${noun} ${problem.message}: give a .yaml file`, { file: display });
    else bag.error('FILE_UNREADABLE', `the ${noun} ${problem.message}; check that the file exists and is readable`, { file: display });
    return undefined;
  }
  const decoded = decodeUtf8(read.bytes);
  if (!decoded.ok) {
    bag.error('YAML_SYNTAX', 'the file is not valid UTF-8: save it as UTF-8', { file: display, line: decoded.line, col: decoded.col });
    return undefined;
  }
  const text = decoded.text;
  // For the code frames under its diagnostics.
  recordSourceText(display, text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    // Duplicate keys are found by documentToData, in linear time.
    uniqueKeys: false,
    strict: true,
    merge: false,
    prettyErrors: false,
    keepSourceTokens: false,
  });
  for (const err of doc.errors) {
    const pos = lineCounter.linePos(err.pos[0]);
    if (/call stack/i.test(err.message)) {
      bag.error('YAML_SYNTAX', `the document nests too deeply to read; a ${noun} is at most ${MAX_DEPTH} levels deep`, {
        file: display,
        line: pos.line,
        col: pos.col,
      });
      continue;
    }
    bag.error(Object.hasOwn(YAML_CODE, err.code) ? YAML_CODE[err.code]! : 'YAML_SYNTAX', yamlMessage(err.code, err.message), {
      file: display,
      line: pos.line,
      col: pos.col,
    });
  }
  if (doc.errors.length > 0) return undefined;
  const problems: DataProblem[] = [];
  const value = documentToData(doc, { maxDepth: MAX_DEPTH, maxValues }, problems);
  for (const p of problems) {
    const message =
      p.code === 'YAML_SYNTAX' && p.message.startsWith('the document nests')
        ? `${p.message}; a ${noun} is at most ${MAX_DEPTH} levels deep`
        : p.message;
    bag.error(p.code, message, { file: display, ...lineCounter.linePos(p.offset) });
  }
  if (problems.length > 0) return undefined;
  if (!isMap(doc.contents)) {
    const what = value === null || value === undefined ? 'empty' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
    const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
    bag.error('NOT_A_MAPPING', `the ${noun} is ${what}; ${shape}`, { file: display, ...pos });
    return { name, file, display, text, doc, lineCounter, value: undefined };
  }
  return { name, file, display, text, doc, lineCounter, value: value as Record<string, unknown> };
}

function yamlMessage(code: string, message: string): string {
  if (code === 'TAB_AS_INDENT') return 'tabs are not allowed for indentation in YAML: indent with spaces';
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
