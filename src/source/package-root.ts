import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The directory holding this tool's package.json, whether running from src/ (tsx) or dist/ (bundle). */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'profiles'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the born-tuned package root');
    dir = parent;
  }
  cached = dir;
  return dir;
}

/** Directory of the profiles shipped with the tool. */
export function shippedProfilesDir(): string {
  return join(packageRoot(), 'profiles');
}
