import { isMap, isSeq, isScalar, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Source } from './load.ts';

/** A step in a path through profile data: a map key or a list index. */
export type PathSegment = string | number;

/** Line and column (1-based) in a source file. */
interface Position {
  line: number;
  col: number;
}

/**
 * Where `path` is written in `source`: the value's position, or the key's when `at` is 'key'.
 * When the path goes further than the document (a missing key), it stops at the deepest node that
 * exists, so the diagnostic still points at the right mapping.
 */
export function positionOf(source: Source, path: readonly PathSegment[], at: 'key' | 'value' = 'value'): Position {
  let node: unknown = source.doc.contents;
  let best: [number, number, number] | undefined = (node as Node | null)?.range ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = pairsByKey(node).get(String(seg));
      if (!pair) break;
      const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
      if (last && at === 'key' && keyRange) {
        best = keyRange;
        break;
      }
      best = (pair.value as Node | null)?.range ?? keyRange ?? best;
      // A missing value (`key:` with nothing) has an empty range; point at the key instead.
      if (best && best[0] === best[1] && keyRange) best = keyRange;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      node = node.items[seg];
      best = (node as Node).range ?? best;
    } else {
      break;
    }
  }
  const offset = best ? best[0] : 0;
  return source.lineCounter.linePos(offset);
}

/** The pairs of a YAML mapping by key text (the first of a repeated key, as a search would find),
 * built once per mapping: a stack with N located diagnostics in one mapping (a profile of 15,000
 * sysctls, each warned about) would otherwise search it N times. */
const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();
function pairsByKey(map: YAMLMap): Map<string, Pair> {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    }
    pairIndex.set(map, index);
  }
  return index;
}

/** A path as people read it: `sysctl."fs.file-max"`, `nics.uplink.match.name`. */
export function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z0-9_-]+$/.test(s) ? (i ? `.${s}` : s) : `${i ? '.' : ''}"${s}"`))
    .join('');
}

/** Stable key of a path for maps. */
export function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

/** The text of the scalar at `path` exactly as written in the file, if there is one. */
export function scalarSourceAt(source: Source, path: readonly PathSegment[]): string | undefined {
  const node = source.doc.getIn(path as PathSegment[], true);
  return isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
}
