import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { emptyMap } from '../base/data.ts';
import { loadSource, type Source } from '../source/load.ts';
import { displayPath, locateProfile, shadowedShippedProfile, type ProfileSearchPath } from '../source/locate.ts';
import { positionOf, type PathSegment } from '../source/position.ts';

/** Longest extends chain followed; real stacks use two or three. */
const MAX_EXTENDS_DEPTH = 32;

/** The profiles of a stack in merge order (parents first, each file once) with their data. */
interface Linearized {
  layers: { source: Source; value: Record<string, unknown> }[];
}

/**
 * Expands `extends:` for each requested profile, left to right, parents first. A file reached twice
 * (two profiles sharing a parent) is merged once, at its first place, so a shared base never
 * overrides what a later profile set. Cycles and missing parents are reported at the `extends:`
 * entry that names them. The requested names must already exist (the caller reports those as usage
 * errors).
 */
export function linearize(files: ReadonlyArray<{ name: string; file: string }>, search: ProfileSearchPath, bag: DiagnosticBag): Linearized {
  const layers: Linearized['layers'] = [];
  const done = new Set<string>();
  const cache = new Map<string, Source | undefined>();

  const load = (name: string, file: string) => {
    if (!cache.has(file)) cache.set(file, loadSource(name, file, bag));
    return cache.get(file);
  };

  const visit = (name: string, file: string, chain: Source[]) => {
    if (done.has(file)) return;
    const source = load(name, file);
    if (!source || !source.value) return;
    const parents = source.value.extends;
    const value = emptyMap();
    for (const [k, v] of Object.entries(source.value)) if (k !== 'extends') value[k] = v;
    for (const { parent, path } of readExtends(source, parents, bag)) {
      const at = { file: source.display, ...positionOf(source, path) };
      const located = locateProfile(parent, search);
      if (!located.ok) {
        bag.error(located.code === 'INVALID_PROFILE_NAME' ? 'INVALID_PROFILE_NAME' : 'EXTENDS_MISSING', `extends: ${located.reason}`, at);
        continue;
      }
      const loop = [...chain, source].findIndex((s) => s.file === located.file);
      if (loop >= 0) {
        const names = [...chain, source].slice(loop).map((s) => s.name);
        bag.error(
          'EXTENDS_CYCLE',
          names.length === 1
            ? `profile "${name}" extends itself: remove "${parent}" from extends`
            : `extends cycle ${[...names, parent].join(' -> ')}: remove "${parent}" from extends here or break the chain elsewhere`,
          at,
        );
        continue;
      }
      if (chain.length + 1 >= MAX_EXTENDS_DEPTH) {
        bag.error(
          'EXTENDS_TOO_DEEP',
          `extends: "${parent}" would make a chain of more than ${MAX_EXTENDS_DEPTH} profiles (from ${chain[0]?.name ?? name}); a chain that long is not maintainable: merge some of them`,
          at,
        );
        continue;
      }
      visit(parent, located.file, [...chain, source]);
    }
    if (!done.has(file)) {
      done.add(file);
      layers.push({ source, value });
      const hidden = shadowedShippedProfile(name, file);
      if (hidden) {
        bag.warning(
          'SHADOWS_SHIPPED',
          `this profile hides the shipped profile "${name}" (${displayPath(hidden)}) wherever "${name}" is named from here: give it another name (it can then extend ${name}) unless you mean to replace the shipped one`,
          { file: source.display },
        );
      }
    }
  };

  for (const f of files) visit(f.name, f.file, []);
  return { layers };
}

/** Reads `extends:`, a name or a list of names, reporting anything else. */
function readExtends(source: Source, raw: unknown, bag: DiagnosticBag): { parent: string; path: PathSegment[] }[] {
  if (raw === undefined) return [];
  const at = (path: PathSegment[]) => ({ file: source.display, ...positionOf(source, path) });
  if (typeof raw === 'string') return [{ parent: raw, path: ['extends'] }];
  if (Array.isArray(raw)) {
    const out: { parent: string; path: PathSegment[] }[] = [];
    raw.forEach((p, i) => {
      if (typeof p === 'string') out.push({ parent: p, path: ['extends', i] });
      else bag.error('INVALID_TYPE', 'each extends entry must be a profile name', at(['extends', i]));
    });
    return out;
  }
  bag.error('INVALID_TYPE', 'extends must be a profile name or a list of profile names', at(['extends']));
  return [];
}
