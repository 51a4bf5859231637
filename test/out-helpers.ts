// Helpers of the --out tests (out-dir, crash-safety, out-environment): what a directory holds,
// byte for byte, and what gen may have left beside it.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BIN_GEN } from './helpers.ts';

/**
 * Everything under `dir` (itself included, as '.'), without following links: each directory with
 * its mode, each file with its mode and sha256, each link with its target, anything else by type.
 * Two equal snapshots mean byte-identical trees.
 */
export function treeSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string, rel: string) => {
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out.set(rel, `dir ${mode}`);
      for (const name of readdirSync(path).sort()) visit(join(path, name), rel === '.' ? name : `${rel}/${name}`);
    } else if (st.isFile()) out.set(rel, `file ${mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    else if (st.isSymbolicLink()) out.set(rel, `link -> ${readlinkSync(path)}`);
    else out.set(rel, `special ${mode}`);
  };
  visit(dir, '.');
  return out;
}

/** True when the two snapshots are equal (a Map compare that does not print 20,000 entries). */
export function sameTree(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** The first difference between two snapshots, for a failure message. */
export function firstDifference(a: Map<string, string>, b: Map<string, string>): string {
  for (const [k, v] of a) if (b.get(k) !== v) return `${k}: ${v} / ${b.get(k) ?? 'absent'}`;
  for (const [k, v] of b) if (!a.has(k)) return `${k}: absent / ${v}`;
  return 'none';
}

/** What a writer of DIR left beside it: every `.NAME.*` sibling (gen's temporary trees, aside
 * copies, lock and lock attempts are named so; so were those of gen before issue 12). */
export function leftBeside(dir: string): string[] {
  const prefix = `.${basename(dir)}.`;
  return readdirSync(dirname(dir)).filter((e) => e.startsWith(prefix));
}

/** An inventory of `n` hosts on one stack; with `nics`, each has one NIC with a static address
 * (and so a network-config file), else nothing of its own but its name. */
export function inventoryYaml(n: number, profiles: readonly string[], nics = false): string {
  const hex = (b: number) => (b & 255).toString(16).padStart(2, '0');
  const lines = ['defaults:', `  profiles: [${profiles.join(', ')}]`, 'hosts:'];
  for (let i = 1; i <= n; i++) {
    const name = `node${String(i).padStart(5, '0')}`;
    if (!nics) lines.push(`  ${name}: {}`);
    else
      lines.push(
        `  ${name}:`,
        '    nics:',
        `      uplink: {mac: "52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}", addresses: ["10.0.${(i >> 8) & 255}.${i & 255}/16"], gateway: "10.0.255.254"}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/** Result of a CLI run. */
export interface GenResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI synchronously; `prefix` runs it through another program (setpriv …). */
export function genSync(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; prefix?: string[]; command?: string[] } = {},
): GenResult {
  const [cmd, ...rest] = [...(opts.prefix ?? []), ...(opts.command ?? [BIN_GEN]), ...args];
  const r = spawnSync(cmd!, rest, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A running CLI: its process, and a promise of its end. */
export function genAsync(args: string[], opts: { cwd?: string } = {}): { child: ReturnType<typeof spawn>; done: Promise<GenResult> } {
  const child = spawn(BIN_GEN, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<GenResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Replaces `to` with a copy of the tree `from` (cp -a: modes and links as they are). */
export function copyTree(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(join(to, '..'), { recursive: true });
  const r = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
