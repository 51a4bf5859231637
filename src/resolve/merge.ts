import { cloneData, emptyMap } from '../base/data.ts';
import type { Source } from '../source/load.ts';
import { pathKey, type PathSegment } from '../source/position.ts';

/** For every path that a layer set, the source whose value won. */
type Origins = Map<string, Source>;

/** A merged profile value with the origin of each value in it. */
export interface Merged {
  /** Where to point when a value has no origin (a required key no layer set): the stack's first host profile. */
  fallback?: Source;
  value: Record<string, unknown>;
  origins: Origins;
}

/**
 * Merges layers in order, later wins: mappings merge key by key, scalars override, lists replace
 * (a list is one value: merging lists element-wise would make order-dependent surprises).
 */
export function mergeLayers(layers: ReadonlyArray<{ source: Source; value: Record<string, unknown> }>): Merged {
  const value = emptyMap();
  const origins: Origins = new Map();
  for (const layer of layers) mergeInto(value, layer.value, layer.source, [], origins);
  return { value, origins };
}

function mergeInto(
  target: Record<string, unknown>,
  src: Record<string, unknown>,
  source: Source,
  path: PathSegment[],
  origins: Origins,
): void {
  for (const [key, v] of Object.entries(src)) {
    const p = [...path, key];
    origins.set(pathKey(p), source);
    const existing = target[key];
    if (isPlainObject(v)) {
      const into = isPlainObject(existing) ? existing : emptyMap();
      target[key] = into;
      mergeInto(into, v, source, p, origins);
    } else {
      target[key] = cloneData(v);
    }
  }
}

/** The source that set `path`, or the nearest enclosing value that has one. */
export function originOf(origins: Origins, path: readonly PathSegment[]): Source | undefined {
  for (let n = path.length; n > 0; n--) {
    const s = origins.get(pathKey(path.slice(0, n)));
    if (s) return s;
  }
  return undefined;
}

/** True for objects made of key/value pairs (not arrays, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
