/**
 * Data read from users' files is prototype-free (src/source/to-data.ts): a key such as
 * `constructor` or `toString` must find nothing but what the user wrote. These helpers keep it so
 * where gen builds or looks up objects keyed by user input.
 */

/** A new mapping without a prototype: `m[key]` finds only keys set on it. */
export function emptyMap<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * A table of gen's own facts that user input indexes (sysctl names, pool names): frozen and
 * without a prototype, so `TABLE[userKey]` and `userKey in TABLE` are false for `constructor`.
 */
export function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(emptyMap<T>(), entries));
}

/** The value of an own key of `obj`, never one inherited from a prototype. */
export function own<T>(obj: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A deep copy of data (mappings, lists, scalars) whose mappings are prototype-free. */
export function cloneData<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneData) as T;
  if (value !== null && typeof value === 'object') {
    const out = emptyMap();
    for (const [k, v] of Object.entries(value)) out[k] = cloneData(v);
    return out as T;
  }
  return value;
}
