import type { RenderedHost } from '../pipeline.ts';
import { octalMode } from '../render/artifact.ts';
import type { HostPlan, SysctlSetting } from '../plan/model.ts';
import type { SysctlMode } from '../facts/sysctl.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import { procSysPath } from '../facts/sysctl-names.ts';
import { fileType, readRegularFile } from '../source/read-file.ts';
import {
  hostChecks,
  installedFiles,
  type DaemonLimitCheck,
  type HiddenCheck,
  type InstalledFile,
  type TxqueuelenCheck,
} from '../plan/checks.ts';
import { askedOnce, isLive, verifyManager } from './manager-checks.ts';
import type { ManagerQuery } from './manager-query.ts';
import { verifyFence, type FenceQuery } from './fence-checks.ts';
import { devicesMatching, verifyUplinks } from './uplinks.ts';
import { listInRoot, readInRoot, resolveConfined, resolveInRoot } from './root-fs.ts';

/** One check of a host against its profile. ABSENT: the thing does not exist here (a kernel
 * without the path, a daemon not running, no live manager to ask): reported, not failed. FAIL: it
 * is there and not as promised, or it is not what such a path is (a FIFO, a device, a link out of
 * /proc) and the note says so, or it could not be read. */
export interface VerifyRow {
  check: string;
  status: 'PASS' | 'FAIL' | 'ABSENT';
  wanted: string;
  actual: string;
  note?: string;
}

interface VerifyOptions {
  /** Root of the host's filesystem: `/` on a live host, a mounted image or fixture tree otherwise.
   * Every path is resolved inside it (see root-fs.ts). */
  root: string;
  /** The manager's API, on a live host only. */
  query?: ManagerQuery;
  /** The kernel's fence table, on a live host only. */
  fence?: FenceQuery;
}

/**
 * The most verify reads of one /proc or /sys file. Every one it reads is under 2 KB on a real
 * kernel (a sysctl value, /proc/PID/limits, a NIC's address); a larger one is not what a kernel
 * shows, and is refused rather than read into memory and printed.
 */
const KERNEL_FILE_MAX = 64 * 1024;

/** Checks a host against everything its profile promises, one row per setting. */
export async function verifyHost(generated: RenderedHost, opts: VerifyOptions): Promise<VerifyRow[]> {
  const { plan } = generated.stack;
  const preseed = generated.artifacts.find((a) => a.kind === 'preseed')!;
  const checks = hostChecks(plan, installedFiles(generated.artifacts, preseed.text));
  const rows: VerifyRow[] = [];
  const query = opts.query && askedOnce(opts.query);
  // On a live host, ask the manager first: after a reboot its daemon is socket-activated, and the
  // daemon (with its limits) and its bridge (with its txqueuelen) exist only once a client calls.
  // Checking them before would report them ABSENT and pass (seen in a booted guest).
  const apiRoot = query && (await query('/1.0'));
  const live = apiRoot !== undefined && isLive(apiRoot);
  const computed = readComputedSysctl(opts.root);
  verifySysctl(plan, opts.root, rows, computed);
  verifyDaemonLimits(checks.daemon, opts.root, rows, live);
  verifyTxqueuelen(checks.txqueuelen, opts.root, rows, live);
  verifyUplinks(plan, opts.root, rows, live);
  verifyHidden(checks.hidden, opts.root, rows);
  verifyModules(plan, opts.root, rows);
  verifySubids(plan, opts.root, rows);
  verifyFiles(checks.files, opts.root, rows);
  await verifyFence(plan, opts.root, opts.fence, rows);
  verifyComputedSysctl(plan, opts.root, rows, computed);
  await verifyManager(plan, query, apiRoot, rows);
  return rows;
}

/** A /proc or /sys file's text, or why there is none: `absent` when the path does not exist. */
type KernelRead = { ok: true; text: string } | { ok: false; absent: boolean; note: string };

/** Reads a kernel file under root. A real kernel's links never leave /proc or /sys, so the path
 * must stay inside the one it names: an image's `/proc/sys/x -> /etc/shadow` is refused. */
function readKernelFile(root: string, path: string): KernelRead {
  const r = readInRoot(root, path, { maxBytes: KERNEL_FILE_MAX, within: topDirectory(path) });
  if (r.ok) return { ok: true, text: r.bytes.toString('utf8') };
  return { ok: false, absent: r.problem.kind === 'missing', note: `${path} ${r.problem.message}` };
}

