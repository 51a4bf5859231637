import { byCodeUnit } from '../output/order.ts';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Generated } from '../pipeline.ts';
import { octalMode } from '../render/artifact.ts';
import type { HostPlan } from '../plan/model.ts';
import { HOST_PATHS } from '../plan/paths.ts';

/** One check of a host against its profile. ABSENT: the thing does not exist here (a kernel
 * without the path, a daemon not running, no live manager to ask): reported, not failed. */
export interface VerifyRow {
  check: string;
  status: 'PASS' | 'FAIL' | 'ABSENT';
  wanted: string;
  actual: string;
  note?: string;
}

/** Asks the live manager's API (`lxc query` / `incus query`); undefined when it cannot. */
export type ManagerQuery = (path: string) => unknown;

export interface VerifyOptions {
  /** Root of the host's filesystem: `/` on a live host, a mounted image or fixture tree otherwise. */
  root: string;
  /** The manager's API, on a live host only. */
  query?: ManagerQuery;
}

/** Checks a host against everything its profile promises, one row per setting. */
export function verifyHost(generated: Generated, opts: VerifyOptions): VerifyRow[] {
  const { plan } = generated.stack;
  const rows: VerifyRow[] = [];
  const query = opts.query && askedOnce(opts.query);
  // On a live host, ask the manager first: after a reboot its daemon is socket-activated, and the
  // daemon (with its limits) and its bridge (with its txqueuelen) exist only once a client calls.
  // Checking them before would report them ABSENT and pass (seen in a booted guest).
  const live = query !== undefined && query('/1.0') !== undefined;
  verifySysctl(plan, opts.root, rows);
  verifyDaemonLimits(plan, opts.root, rows, live);
  verifyTxqueuelen(plan, opts.root, rows, live);
  if (plan.hideInstanceNames) verifyHidden(opts.root, rows);
  verifyFiles(generated, opts.root, rows);
  verifyManager(plan, query, live, rows);
  return rows;
}

/** Each API path asked once: every answer is a client subprocess, and several rows read the same
 * object (the default profile, the bridge). */
function askedOnce(query: ManagerQuery): ManagerQuery {
  const answers = new Map<string, unknown>();
  return (path) => {
    if (!answers.has(path)) answers.set(path, query(path));
    return answers.get(path);
  };
}

function read(root: string, path: string): string | undefined {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return undefined;
  }
}

function verifySysctl(plan: HostPlan, root: string, rows: VerifyRow[]): void {
  for (const s of plan.sysctl) {
    const raw = read(root, `/proc/sys/${s.key.replace(/\./g, '/')}`);
    const check = `sysctl ${s.key}`;
    if (raw === undefined) {
      rows.push({ check, status: 'ABSENT', wanted: s.value, actual: '-', note: 'this kernel has no such key' });
      continue;
    }
    const actual = raw.trim().split(/\s+/).join(' ');
    if (s.mode === 'exact' || actual === s.value) {
      rows.push({ check, status: actual === s.value ? 'PASS' : 'FAIL', wanted: s.value, actual });
      continue;
    }
    const want = s.value.split(' ').map(Number);
    const have = actual.split(' ').map(Number);
    const ok = want.every((w, i) => (have[i] ?? -Infinity) >= w);
    rows.push({ check, status: ok ? 'PASS' : 'FAIL', wanted: `>= ${s.value}`, actual, ...(ok ? { note: 'higher than wanted: kept (raise-only)' } : {}) });
  }
}

/** The daemon's PID: the process whose command name is the manager's daemon. */
function daemonPid(plan: HostPlan, root: string): string | undefined {
  const comm = plan.manager.name === 'lxd' ? 'lxd' : 'incusd';
  let entries: string[] = [];
  try {
    entries = readdirSync(join(root, 'proc'));
  } catch {
    return undefined;
  }
  return entries.filter((e) => /^\d+$/.test(e)).sort((a, b) => Number(a) - Number(b)).find((pid) => read(root, `/proc/${pid}/comm`)?.trim() === comm);
}

