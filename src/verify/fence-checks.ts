import { existsSync } from 'node:fs';
import { FENCE_TABLE, HOST_PATHS } from '../facts/host-paths.ts';
import type { HostPlan } from '../plan/model.ts';
import { runClient, type ManagerAnswer } from './manager-query.ts';
import { resolveInRoot } from './root-fs.ts';
import type { VerifyRow } from './verify.ts';

/** The live ruleset's fence table as `nft -j list table inet born_tuned_fence` prints it: an
 * answer (JSON), refused (nft exited non-zero: no such table), or broken (no nft, a hang, not JSON). */
export type FenceQuery = () => Promise<ManagerAnswer>;

/** nft answers from the kernel at once; a run this long is stuck. */
const NFT_TIMEOUT_MS = 30_000;
/** The fence table listed as JSON is a few KB. */
const NFT_MAX_BYTES = 1024 * 1024;

/** Reads the fence table from the live kernel with the real nft (`nft` names another program, for tests). */
export function liveFenceQuery(opts: { nft?: string; timeoutMs?: number } = {}): FenceQuery {
  const nft = opts.nft ?? ['/usr/sbin/nft', '/sbin/nft'].find((p) => existsSync(p));
  return async () => {
    if (nft === undefined) return { kind: 'broken', reason: 'cannot run: nft is not installed (apt-get install nftables)' };
    const run = await runClient(nft, ['-j', 'list', 'table', ...FENCE_TABLE.split(' ')], opts.timeoutMs ?? NFT_TIMEOUT_MS, NFT_MAX_BYTES);
    if (run.kind === 'failed') return { kind: 'broken', reason: run.reason };
    if (run.signal !== null) return { kind: 'broken', reason: `was killed by ${run.signal}` };
    if (run.status !== 0) return { kind: 'refused', status: run.status ?? -1 };
    try {
      return { kind: 'answer', value: JSON.parse(run.stdout.toString('utf8')) as unknown };
    } catch {
      return { kind: 'broken', reason: 'printed something that is not JSON' };
    }
  };
}

const UNIT = HOST_PATHS.fenceUnit.slice(HOST_PATHS.fenceUnit.lastIndexOf('/') + 1);
const RESTART = `systemctl restart ${UNIT}`;

/**
 * The fence's rows (the files themselves are checked with every other host file): its unit is
 * enabled (the link `systemctl enable` makes, under the root), and on the live host its table is
 * loaded, on the plan's bridge. Under --root there is no kernel to ask: ABSENT.
 */
export async function verifyFence(plan: HostPlan, root: string, query: FenceQuery | undefined, rows: VerifyRow[]): Promise<void> {
  if (!plan.fence.enabled) return;
  const link = resolveInRoot(root, HOST_PATHS.fenceEnabled);
  const enabled = link.ok && link.inRoot === HOST_PATHS.fenceUnit && link.stats.isFile();
  rows.push({
    check: `fence unit ${UNIT} enabled`,
    status: enabled ? 'PASS' : 'FAIL',
    wanted: 'enabled (sysinit.target)',
    actual: enabled ? 'enabled' : link.ok ? `${HOST_PATHS.fenceEnabled} leads to ${link.inRoot}` : 'not enabled',
    ...(enabled ? {} : { note: `systemctl enable --now ${UNIT} (first boot does; a baked image's provisioner does)` }),
  });
  const bridge = plan.bridge.name;
  const check = `fence table ${FENCE_TABLE}`;
  const wanted = `loaded, on ${bridge}`;
  if (query === undefined) {
    rows.push({ check, status: 'ABSENT', wanted, actual: '-', note: 'the loaded ruleset is read on the live host only (--root)' });
    return;
  }
  const answer = await query();
  if (answer.kind === 'refused') {
    rows.push({ check, status: 'FAIL', wanted, actual: 'not loaded', note: `${RESTART}; journalctl -u ${UNIT} says why it failed` });
    return;
  }
  if (answer.kind === 'broken') {
    rows.push({ check, status: 'FAIL', wanted, actual: '-', note: `nft ${answer.reason}` });
    return;
  }
  const problem = fenceTableProblem(answer.value, bridge);
  rows.push({
    check,
    status: problem === undefined ? 'PASS' : 'FAIL',
    wanted,
    actual: problem === undefined ? wanted : 'not as generated',
    ...(problem === undefined ? {} : { note: `${problem}; ${RESTART}` }),
  });
}

type NftObject = Record<string, unknown>;

/**
 * What is wrong with the listed table, or undefined: its input and forward base chains are hooked,
 * input sends what comes in on the bridge to from_instances, which ends in a drop, and forward
 * drops on the bridge. A table loaded for another bridge, or emptied, fails.
 */
export function fenceTableProblem(listing: unknown, bridge: string): string | undefined {
  const items = (listing as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) return 'nft printed no "nftables" list';
  const objects = items.filter((i): i is NftObject => typeof i === 'object' && i !== null);
  const chains = objects.map((o) => o['chain']).filter((c): c is NftObject => typeof c === 'object' && c !== null);
  const rules = objects
    .map((o) => o['rule'])
    .filter((r): r is NftObject => typeof r === 'object' && r !== null)
    .map((r) => ({ chain: r['chain'], expr: Array.isArray(r['expr']) ? (r['expr'] as unknown[]) : [] }));
  for (const hook of ['input', 'forward']) {
    if (!chains.some((c) => c['name'] === hook && c['hook'] === hook)) return `no base chain ${hook} hooked at ${hook}`;
  }
  const onBridge = (expr: unknown[]) =>
    expr.some((e) => {
      const m = (e as { match?: { left?: { meta?: { key?: unknown } }; right?: unknown; op?: unknown } } | null)?.match;
      return m?.left?.meta?.key === 'iifname' && m.op === '==' && m.right === bridge;
    });
  const has = (expr: unknown[], verdict: string) => expr.some((e) => typeof e === 'object' && e !== null && verdict in e);
  const jump = rules.find((r) => r.chain === 'input' && onBridge(r.expr) && has(r.expr, 'jump'));
  if (!jump) return `input sends nothing from ${bridge} to from_instances`;
  const last = rules.filter((r) => r.chain === 'from_instances').at(-1);
  if (!last || last.expr.length !== 1 || !has(last.expr, 'drop')) return 'from_instances does not end in a drop';
  if (!rules.some((r) => r.chain === 'forward' && onBridge(r.expr) && has(r.expr, 'drop'))) return `forward drops nothing from ${bridge}`;
  return undefined;
}
