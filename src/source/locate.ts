import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join, relative, isAbsolute, resolve } from 'node:path';
import { didYouMean } from '../diagnostics/suggest.ts';
import { shippedProfilesDir } from './package-root.ts';

/** Profile names are file names without `.yaml`; nothing that could leave the profiles directory. */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Where profiles are looked up, first match wins: the user's directory (if any), then the shipped one. */
export interface ProfileSearchPath {
  dirs: string[];
}

/** Result of looking a profile name up. */
type Located = { ok: true; file: string } | { ok: false; reason: string; code: 'INVALID_PROFILE_NAME' | 'UNKNOWN_PROFILE' };

/** Finds the file for a profile name, or says why there is none (with a did-you-mean). */
export function locateProfile(name: string, search: ProfileSearchPath): Located {
  if (!PROFILE_NAME.test(name) || name.includes('..')) {
    return {
      ok: false,
      code: 'INVALID_PROFILE_NAME',
      reason: `"${name}" is not a profile name: names use a-z, 0-9, ".", "_" and "-", start with a letter or digit, and name a file in the profiles directory`,
    };
  }
  for (const dir of search.dirs) {
    const file = join(dir, `${name}.yaml`);
    // lstat: a dangling symlink is a profile that cannot be read, not a missing one.
    if (lexists(file)) return { ok: true, file };
  }
  const known = listProfileNames(search);
  const hint = didYouMean(name, known);
  return {
    ok: false,
    code: 'UNKNOWN_PROFILE',
    reason: `profile "${name}" not found in ${search.dirs.map(displayPath).join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}; known profiles: ${known.join(', ') || 'none'}`,
  };
}

/** Every profile name visible on the search path, sorted. */
export function listProfileNames(search: ProfileSearchPath): string[] {
  const names = new Set<string>();
  for (const dir of search.dirs) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) names.add(f.slice(0, -'.yaml'.length));
  }
  return [...names].sort();
}

/** The shipped profile that the profile `name` read from `file` hides (a user's profile of the
 * same name comes first on the search path), or undefined when `file` is that shipped profile or
 * none has the name. */
export function shadowedShippedProfile(name: string, file: string): string | undefined {
  const shipped = join(shippedProfilesDir(), `${name}.yaml`);
  if (!lexists(shipped)) return undefined;
  return sameFile(file, shipped) ? undefined : shipped;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

/** A path as the user should see it: relative to the working directory, so messages are the same
 * in every checkout and editors can open them. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' ? '.' : isAbsolute(rel) ? file : rel;
}

function lexists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}
