import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, type ManifestEntry } from '../src/output/manifest.ts';
import { packageRoot } from '../src/source/package-root.ts';
import type { Io } from '../src/commands/context.ts';

/** The repository root: found upwards from this module, which test/run-suites.mjs bundles into dist/. */
export const ROOT = packageRoot();
/** The built bundle, which bin/gen runs when it cannot start the startup snapshot. */
export const GEN = join(ROOT, 'dist', 'gen.js');
/**
 * The CLI as users run it (`npx gen`): bin/gen, which starts from the startup snapshot (~0.06 s of
 * CPU a start here, against ~0.25 s for node loading dist/gen.js) and falls back to dist/gen.js.
 * test/launcher.test.ts proves that the snapshot was built, is the one started, and prints what
 * dist/gen.js prints.
 */
export const BIN_GEN = join(ROOT, 'bin', 'gen');

/** The shipped stacks that golden files and real-tool checks cover. */
/** stderr without the USER_DATA_SIZE warning, which every shipped profile's user-data draws (it is
 * larger than AWS EC2's 16 KiB; test/user-data-size.test.ts tests the warning itself). */
export function withoutSizeWarning(stderr: string): string {
  return stderr.replace(/^.*USER_DATA_SIZE.*(?:\r?\n|$)/gm, '');
}

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

/** Runs the built CLI (bin/gen) with `args` in `cwd`. */
export function gen(args: string[], cwd = ROOT): Run {
  const r = spawnSync(BIN_GEN, args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs the CLI inside this process (src/cli.ts main) with `args` in `cwd`: the exit code main
 * returns and everything printed, through gen's streams or straight to this process's stdout and
 * stderr (a stray console.log counts). No node start and no bundle load per run (~0.3 s of CPU
 * each, README Development); what only a process shows (its exit status, output of a crash) needs
 * gen(). `io` sets the rest of gen's Io (a terminal, an environment).
 */
export async function genInProcess(args: string[], cwd = ROOT, io: Partial<Omit<Io, 'stdout' | 'stderr'>> = {}): Promise<Run> {
  const { main } = await import('../src/cli.ts');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const capture = (into: Buffer[]) => (chunk: string | Uint8Array) =>
    void into.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  const streams = { stdout: process.stdout.write, stderr: process.stderr.write };
  const before = process.cwd();
  process.stdout.write = ((chunk: string | Uint8Array) => (capture(out)(chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (capture(err)(chunk), true)) as typeof process.stderr.write;
  process.chdir(cwd);
  let status: number;
  try {
    status = await main(args, { stdout: capture(out), stderr: capture(err), isTTY: false, ...io });
  } finally {
    process.chdir(before);
    process.stdout.write = streams.stdout;
    process.stderr.write = streams.stderr;
  }
  return { status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
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
