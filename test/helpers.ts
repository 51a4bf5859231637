import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE, type ManifestEntry } from '../src/output/manifest.ts';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The built CLI, exactly what `npx gen` runs. */
export const GEN = join(ROOT, 'dist', 'gen.js');

/** The shipped stacks that golden files and real-tool checks cover. */
export const STACKS: string[][] = [['lxd-small'], ['incus-dense'], ['lxd-small', '10gbe'], ['incus-dense', '10gbe']];

/** Directory name of a stack's golden files. */
export function stackName(stack: readonly string[]): string {
  return stack.join('+');
}

/** Result of one CLI run. */
export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI with `args` in `cwd`. */
export function gen(args: string[], cwd = ROOT): Run {
  const r = spawnSync(process.execPath, [GEN, ...args], { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The `--profile` flags of a stack. */
export function profileArgs(stack: readonly string[]): string[] {
  return stack.flatMap((p) => ['--profile', p]);
}

/** Runs a program, returning its status and output (never throws for a non-zero exit). */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The files listed in the manifest.json of a tree gen wrote. */
export function readManifest(out: string): ManifestEntry[] {
  return (JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8')) as { files: ManifestEntry[] }).files;
}