function verifyDaemonLimits(plan: HostPlan, root: string, rows: VerifyRow[], live: boolean): void {
  const pid = daemonPid(plan, root);
  const wanted = [
    { check: 'daemon limit nofile', line: 'Max open files', want: String(plan.limits.nofile) },
    { check: 'daemon limit memlock', line: 'Max locked memory', want: plan.limits.memlock === 'unlimited' ? 'unlimited' : String(Number(plan.limits.memlock) * 1024) },
  ];
  const limits = pid ? read(root, `/proc/${pid}/limits`) : undefined;
  for (const w of wanted) {
    if (!limits) {
      // The manager answered, so its daemon must be running: not finding it is a failure.
      rows.push({ check: w.check, status: live ? 'FAIL' : 'ABSENT', wanted: w.want, actual: '-', note: `${plan.manager.name} daemon not running` });
      continue;
    }
    const m = limits.split('\n').find((l) => l.startsWith(w.line))?.slice(w.line.length).trim().split(/\s+/);
    const [soft, hard] = [m?.[0] ?? '?', m?.[1] ?? '?'];
    const atLeast = (v: string) => (w.want === 'unlimited' ? v === 'unlimited' : v === 'unlimited' || Number(v) >= Number(w.want));
    rows.push({ check: w.check, status: atLeast(soft) && atLeast(hard) ? 'PASS' : 'FAIL', wanted: w.want, actual: `${soft}/${hard}`, note: `pid ${pid}` });
  }
}

/** A udev-style glob (`*`, `?`, `[...]`) as a regular expression. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function verifyTxqueuelen(plan: HostPlan, root: string, rows: VerifyRow[], live: boolean): void {
  let devices: string[] = [];
  try {
    devices = readdirSync(join(root, 'sys/class/net')).sort();
  } catch {
    devices = [];
  }
  for (const rule of plan.txqueuelen) {
    const label = rule.kind === 'bridge' ? `txqueuelen bridge ${rule.id}` : `txqueuelen nic ${rule.id}`;
    const matching = devices.filter((d) =>
      'mac' in rule.match ? read(root, `/sys/class/net/${d}/address`)?.trim() === rule.match.mac : d !== 'lo' && globToRegExp(rule.match.name).test(d),
    );
    if (matching.length === 0) {
      // A live manager has created its bridge by now; a NIC glob may legitimately match nothing.
      rows.push({ check: label, status: live && rule.kind === 'bridge' ? 'FAIL' : 'ABSENT', wanted: String(rule.txqueuelen), actual: '-', note: `no device matches ${'mac' in rule.match ? rule.match.mac : rule.match.name}` });
      continue;
    }
    for (const d of matching) {
      const actual = read(root, `/sys/class/net/${d}/tx_queue_len`)?.trim() ?? '-';
      rows.push({ check: `${label} (${d})`, status: actual === String(rule.txqueuelen) ? 'PASS' : 'FAIL', wanted: String(rule.txqueuelen), actual });
    }
  }
}

function verifyHidden(root: string, rows: VerifyRow[]): void {
  for (const [path, mode] of [['/proc/sched_debug', '0400'], ['/sys/kernel/slab', '0700']] as const) {
    const actual = modeOf(root, path);
    if (actual === undefined) rows.push({ check: `mode ${path}`, status: 'ABSENT', wanted: mode, actual: '-', note: 'this kernel has no such path' });
    else rows.push({ check: `mode ${path}`, status: actual === mode ? 'PASS' : 'FAIL', wanted: mode, actual });
  }
}

/** The mode of a path under root (0644 style), or undefined when it does not exist. */
function modeOf(root: string, path: string): string | undefined {
  try {
    return octalMode(statSync(join(root, path)).mode);
  } catch {
    return undefined;
  }
}

