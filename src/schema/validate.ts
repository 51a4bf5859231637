import type * as z from 'zod';
import type { $ZodIssue } from 'zod/v4/core';
import { DiagnosticBag, type DiagnosticCode } from '../diagnostics/diagnostic.ts';
import { didYouMean } from '../diagnostics/suggest.ts';
import { own } from '../base/data.ts';
import { originOf, type Merged } from '../resolve/merge.ts';
import { formatPath, positionOf, scalarSourceAt, type PathSegment } from '../source/position.ts';
import type { Source } from '../source/load.ts';
import { SYSCTL_FACTS } from '../facts/sysctl.ts';
import { ProfileSchema, type Profile } from './profile.ts';

/** Reports a diagnostic at the place in the stack's files where `path` was written. */
export function reportAt(
  bag: DiagnosticBag,
  merged: Merged,
  severity: 'error' | 'warning',
  code: DiagnosticCode,
  path: readonly PathSegment[],
  message: string,
  at: 'key' | 'value' = 'value',
): void {
  const source = originOf(merged.origins, path) ?? merged.fallback;
  const pos = source ? positionOf(source, path, at) : undefined;
  bag.add({ severity, code, message, path: formatPath(path), ...(source ? { file: source.display, ...pos } : {}) });
}

/** Where `path` is written, as `file:line`, for messages that mention a second value. */
export function whereIs(merged: Merged, path: readonly PathSegment[]): string {
  const source = originOf(merged.origins, path);
  if (!source) return 'derived';
  return `${source.display}:${positionOf(source, path).line}`;
}

/** Checks the merged stack against the schema; every issue becomes a located diagnostic. */
export function validateProfile(merged: Merged, bag: DiagnosticBag): Profile | undefined {
  return validateWith(ProfileSchema, merged, bag);
}

/** Checks data against any strict zod schema (profiles, inventories), reporting located diagnostics. */
export function validateWith<T>(schema: z.ZodType<T>, merged: Merged, bag: DiagnosticBag): T | undefined {
  const result = schema.safeParse(merged.value);
  if (result.success) return result.data;
  // One problem per value is enough to fix it; zod may report several (e.g. not safe and not an int).
  const reported = new Set<string>();
  // A required key reported missing because the user misspelled it is one problem, not two: the
  // did-you-mean on the unknown key says it all.
  for (const issue of result.error.issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const known = knownKeysAt(issue.path as PathSegment[], schema);
    for (const key of issue.keys) {
      const hint = didYouMean(key, known);
      if (hint) reported.add([...issue.path, hint].join('\0'));
    }
  }
  for (const issue of result.error.issues) {
    const key = issue.code === 'unrecognized_keys' ? `${issue.path.join('\0')}\0${issue.keys.join('\0')}` : issue.path.join('\0');
    if (reported.has(key)) continue;
    reported.add(key);
    reportIssue(issue, merged, bag, [], schema);
  }
  return undefined;
}