/** `/proc` for `/proc/sys/vm/max_map_count`. */
function topDirectory(path: string): string {
  return `/${path.split('/')[1]}`;
}

/** What a sysctl must be: its value as written, or (`fromHost`) the word of the host's other key.
 * The apply step reads that word once, at first boot, and records its result in the computed
 * sysctl.d file; the source moves between boots (tcp_mem is sized from the memory free at boot, a
 * few pages apart), so the recorded result is what the host must keep. Without one (an image not
 * yet booted, a first boot not yet run) the word is read now; a row says why when it cannot be. */
function wantedValue(
  s: SysctlSetting,
  root: string,
  recorded: ReadonlyMap<string, string>,
): { value: string; label: string } | { row: Omit<VerifyRow, 'check'> } {
  if (!s.fromHost) return { value: s.value, label: s.value };
  const atFirstBoot = recorded.get(s.key);
  if (atFirstBoot !== undefined && /^\d+$/.test(atFirstBoot))
    return { value: atFirstBoot, label: `${atFirstBoot} (${s.fromHost.key} word ${s.fromHost.word} at first boot)` };
  const source = readKernelFile(root, procSysPath(s.fromHost.key));
  if (!source.ok)
    return {
      row: {
        status: source.absent ? 'ABSENT' : 'FAIL',
        wanted: s.value,
        actual: '-',
        note: source.absent ? `this kernel has no ${s.fromHost.key}` : source.note,
      },
    };
  const word = source.text.trim().split(/\s+/)[s.fromHost.word - 1];
  if (word === undefined || word === '')
    return { row: { status: 'FAIL', wanted: s.value, actual: '-', note: `${s.fromHost.key} has no word ${s.fromHost.word} here` } };
  return { value: word, label: `${word} (${s.fromHost.key} word ${s.fromHost.word})` };
}

/** Whether `actual` meets `want` in `mode`: exact compares the words as a whole; raise (at least)
 * and lower (at most) compare number by number, so a vector passes only when every number does. */
function meetsMode(mode: SysctlMode, want: string, actual: string): boolean {
  if (mode === 'exact' || actual === want) return actual === want;
  const wants = want.split(' ').map(Number);
  const haves = actual.split(' ').map(Number);
  const beyond = (h: number | undefined, w: number) => h !== undefined && (mode === 'raise' ? h >= w : h <= w);
  return haves.length === wants.length && wants.every((w, i) => beyond(haves[i], w));
}

function verifySysctl(plan: HostPlan, root: string, rows: VerifyRow[], computed: ComputedSysctl): void {
  const recorded = computed.ok ? computed.values : new Map<string, string>();
  for (const s of plan.sysctl) {
    const check = `sysctl ${s.key}`;
    const wanted = wantedValue(s, root, recorded);
    if ('row' in wanted) {
      rows.push({ check, ...wanted.row });
      continue;
    }
    const got = readKernelFile(root, procSysPath(s.key));
    if (!got.ok) {
      if (got.absent) rows.push({ check, status: 'ABSENT', wanted: wanted.label, actual: '-', note: 'this kernel has no such key' });
      else rows.push({ check, status: 'FAIL', wanted: wanted.label, actual: '-', note: got.note });
      continue;
    }
    const actual = got.text.trim().split(/\s+/).join(' ');
    const ok = meetsMode(s.mode, wanted.value, actual);
    if (s.mode === 'exact' || actual === wanted.value) {
      rows.push({ check, status: ok ? 'PASS' : 'FAIL', wanted: wanted.label, actual });
      continue;
    }
    rows.push({
      check,
      status: ok ? 'PASS' : 'FAIL',
      wanted: `${s.mode === 'raise' ? '>=' : '<='} ${wanted.label}`,
      actual,
      ...(ok ? { note: s.mode === 'raise' ? 'higher than wanted: kept (raise)' : 'lower than wanted: kept (lower)' } : {}),
    });
  }
}

/** The most verify reads of the computed sysctl.d file: a few hundred bytes a key. */
const COMPUTED_SYSCTL_MAX = 256 * 1024;

/** The computed sysctl.d file as key -> value (whitespace runs made one space), with its lines
 * that are not `key = value`; or why it cannot be read. */
type ComputedSysctl =
  { ok: true; values: Map<string, string>; malformed: string[] } | { ok: false; problem: { kind: string; message: string } };