function verifyFiles(generated: Generated, root: string, rows: VerifyRow[]): void {
  const files = generated.artifacts.filter((a) => a.hostPath).map((a) => ({ path: a.hostPath!, text: a.text, mode: a.mode }));
  // The preseed is installed by user-data; compare it only when it holds no secret we would need.
  if (generated.stack.plan.server.trustPassword === undefined) {
    const preseed = generated.artifacts.find((a) => a.kind === 'preseed')!;
    files.push({ path: HOST_PATHS.preseed, text: preseed.text, mode: 0o600 });
  }
  for (const f of files.sort((a, b) => byCodeUnit(a.path, b.path))) {
    const check = `file ${f.path}`;
    const wantMode = octalMode(f.mode);
    const mode = modeOf(root, f.path);
    if (mode === undefined) {
      rows.push({ check, status: 'FAIL', wanted: `present, ${wantMode}`, actual: 'missing' });
      continue;
    }
    const same = read(root, f.path) === f.text;
    rows.push({ check, status: same && mode === wantMode ? 'PASS' : 'FAIL', wanted: `as generated, ${wantMode}`, actual: `${same ? 'same bytes' : 'different bytes'}, ${mode}` });
  }
}

function verifyManager(plan: HostPlan, query: ManagerQuery | undefined, reachable: boolean, rows: VerifyRow[]): void {
  const m = plan.manager.name;
  const wants: { check: string; wanted: string; actual: (api: ManagerQuery) => string }[] = [];
  for (const p of plan.storagePools) {
    wants.push({ check: `${m} storage pool ${p.name}`, wanted: p.driver, actual: (api) => (api(`/1.0/storage-pools/${p.name}`) as { driver?: string } | undefined)?.driver ?? 'missing' });
  }
  const network = (api: ManagerQuery) => api(`/1.0/networks/${plan.bridge.name}`) as { config?: Record<string, string> } | undefined;
  wants.push({ check: `${m} network ${plan.bridge.name} ipv4.address`, wanted: plan.bridge.ipv4, actual: (api) => network(api)?.config?.['ipv4.address'] ?? 'missing' });
  wants.push({ check: `${m} network ${plan.bridge.name} ipv6.address`, wanted: plan.bridge.ipv6, actual: (api) => network(api)?.config?.['ipv6.address'] ?? 'missing' });
  type Profile = { config?: Record<string, string>; devices?: Record<string, Record<string, string>> };
  const profile = (api: ManagerQuery) => api('/1.0/profiles/default') as Profile | undefined;
  const fromProfile = (get: (p: Profile) => string | undefined) => (api: ManagerQuery) => {
    const p = profile(api);
    return p ? get(p) ?? 'unset' : 'missing';
  };
  wants.push({ check: `${m} default profile eth0 network`, wanted: plan.bridge.name, actual: fromProfile((p) => p.devices?.eth0?.network ?? p.devices?.eth0?.parent) });
  wants.push({ check: `${m} default profile root pool`, wanted: plan.instances.storagePool, actual: fromProfile((p) => p.devices?.root?.pool) });
  if (plan.instances.nicTxqueuelen !== undefined) {
    wants.push({ check: `${m} default profile eth0 queue.tx.length`, wanted: String(plan.instances.nicTxqueuelen), actual: fromProfile((p) => p.devices?.eth0?.['queue.tx.length']) });
  }
  if (plan.instances.idmapIsolated) {
    wants.push({ check: `${m} default profile security.idmap.isolated`, wanted: 'true', actual: fromProfile((p) => p.config?.['security.idmap.isolated']) });
  }
  // No client (or --root): nothing to ask, reported. A client whose daemon does not answer: failed.
  for (const w of wants) {
    if (!query) rows.push({ check: w.check, status: 'ABSENT', wanted: w.wanted, actual: '-', note: 'no live manager to ask (--root, or its client is missing)' });
    else if (!reachable) rows.push({ check: w.check, status: 'FAIL', wanted: w.wanted, actual: '-', note: `the ${m} daemon does not answer` });
    else {
      const actual = w.actual(query);
      rows.push({ check: w.check, status: actual === w.wanted ? 'PASS' : 'FAIL', wanted: w.wanted, actual });
    }
  }
}

/** Counts per status. */
export function summarize(rows: readonly VerifyRow[]): { pass: number; fail: number; absent: number } {
  return {
    pass: rows.filter((r) => r.status === 'PASS').length,
    fail: rows.filter((r) => r.status === 'FAIL').length,
    absent: rows.filter((r) => r.status === 'ABSENT').length,
  };
}