function reportIssue(issue: $ZodIssue, merged: Merged, bag: DiagnosticBag, prefix: PathSegment[], schema: z.ZodType): void {
  const path = [...prefix, ...(issue.path as PathSegment[])];
  if (SECRET_KEYS.has(String(path[path.length - 1])) || SECRET_KEYS.has(String(path[path.length - 2]))) {
    reportSecret(path.slice(0, path.findIndex((p) => SECRET_KEYS.has(String(p))) + 1), merged, bag);
    return;
  }
  const value = valueAt(merged.value, path);
  // A number beyond 2^53 was already rounded by the parser: show what the user wrote.
  const actual =
    typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value)
      ? new RawNumber(sourceTextAt(merged, path) ?? String(value))
      : value;
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const known = knownKeysAt(path, schema);
        const hint = didYouMean(key, known);
        const where = path.length ? ` in ${formatPath(path)}` : '';
        reportAt(
          bag,
          merged,
          'error',
          'UNKNOWN_KEY',
          [...path, key],
          `unknown key "${key}"${where}${hint ? ` (did you mean "${hint}"?)` : `; known keys: ${known.join(', ')}`}`,
          'key',
        );
      }
      return;
    case 'invalid_type':
      if (actual === undefined) {
        reportAt(bag, merged, 'error', 'MISSING_KEY', path, `${formatPath(path)} is required (${describeExpected(issue.expected)})`, 'key');
      } else {
        reportAt(
          bag,
          merged,
          'error',
          'INVALID_TYPE',
          path,
          `${formatPath(path)} must be ${describeExpected(issue.expected)}, not ${describeValue(actual)}`,
        );
      }
      return;
    case 'invalid_union': {
      // Report the branch that matches the value's type, so "too big" is not hidden behind "expected string".
      // A wrong type or value inside a branch's mapping ({value: 10, mode: sometimes}) means that branch.
      const branches = issue.errors.filter(
        (errs) => !errs.every((e) => (e.code === 'invalid_type' || e.code === 'invalid_value') && e.path.length === 0),
      );
      // Of several mapping forms ({value, mode} and {from_host, word}), the one the value is
      // nearest to: fewest problems, so its keys are not reported as unknown to the other form.
      const fewest = Math.min(...branches.map((errs) => errs.length));
      const nearest = branches.filter((errs) => errs.length === fewest);
      if (nearest.length === 1) {
        for (const e of nearest[0]!) reportIssue(e, merged, bag, path, schema);
        return;
      }
      reportAt(
        bag,
        merged,
        'error',
        'INVALID_TYPE',
        path,
        `${formatPath(path)} must be ${unionExpectation(path)}, not ${describeValue(actual)}`,
      );
      return;
    }
    case 'invalid_value':
      if (actual === undefined) {
        reportAt(
          bag,
          merged,
          'error',
          'MISSING_KEY',
          path,
          `${formatPath(path)} is required: one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          'key',
        );
        return;
      }
      reportAt(
        bag,
        merged,
        'error',
        'INVALID_VALUE',
        path,
        `${formatPath(path)} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, not ${describeValue(actual)}`,
      );
      return;
    case 'invalid_key': {
      // A record's key that its key schema refuses: report the key itself, with that schema's words.
      const key = String(path[path.length - 1]);
      const why = issue.issues.map((i) => i.message).join('; ');
      reportAt(
        bag,
        merged,
        'error',
        'INVALID_KEY',
        path,
        `the key "${key}" in ${formatPath(path.slice(0, -1))} is not valid: ${why}`,
        'key',
      );
      return;
    }
    case 'too_big':
    case 'too_small': {
      const custom = !issue.message.startsWith('Too ');
      const bound = issue.code === 'too_big' ? `at most ${issue.maximum}` : `at least ${issue.minimum}`;
      reportAt(
        bag,
        merged,
        'error',
        'OUT_OF_RANGE',
        path,
        `${formatPath(path)} is ${describeValue(actual)}: ${custom ? issue.message : `must be ${bound}`}`,
      );
      return;
    }
    default:
      reportAt(
        bag,
        merged,
        'error',
        'INVALID_VALUE',
        path,
        `${formatPath(path)} ${issue.message}${actual !== undefined ? ` (got ${describeValue(actual)})` : ''}`,
      );
  }
}

/** Keys that hold secrets by reference. Their values are never echoed in a message. */
const SECRET_KEYS = new Set(['trust_password', 'token']);

function reportSecret(path: PathSegment[], merged: Merged, bag: DiagnosticBag): void {
  const inline = typeof valueAt(merged.value, path) === 'string';
  reportAt(
    bag,
    merged,
    'error',
    inline ? 'SECRET_INLINE' : 'INVALID_VALUE',
    path,
    inline
      ? `${formatPath(path)} is written in the file: secrets must not be in profiles or inventories (they get committed and copied); write {env: VARIABLE} or {file: /absolute/path} and provide the secret when you run gen`
      : `${formatPath(path)} must be a reference: {env: VARIABLE} or {file: /absolute/path}`,
  );
}

/**
 * A secret written inline in any profile of the stack is an error, even when a later profile
 * overrides it with a reference: the file that holds it still gets committed and copied. The
 * value that won the merge is checked by the schema; this finds the ones it overrode.
 */
export function reportOverriddenInlineSecrets(
  layers: readonly { source: Source; value: Record<string, unknown> }[],
  merged: Merged,
  bag: DiagnosticBag,
): void {
  const path = ['server', 'trust_password'];
  const winner = originOf(merged.origins, path);
  for (const { source, value } of layers) {
    const server = own(value, 'server');
    const secret = server !== null && typeof server === 'object' ? own(server as Record<string, unknown>, 'trust_password') : undefined;
    if (source === winner || secret === undefined || (secret !== null && typeof secret === 'object')) continue;
    bag.add({
      severity: 'error',
      code: 'SECRET_INLINE',
      message: `${formatPath(path)} is written in the file (a later profile overrides it, but this file still holds it): remove it here and keep only {env: VARIABLE} or {file: /absolute/path}`,
      path: formatPath(path),
      file: source.display,
      ...positionOf(source, path),
    });
  }
}

function unionExpectation(path: readonly PathSegment[]): string {
  if (path[0] === 'sysctl') return 'a whole number, a string of words, {value: V, mode: raise|exact|lower} or {from_host: KEY, word: N}';
  if (path.at(-1) === 'trust_password') return 'a reference, {env: VARIABLE} or {file: /path}';
  return 'a whole number or "unlimited"';
}

function describeExpected(expected: string): string {
  return (
    (
      {
        object: 'a mapping',
        record: 'a mapping',
        array: 'a list',
        number: 'a number',
        string: 'a string',
        boolean: 'true or false',
        int: 'a whole number',
      } as Record<string, string>
    )[expected] ?? expected
  );
}

/** A number as written in the source, for numbers the parser could not represent exactly. */
class RawNumber {
  constructor(readonly text: string) {}
}

function sourceTextAt(merged: Merged, path: readonly PathSegment[]): string | undefined {
  const source = originOf(merged.origins, path);
  return source ? scalarSourceAt(source, path) : undefined;
}

/** A short description of a value for messages: its kind and, for scalars, the value. */
function describeValue(v: unknown): string {
  if (v instanceof RawNumber) return v.text;
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  return String(v);
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = own(v as Record<string, unknown>, String(seg));
  }
  return v;
}

/** Keys the schema allows at `path`, for did-you-mean hints. */
export function knownKeysAt(path: readonly PathSegment[], root: z.ZodType = ProfileSchema): string[] {
  let schema: z.ZodType | undefined = root;
  for (const seg of path) {
    schema = childSchema(schema, seg);
    if (!schema) return [];
  }
  const def = unwrap(schema)?._zod.def as { type: string; shape?: Record<string, z.ZodType> } | undefined;
  if (root === ProfileSchema && path.length === 1 && path[0] === 'sysctl') return Object.keys(SYSCTL_FACTS);
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let s = schema;
  while (s && ['optional', 'default', 'nullable'].includes((s._zod.def as { type: string }).type)) {
    s = (s._zod.def as unknown as { innerType: z.ZodType }).innerType;
  }
  return s;
}

function childSchema(schema: z.ZodType | undefined, seg: PathSegment): z.ZodType | undefined {
  const s = unwrap(schema);
  if (!s) return undefined;
  const def = s._zod.def as unknown as { type: string; shape?: Record<string, z.ZodType>; valueType?: z.ZodType; element?: z.ZodType };
  if (def.type === 'object') return own(def.shape, String(seg));
  if (def.type === 'record') return def.valueType;
  if (def.type === 'array') return def.element;
  return undefined;
}
