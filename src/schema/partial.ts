import type * as z from 'zod';
import { didYouMean } from '../diagnostics/suggest.ts';
import { emptyMap, own } from '../base/data.ts';
import type { PathSegment } from '../source/position.ts';
import { knownKeysAt } from './validate.ts';

/**
 * What the cross-field rules may still read of a stack that failed the schema: the data with every
 * value the schema refused taken out (it then passes the schema), and the paths taken out. A rule
 * that reads one of those paths is skipped (runSkippingBroken), so the schema's errors and the
 * rules' errors come out of one run, and no rule judges a value the user has still to fix.
 */
interface PartialData<T> {
  data: T;
  broken: PathSegment[][];
}

// Each round takes out what the schema refused; taking out a required key makes its parent
// refused in the next round, so the rounds are bounded by the depth of the data (16).
const MAX_ROUNDS = 20;

/** The largest part of `value` that `schema` accepts, or undefined when nothing is left of it. */
export function salvage<T>(schema: z.ZodType<T>, value: Record<string, unknown>): PartialData<T> | undefined {
  const copy = clone(value) as Record<string, unknown>;
  const broken: PathSegment[][] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const result = schema.safeParse(copy);
    if (result.success) return { data: result.data, broken };
    for (const issue of result.error.issues) {
      const path = issue.path as PathSegment[];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          remove(copy, [...path, key]);
          // A misspelled key ("manger:") means the key it resembles is not what the user wrote
          // either: a rule must not report that one as missing.
          const hint = didYouMean(key, knownKeysAt(path, schema));
          if (hint) broken.push([...path, hint]);
        }
        continue;
      }
      // An element of a list cannot be taken out alone (the indexes after it would move): the list goes.
      const inList = path.findIndex((seg) => typeof seg === 'number');
      let cut = inList >= 0 ? path.slice(0, inList) : path;
      // A required value that is missing: its parent goes.
      if (valueAt(copy, cut) === undefined) cut = cut.slice(0, -1);
      if (cut.length === 0) return undefined;
      remove(copy, cut);
      broken.push(cut);
    }
  }
  return undefined;
}

/** Thrown when a rule reads a value the schema refused; the rule is skipped. */
class BrokenInput extends Error {}

/**
 * Runs `rule` on `data` seen through a guard: reading a broken path, or listing the keys of a map
 * that held one, stops the rule (what it reported before stays: it came from sound values).
 */
export function runSkippingBroken<T extends object>(data: T, broken: readonly PathSegment[][], rule: (data: T) => void): void {
  if (broken.length === 0) return rule(data);
  const exact = new Set(broken.map(keyOf));
  const above = new Set(broken.flatMap((p) => p.map((_, i) => keyOf(p.slice(0, i)))));
  try {
    rule(guard(data, [], exact, above));
  } catch (e) {
    if (!(e instanceof BrokenInput)) throw e;
  }
}

function guard<T extends object>(target: T, path: readonly PathSegment[], exact: Set<string>, above: Set<string>): T {
  const check = (key: string | symbol) => {
    if (typeof key === 'symbol') return undefined;
    const child = [...path, key];
    if (exact.has(keyOf(child))) throw new BrokenInput();
    return child;
  };
  return new Proxy(target, {
    get(t, key, receiver) {
      const child = check(key);
      const v = Reflect.get(t, key, receiver);
      return child && v !== null && typeof v === 'object' && above.has(keyOf(child)) ? guard(v as object, child, exact, above) : v;
    },
    has(t, key) {
      check(key);
      return Reflect.has(t, key);
    },
    getOwnPropertyDescriptor(t, key) {
      check(key);
      return Reflect.getOwnPropertyDescriptor(t, key);
    },
    ownKeys() {
      // Only reached for a map above a broken path: what it lists is incomplete.
      throw new BrokenInput();
    },
  });
}

function keyOf(path: readonly PathSegment[]): string {
  return path.join('\0');
}

function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (v === null || typeof v !== 'object') return v;
  const out = emptyMap();
  for (const [k, x] of Object.entries(v)) out[k] = clone(x);
  return out;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = own(v as Record<string, unknown>, String(seg));
  }
  return v;
}

function remove(root: Record<string, unknown>, path: readonly PathSegment[]): void {
  const parent = valueAt(root, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object' && !Array.isArray(parent))
    delete (parent as Record<string, unknown>)[String(path.at(-1))];
}