function readComputedSysctl(root: string): ComputedSysctl {
  const r = readInRoot(root, HOST_PATHS.sysctl, { maxBytes: COMPUTED_SYSCTL_MAX });
  if (!r.ok) return { ok: false, problem: r.problem };
  const values = new Map<string, string>();
  const malformed: string[] = [];
  for (const line of r.bytes.toString('utf8').split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#') || text.startsWith(';')) continue;
    const eq = text.indexOf('=');
    if (eq === -1) {
      malformed.push(text);
      continue;
    }
    values.set(
      text.slice(0, eq).trim(),
      text
        .slice(eq + 1)
        .trim()
        .split(/\s+/)
        .join(' '),
    );
  }
  return { ok: true, values, malformed };
}

/**
 * The sysctl.d file the apply step computed at first boot (per host, so not compared byte for
 * byte): every wanted key this kernel has is there, with a value that meets the wanted one in its
 * mode (at least it for raise, at most for lower, itself for exact), and nothing else is. A host
 * whose first boot has not run has none: FAIL on a live host; ABSENT under --root, where an image
 * not yet booted must have none.
 */
function verifyComputedSysctl(plan: HostPlan, root: string, rows: VerifyRow[], r: ComputedSysctl): void {
  const check = `file ${HOST_PATHS.sysctl}`;
  const wantedText = 'each key in its mode';
  if (!r.ok) {
    if (r.problem.kind !== 'missing')
      rows.push({ check, status: 'FAIL', wanted: wantedText, actual: 'unreadable', note: `${HOST_PATHS.sysctl} ${r.problem.message}` });
    else if (root === '/')
      rows.push({ check, status: 'FAIL', wanted: wantedText, actual: 'missing', note: 'written by born-tuned-sysctl-apply at first boot' });
    else
      rows.push({
        check,
        status: 'ABSENT',
        wanted: wantedText,
        actual: '-',
        note: 'written at first boot by born-tuned-sysctl-apply: an image not yet booted has none',
      });
    return;
  }
  const written = r.values;
  const problems = r.malformed.map((text) => `"${text.slice(0, 60)}" is not key = value`);
  const planned = new Set(plan.sysctl.map((s) => s.key));
  for (const key of written.keys()) if (!planned.has(key)) problems.push(`${key} is not wanted`);
  for (const s of plan.sysctl) {
    const value = written.get(s.key);
    if (value === undefined) {
      // A key this kernel lacks is skipped by the apply step; one it has must be there.
      const live = readKernelFile(root, procSysPath(s.key));
      if (live.ok || !live.absent) problems.push(`${s.key} is missing`);
      continue;
    }
    // A value the apply step read on the host is its own record: only required to be there (and a
    // number); the live value is held to it by the sysctl row.
    if (s.fromHost) {
      if (!/^\d+$/.test(value)) problems.push(`${s.key} = ${value} is not a number`);
      continue;
    }
    const wanted = wantedValue(s, root, written);
    if ('row' in wanted) continue;
    if (!meetsMode(s.mode, wanted.value, value)) {
      const relation = s.mode === 'raise' ? 'below' : s.mode === 'lower' ? 'above' : 'not';
      problems.push(`${s.key} = ${value} is ${relation} ${wanted.value} (${s.mode})`);
    }
  }
  rows.push({
    check,
    status: problems.length === 0 ? 'PASS' : 'FAIL',
    wanted: wantedText,
    actual: problems.length === 0 ? `${written.size} keys in their modes` : `${problems.length} wrong`,
    ...(problems.length > 0
      ? { note: problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '') }
      : {}),
  });
}

/** The daemon's PID (the process whose command name is the manager's daemon), or why /proc
 * cannot be searched. A process that ends while /proc is read is skipped. */
function findDaemon(comm: string, root: string): { pid?: string; problem?: string } {
  const listing = listInRoot(root, '/proc', '/proc');
  if (!listing.ok) return listing.problem.kind === 'missing' ? {} : { problem: `/proc ${listing.problem.message}` };
  const isDaemon = (pid: string) => {
    const got = readKernelFile(root, `/proc/${pid}/comm`);
    return got.ok && got.text.trim() === comm;
  };
  return {
    pid: listing.names
      .filter((e) => /^\d+$/.test(e))
      .sort((a, b) => Number(a) - Number(b))
      .find(isDaemon),
  };
}

