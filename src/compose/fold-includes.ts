import { DiagnosticBag, sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { ProfileError } from '../diagnostics/errors.ts';
import { loadInclude, type Include, type IncludeLoad } from './include.ts';
import type { IncludeNode } from './include-tree.ts';
import { mergeCloudConfig, type MergedValue } from './merge-cloud-config.ts';

/** Includes read so far, by path: an inventory reads each file once, however many hosts use it. */
export type IncludeCache = Map<string, IncludeLoad>;

/** How the user-data reaches cloud-init: one merged document, or MIME parts split by `boundary`. */
type Delivery = { mime: false } | { mime: true; boundary: string };

/** gen's cloud-config with operators' includes folded in, ready to render (pipeline.ts). */
type Folded =
  /** One document: the includes merged into gen's steps, the final check last in runcmd. */
  | { mime: false; config: Map<string, MergedValue>; names: string[] }
  /** MIME parts: gen's steps, each include as written, then the final check alone. */
  | { mime: true; steps: Record<string, unknown>; includes: Include[]; check: Record<string, unknown> };

/**
 * Folds operators' cloud-config files into gen's `cloudConfig` (which ends its runcmd with the final
 * check, split off by `splitFinalCheck`). Both deliveries check the includes alike (include.ts) and
 * merge them by the same rules (a conflict or a file written twice is an error either way), and
 * both keep gen's final check last in runcmd: merged, the includes' commands go before it; as
 * MIME, where cloud-init appends each part's runcmd to the ones before, it is a last part of its
 * own. Include problems throw ProfileError with located diagnostics; `label` names gen's side in a
 * conflict.
 */
export function foldIncludes(
  split: { steps: Record<string, unknown>; check: string[] },
  label: string,
  files: readonly string[],
  delivery: Delivery,
  cache: IncludeCache,
): Folded {
  const includes = loadIncludes(files, cache);
  const bag = new DiagnosticBag();
  const { steps, check } = split;
  const merged = mergeCloudConfig(steps, label, includes, bag);
  for (const inc of includes) {
    if (delivery.mime) boundaryProblem(inc, delivery.boundary, bag);
    else mimeSniffProblems(inc, bag);
  }
  if (bag.hasErrors) throw new ProfileError(sortDiagnostics(bag.items));
  if (delivery.mime) return { mime: true, steps, includes, check: { runcmd: [check] } };
  const runcmd = merged.get('runcmd');
  if (Array.isArray(runcmd)) runcmd.push(check);
  else merged.set('runcmd', [check]);
  // File names only: the same includes give the same bytes from any working directory.
  return { mime: false, config: merged, names: includes.map((i) => i.name) };
}

/**
 * cloud-init takes a user-data whose first 4096 bytes hold this (in any case) for a MIME message
 * (user_data.convert_string), whatever its first line says.
 */
const MIME_SNIFF = /mime-version:/i;

/** Each include, from the cache or read now; every problem of every include at once. */
function loadIncludes(files: readonly string[], cache: IncludeCache): Include[] {
  const diagnostics: Diagnostic[] = [];
  const loaded: Include[] = [];
  for (const file of new Set(files)) {
    let load = cache.get(file);
    if (!load) {
      load = loadInclude(file);
      cache.set(file, load);
    }
    if (load.ok) loaded.push(load.include);
    else diagnostics.push(...load.diagnostics);
  }
  if (diagnostics.length > 0) throw new ProfileError(sortDiagnostics(diagnostics));
  const byFile = new Map(files.map((f) => [f, (cache.get(f) as { include: Include }).include]));
  return files.map((f) => byFile.get(f)!);
}

/** With --mime an include is a part as written: a line holding the boundary would end the part. */
function boundaryProblem(inc: Include, boundary: string, bag: DiagnosticBag): void {
  const i = inc.text.indexOf(boundary);
  if (i < 0) return;
  const before = inc.text.slice(0, i);
  const line = before.split('\n').length;
  bag.error(
    'INVALID_VALUE',
    `this include holds the MIME boundary of the user-data (${boundary}), which would end its part early: remove or change that text`,
    { file: inc.display, line, col: i - before.lastIndexOf('\n') },
  );
}

/**
 * Merged, an include's text lands in the one cloud-config document; "MIME-Version:" in its first
 * 4096 bytes makes cloud-init read the whole user-data as a MIME message. Where a value lands
 * depends on the stack, so the text is refused wherever it is (or the file name, which is written
 * in the header comment); --mime carries it safely in a part of its own.
 */
function mimeSniffProblems(inc: Include, bag: DiagnosticBag): void {
  const fix =
    'cloud-init reads a user-data holding "MIME-Version:" near its start as a MIME message; use --mime, which gives each include its own part';
  if (MIME_SNIFF.test(inc.name))
    bag.error('INVALID_VALUE', `the file name holds "MIME-Version:": ${fix}, or rename the file`, { file: inc.display });
  // Aliases share nodes: each is looked at (and reported) once.
  const seen = new Set<IncludeNode>();
  const visit = (node: IncludeNode): void => {
    if (seen.has(node)) return;
    seen.add(node);
    if (node.kind === 'scalar') {
      if (MIME_SNIFF.test(node.text))
        bag.error('INVALID_VALUE', `this text holds "MIME-Version:": ${fix}`, { file: inc.display, ...node.at });
    } else if (node.kind === 'seq') {
      node.items.forEach(visit);
    } else {
      for (const e of node.entries.values()) {
        visit(e.key);
        visit(e.value);
      }
    }
  };
  visit(inc.tree);
}
