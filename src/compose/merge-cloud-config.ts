import { isPlainObject } from '../resolve/merge.ts';
import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { loadSource, type Source } from '../source/load.ts';
import { positionOf, formatPath, type PathSegment } from '../source/position.ts';

/** An operator's cloud-config file to fold into the generated one. */
export interface Include {
  source: Source;
  data: Record<string, unknown>;
}

/** Reads a cloud-config include (YAML mapping; a `#cloud-config` first line is optional). */
export function loadInclude(file: string, bag: DiagnosticBag): Include | undefined {
  const source = loadSource('include', file, bag, 'include');
  if (!source?.value) return undefined;
  return { source, data: source.value };
}

/**
 * Folds includes into the generated cloud-config as data: lists append (ours first), mappings
 * merge key by key, and a scalar set on both sides to different values is an error naming both
 * files. Two write_files entries for the same path are an error too: one would silently win.
 */
export function mergeCloudConfig(base: Record<string, unknown>, baseLabel: string, includes: readonly Include[], bag: DiagnosticBag): Record<string, unknown> {
  const out = structuredClone(base);
  const owners = new Map<string, string>();
  const writtenBy = new Map<string, string>();
  for (const f of (base.write_files as { path: string }[] | undefined) ?? []) writtenBy.set(f.path, baseLabel);
  for (const inc of includes) {
    const at = (path: PathSegment[]) => ({ file: inc.source.display, ...positionOf(inc.source, path), path: formatPath(path) });
    ((inc.data.write_files as unknown[] | undefined) ?? []).forEach((f, i) => {
      const path = isPlainObject(f) && typeof f.path === 'string' ? f.path : undefined;
      if (path === undefined) return;
      const other = writtenBy.get(path);
      if (other !== undefined) bag.error('INCONSISTENT_VALUES', `write_files path ${path} is also written by ${other}: only one of them can own the file`, at(['write_files', i, 'path']));
      else writtenBy.set(path, inc.source.display);
    });
    mergeInto(out, inc.data, [], inc, baseLabel, owners, at, bag);
  }
  return out;
}

function mergeInto(
  target: Record<string, unknown>,
  src: Record<string, unknown>,
  path: PathSegment[],
  inc: Include,
  baseLabel: string,
  owners: Map<string, string>,
  at: (path: PathSegment[]) => { file: string; line: number; col: number; path: string },
  bag: DiagnosticBag,
): void {
  for (const [key, value] of Object.entries(src)) {
    const p = [...path, key];
    const id = JSON.stringify(p);
    const existing = target[key];
    if (existing === undefined) {
      target[key] = structuredClone(value);
      owners.set(id, inc.source.display);
    } else if (Array.isArray(existing) && Array.isArray(value)) {
      target[key] = [...existing, ...structuredClone(value)];
    } else if (isPlainObject(existing) && isPlainObject(value)) {
      mergeInto(existing, value, p, inc, baseLabel, owners, at, bag);
    } else if (JSON.stringify(existing) !== JSON.stringify(value)) {
      const other = owners.get(id) ?? baseLabel;
      bag.error('INCONSISTENT_VALUES', `${formatPath(p)} is ${JSON.stringify(value)} here but ${JSON.stringify(existing)} in ${other}: set it in one place`, at(p));
    }
  }
}