function verifyDaemonLimits(
  checks: { manager: string; comm: string; limits: DaemonLimitCheck[] },
  root: string,
  rows: VerifyRow[],
  live: boolean,
): void {
  const daemon = findDaemon(checks.comm, root);
  const wanted = checks.limits;
  const limits: KernelRead =
    daemon.pid !== undefined
      ? readKernelFile(root, `/proc/${daemon.pid}/limits`)
      : { ok: false, absent: daemon.problem === undefined, note: daemon.problem ?? '' };
  for (const w of wanted) {
    if (!limits.ok && !limits.absent) {
      rows.push({ check: w.check, status: 'FAIL', wanted: w.want, actual: '-', note: limits.note });
      continue;
    }
    if (!limits.ok) {
      // The manager answered, so its daemon must be running: not finding it is a failure.
      rows.push({
        check: w.check,
        status: live ? 'FAIL' : 'ABSENT',
        wanted: w.want,
        actual: '-',
        note: `${checks.manager} daemon not running`,
      });
      continue;
    }
    const m = limits.text
      .split('\n')
      .find((l) => l.startsWith(w.line))
      ?.slice(w.line.length)
      .trim()
      .split(/\s+/);
    const [soft, hard] = [m?.[0] ?? '?', m?.[1] ?? '?'];
    const atLeast = (v: string) => (w.want === 'unlimited' ? v === 'unlimited' : v === 'unlimited' || Number(v) >= Number(w.want));
    rows.push({
      check: w.check,
      status: atLeast(soft) && atLeast(hard) ? 'PASS' : 'FAIL',
      wanted: w.want,
      actual: `${soft}/${hard}`,
      note: `pid ${daemon.pid}`,
    });
  }
}

function verifyTxqueuelen(checks: readonly TxqueuelenCheck[], root: string, rows: VerifyRow[], live: boolean): void {
  const listing = listInRoot(root, '/sys/class/net', '/sys');
  const devices = listing.ok ? listing.names : [];
  const unlisted = !listing.ok && listing.problem.kind !== 'missing' ? `/sys/class/net ${listing.problem.message}` : undefined;
  for (const rule of checks) {
    const { label, wanted } = rule;
    if (unlisted !== undefined) {
      rows.push({ check: label, status: 'FAIL', wanted, actual: '-', note: unlisted });
      continue;
    }
    const matching = devicesMatching(root, devices, rule.match);
    if (matching.length === 0) {
      // A live manager has created its bridge by now; a NIC glob may legitimately match nothing.
      rows.push({
        check: label,
        status: live && rule.kind === 'bridge' ? 'FAIL' : 'ABSENT',
        wanted,
        actual: '-',
        note: `no device matches ${'mac' in rule.match ? rule.match.mac : rule.match.name}`,
      });
      continue;
    }
    for (const d of matching) {
      const got = readKernelFile(root, `/sys/class/net/${d}/tx_queue_len`);
      const actual = got.ok ? got.text.trim() : '-';
      rows.push({
        check: `${label} (${d})`,
        status: actual === wanted ? 'PASS' : 'FAIL',
        wanted,
        actual,
        ...(got.ok ? {} : { note: got.note }),
      });
    }
  }
}

/** Each module the host loads at boot is loaded: /sys/module/NAME exists. A root without
 * /sys/module (an image, a tree) is not a running kernel: ABSENT. */
function verifyModules(plan: HostPlan, root: string, rows: VerifyRow[]): void {
  const kernel = resolveConfined(root, '/sys/module', '/sys');
  for (const m of plan.modules) {
    const check = `module ${m.name}`;
    if (!kernel.ok) {
      rows.push({ check, status: 'ABSENT', wanted: 'loaded', actual: '-', note: 'no /sys/module here: not a running kernel' });
      continue;
    }
    const r = resolveConfined(root, `/sys/module/${m.name}`, '/sys');
    const loaded = r.ok && r.stats.isDirectory();
    rows.push({
      check,
      status: loaded ? 'PASS' : 'FAIL',
      wanted: 'loaded',
      actual: loaded ? 'loaded' : 'not loaded',
      ...(loaded ? {} : { note: m.why }),
    });
  }
}

/** The largest /etc/subuid verify reads; a real one is a line per user. */
const SUBID_FILE_MAX = 1024 * 1024;

/**
 * root's first range of at least 65536 ids in /etc/subuid and /etc/subgid (the one LXD and Incus
 * map instances from) holds the planned ids. A missing file is ABSENT: without it the daemon maps
 * its own default range.
 */
