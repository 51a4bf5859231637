import { existsSync } from 'node:fs';
import { childProcess } from '../builtins.ts';
import type { HostPlan } from '../plan/model.ts';
import { managerClients } from '../facts/managers.ts';

/** What the manager's client made of one API path. */
export type ManagerAnswer =
  /** The client printed JSON and exited 0. */
  | { kind: 'answer'; value: unknown }
  /** The client exited non-zero: the object does not exist, or the daemon cannot be reached. */
  | { kind: 'refused'; status: number }
  /** No usable answer (a hang, a crash, too much output, not JSON); `reason` completes "CLIENT query PATH ...". */
  | { kind: 'broken'; reason: string };

/** Asks the live manager's API for one path (`lxc query PATH` / `incus query PATH`). */
export type ManagerQuery = (path: string) => Promise<ManagerAnswer>;

/**
 * The longest gen waits for the first answer. On a fresh boot the daemon is socket-activated: the
 * first query starts it, which took 51 s in the e2e guest (qemu without KVM, on a loaded 2-core
 * host), longer after a package upgrade that migrates its database.
 */
const FIRST_QUERY_TIMEOUT_MS = 180_000;

/** The longest gen waits for any later answer: the daemon is running by then and answers in well
 * under a second. Once one query timed out, the others are not asked (the client hangs). */
const QUERY_TIMEOUT_MS = 60_000;

/** The most output accepted from one query: the largest answer gen asks for (/1.0, with the server's
 * certificate and addresses) is a few KB. */
const QUERY_MAX_BYTES = 1024 * 1024;

/** Options of liveManagerQuery; tests name a fake client and short limits. */
export interface ManagerClientOptions {
  /** The client program; by default the manager's own, where its package installs it. */
  client?: string;
  firstTimeoutMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

/** The live manager's REST API through its own client, or undefined when the client is not installed. */
export function liveManagerQuery(plan: HostPlan, opts: ManagerClientOptions = {}): ManagerQuery | undefined {
  const client = opts.client ?? managerClients(plan.manager.name).find((c) => existsSync(c));
  if (client === undefined) return undefined;
  const maxBytes = opts.maxBytes ?? QUERY_MAX_BYTES;
  let asked = 0;
  let hung: string | undefined;
  return async (path) => {
    if (hung !== undefined) return { kind: 'broken', reason: `was not run: ${hung}` };
    const timeoutMs = asked++ === 0 ? (opts.firstTimeoutMs ?? FIRST_QUERY_TIMEOUT_MS) : (opts.timeoutMs ?? QUERY_TIMEOUT_MS);
    const run = await runClient(client, ['query', path], timeoutMs, maxBytes);
    if (run.kind === 'failed') {
      if (run.timedOut) hung = `an earlier query was stopped after ${seconds(timeoutMs)}`;
      return { kind: 'broken', reason: run.reason };
    }
    if (run.signal !== null) return { kind: 'broken', reason: `was killed by ${run.signal}` };
    if (run.status !== 0) return { kind: 'refused', status: run.status ?? -1 };
    const text = run.stdout.toString('utf8').trim();
    if (text === '') return { kind: 'broken', reason: 'answered nothing' };
    try {
      return { kind: 'answer', value: JSON.parse(text) as unknown };
    } catch {
      return { kind: 'broken', reason: 'answered something that is not JSON' };
    }
  };
}

type ClientRun =
  | { kind: 'exited'; status: number | null; signal: NodeJS.Signals | null; stdout: Buffer }
  | { kind: 'failed'; reason: string; timedOut: boolean };

/**
 * Runs the client in a process group of its own and collects its stdout (stderr goes nowhere: it is
 * not needed and a full pipe would block the client). It ends within `timeoutMs` whatever the client
 * does: on the deadline, or output over `maxBytes`, the whole group is killed and the pipe let go
 * (spawnSync waits for the pipe to close, up to its timeout, and then kills the client alone: a
 * leftover child holding the pipe costs the whole timeout and runs on).
 */
export function runClient(file: string, args: string[], timeoutMs: number, maxBytes: number): Promise<ClientRun> {
  return new Promise((settle) => {
    const child = childProcess().spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let exited = false;
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    };
    const finish = (run: ClientRun) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (run.kind === 'failed') killGroup();
      child.stdout!.destroy();
      settle(run);
    };
    const timer = setTimeout(() => {
      const reason = exited
        ? `exited, but left a process holding its output open for ${seconds(timeoutMs)}`
        : `did not answer within ${seconds(timeoutMs)}`;
      finish({ kind: 'failed', reason, timedOut: true });
    }, timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) =>
      finish({ kind: 'failed', reason: `could not be run (${e.code ?? e.message})`, timedOut: false }),
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) finish({ kind: 'failed', reason: `answered more than ${maxBytes} bytes`, timedOut: false });
      else chunks.push(chunk);
    });
    // The client is done: whatever it left running in its group would hold the pipe open. (The
    // group's id cannot be reused while a member lives; with none left, the kill finds nothing.)
    child.on('exit', () => {
      exited = true;
      killGroup();
    });
    child.on('close', (status, signal) => finish({ kind: 'exited', status, signal, stdout: Buffer.concat(chunks, size) }));
  });
}

/** A duration for messages: "60 s", "0.2 s". */
function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
