import { basename } from 'node:path';
import { LineCounter } from 'yaml';
import type { Diagnostic, DiagnosticCode } from '../diagnostics/diagnostic.ts';
import { displayPath } from '../source/locate.ts';
import { decodeUtf8, readRegularFile } from '../source/read-file.ts';
import { checkCloudConfig } from './cloud-config-schema.ts';
import { syntaxProblems } from './include-syntax.ts';
import { readIncludeTree, type IncludeMap, type Position } from './include-tree.ts';

/** An operator's cloud-config file, read as cloud-init will read it. */
export interface Include {
  /** Path shown in diagnostics. */
  display: string;
  /** File name, written into the user-data (a comment, or a MIME part's header). */
  name: string;
  /** The file's text, exactly (a MIME part carries it as it is). */
  text: string;
  tree: IncludeMap;
}

/** An include, or everything wrong with it. */
export type IncludeLoad = { ok: true; include: Include } | { ok: false; diagnostics: Diagnostic[] };

/** No operator's cloud-config comes close; the merged user-data must stay within what clouds accept. */
export const MAX_INCLUDE_BYTES = 1024 * 1024;

/**
 * What cloud-init takes a user-data for from its first characters (after blanks, in any case),
 * longest first as cloud-init tries them. Only `#cloud-config` is a cloud-config; an include that
 * starts like one of the others would not be one for cloud-init, whatever gen made of it.
 */
const CONTENT_PREFIXES: [string, string][] = [
  ['## template: jinja', 'a Jinja template'],
  ['#cloud-config-archive', 'a cloud-config archive'],
  ['#cloud-config-jsonp', 'a cloud-config JSON patch'],
  ['#cloud-boothook', 'a boothook'],
  ['#part-handler', 'a part handler'],
  ['#include-once', 'an include list'],
  ['#cloud-config', 'a cloud-config'],
  ['#include', 'an include list'],
  ['#!', 'a script'],
];

/**
 * Reads and checks an include: a regular file (no FIFO or device is opened) of at most
 * MAX_INCLUDE_BYTES, UTF-8, whose name can be written into a MIME header and a YAML comment, that
 * cloud-init takes for a cloud-config (not a Jinja template or a script), whose YAML cloud-init reads
 * as gen does (include-syntax.ts, include-tree.ts), without a `merge_how` of its own, and whose
 * common modules pass cloud-init's schema (cloud-config-schema.ts). Every problem is located.
 */
export function loadInclude(file: string): IncludeLoad {
  const display = displayPath(file);
  const diagnostics: Diagnostic[] = [];
  const fail = (code: DiagnosticCode, message: string, at?: Position, path?: string): IncludeLoad => {
    diagnostics.push({ severity: 'error', code, message, file: display, ...(at ?? {}), ...(path ? { path } : {}) });
    return { ok: false, diagnostics };
  };
  const name = basename(file);
  // The name goes between double quotes in a MIME header and into a `#` comment line.
  if (!/^[\x20-\x7e]+$/.test(name) || /["\\]/.test(name)) {
    const shown = JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return fail(
      'INVALID_VALUE',
      `the file name ${shown} is written into the user-data (a MIME header and a comment), which can carry only printable ASCII without " and \\: rename the file`,
    );
  }
  const read = readRegularFile(file, { maxBytes: MAX_INCLUDE_BYTES });
  if (!read.ok) {
    if (read.problem.kind === 'too-large')
      return fail('FILE_TOO_LARGE', `the cloud-config include is larger than ${MAX_INCLUDE_BYTES} bytes, the limit for an include`);
    return fail(
      'FILE_UNREADABLE',
      `the cloud-config include ${read.problem.message}${read.problem.kind === 'not-regular' ? ': give a .yaml file' : read.problem.kind === 'missing' ? ': check the path' : ''}`,
    );
  }
  const decoded = decodeUtf8(read.bytes, { keepBom: true });
  if (!decoded.ok) return fail('YAML_SYNTAX', 'the file is not valid UTF-8: save it as UTF-8', { line: decoded.line, col: decoded.col });
  const text = decoded.text;
  const pos = positionsOf(text);

  const start = text.length - text.trimStart().length;
  const kind = CONTENT_PREFIXES.find(([prefix]) => text.slice(start).toLowerCase().startsWith(prefix));
  if (kind && kind[0] === '## template: jinja') {
    return fail(
      'NOT_CLOUD_CONFIG',
      'this include is a Jinja template (## template: jinja), which cloud-init renders with instance data at boot; gen merges values and cannot carry a template: render it into plain cloud-config first, or write the values out',
      pos(start),
    );
  }
  if (kind && kind[0] !== '#cloud-config') {
    return fail(
      'NOT_CLOUD_CONFIG',
      `this include starts like ${kind[1]} (${text.slice(start).split('\n')[0]!.trim().slice(0, 40)}), not a cloud-config: give a file of cloud-config (a mapping of modules, optionally under a #cloud-config line)`,
      pos(start),
    );
  }

  for (const p of syntaxProblems(text))
    diagnostics.push({ severity: 'error', code: p.code, message: p.message, file: display, ...pos(p.offset) });
  if (diagnostics.length > 0) return { ok: false, diagnostics };
  const tree = readIncludeTree(text, pos);
  if (!tree.ok) {
    for (const p of tree.problems) diagnostics.push({ severity: 'error', code: p.code, message: p.message, file: display, ...p.at });
    return { ok: false, diagnostics };
  }
  for (const key of ['merge_how', 'merge_type']) {
    const entry = tree.tree.entries.get(key);
    if (entry)
      fail(
        'INVALID_VALUE',
        `${key} cannot be carried: it would change how cloud-init merges the user-data's parts, and gen folds includes by fixed rules (lists append, mappings merge, a key set twice must agree): remove it`,
        entry.key.at,
        key,
      );
  }
  for (const p of checkCloudConfig(tree.tree))
    diagnostics.push({ severity: 'error', code: p.code, message: p.message, file: display, ...p.at });
  if (diagnostics.length > 0) return { ok: false, diagnostics };
  return { ok: true, include: { display, name, text, tree: tree.tree } };
}

/** Line and column of an offset of `text`. */
export function positionsOf(text: string): (offset: number) => Position {
  const lineCounter = new LineCounter();
  lineCounter.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
  return (offset) => lineCounter.linePos(offset);
}