function verifySubids(plan: HostPlan, root: string, rows: VerifyRow[]): void {
  if (!plan.subordinateIds) return;
  const ids = plan.subordinateIds.ids;
  for (const path of [HOST_PATHS.subuid, HOST_PATHS.subgid]) {
    const check = `ids root in ${path}`;
    const wanted = `first range >= ${ids}`;
    const r = readInRoot(root, path, { maxBytes: SUBID_FILE_MAX });
    if (!r.ok) {
      if (r.problem.kind === 'missing')
        rows.push({ check, status: 'ABSENT', wanted, actual: '-', note: `no ${path}: the daemon maps its default range` });
      else rows.push({ check, status: 'FAIL', wanted, actual: '-', note: `${path} ${r.problem.message}` });
      continue;
    }
    const range = r.bytes
      .toString('utf8')
      .split('\n')
      .map((l) => /^root:(\d+):(\d+)$/.exec(l.trim()))
      .find((m) => m !== null && Number(m[2]) >= 65536);
    if (!range) {
      rows.push({ check, status: 'FAIL', wanted, actual: 'none', note: 'root has no range of at least 65536 ids' });
      continue;
    }
    const count = Number(range[2]);
    rows.push({
      check,
      status: count >= ids ? 'PASS' : 'FAIL',
      wanted,
      actual: `root:${range[1]}:${range[2]}`,
      ...(count >= ids ? {} : { note: `holds ${Math.floor(count / 65536) - 1} isolated instances; first boot's subids step grows it` }),
    });
  }
}

function verifyHidden(checks: readonly HiddenCheck[], root: string, rows: VerifyRow[]): void {
  for (const { path, mode, directory } of checks) {
    const check = `mode ${path}`;
    const r = resolveConfined(root, path, topDirectory(path));
    if (!r.ok) {
      if (r.problem.kind === 'missing')
        rows.push({ check, status: 'ABSENT', wanted: mode, actual: '-', note: 'this kernel has no such path' });
      else rows.push({ check, status: 'FAIL', wanted: mode, actual: '-', note: `${path} ${r.problem.message}` });
      continue;
    }
    const actual = octalMode(r.stats.mode);
    const rightType = directory ? r.stats.isDirectory() : r.stats.isFile();
    if (!rightType)
      rows.push({
        check,
        status: 'FAIL',
        wanted: mode,
        actual,
        note: `${path} is ${fileType(r.stats)}, not ${directory ? 'a directory' : 'a regular file'}`,
      });
    else rows.push({ check, status: actual === mode ? 'PASS' : 'FAIL', wanted: mode, actual });
  }
}

function verifyFiles(files: readonly InstalledFile[], root: string, rows: VerifyRow[]): void {
  for (const f of files) {
    const check = `file ${f.path}`;
    const wantMode = octalMode(f.mode);
    const wanted = `as generated, ${wantMode}`;
    // An installed file may be a link: followed as a chroot would, so never out of the root.
    const r = resolveInRoot(root, f.path);
    if (!r.ok) {
      if (r.problem.kind === 'missing') rows.push({ check, status: 'FAIL', wanted: `present, ${wantMode}`, actual: 'missing' });
      else rows.push({ check, status: 'FAIL', wanted, actual: 'unreadable', note: `${f.path} ${r.problem.message}` });
      continue;
    }
    const mode = octalMode(r.stats.mode);
    if (!r.stats.isFile()) {
      rows.push({
        check,
        status: 'FAIL',
        wanted,
        actual: `not a regular file, ${mode}`,
        note: `${f.path} is ${fileType(r.stats)}, not a regular file`,
      });
      continue;
    }
    // The cap is the generated file's own size: one byte more already means different bytes.
    const expected = Buffer.from(f.text, 'utf8');
    const got = readRegularFile(r.path, { maxBytes: expected.length, noFollow: true });
    if (!got.ok && got.problem.kind !== 'too-large') {
      rows.push({ check, status: 'FAIL', wanted, actual: `unreadable, ${mode}`, note: `${f.path} ${got.problem.message}` });
      continue;
    }
    const same = got.ok && got.bytes.equals(expected);
    rows.push({
      check,
      status: same && mode === wantMode ? 'PASS' : 'FAIL',
      wanted,
      actual: `${same ? 'same bytes' : 'different bytes'}, ${mode}`,
    });
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
