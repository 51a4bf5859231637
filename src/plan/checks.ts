import { byCodeUnit } from '../base/order.ts';
import { FENCE_TABLE, HOST_PATHS } from '../facts/host-paths.ts';
import { scrubPreseed } from '../facts/preseed-secrets.ts';
import type { HostPlan, SysctlSetting } from './model.ts';

/** A file installed on the host, as verify compares it: these bytes at this mode. */
export interface InstalledFile {
  path: string;
  text: string;
  mode: number;
}

/** One limit of the daemon, read from the `line` of /proc/PID/limits: soft and hard at least `want`. */
export interface DaemonLimitCheck {
  check: string;
  line: string;
  want: string;
}

/** One txqueuelen rule: every device it matches must have `wanted`. */
export interface TxqueuelenCheck {
  label: string;
  kind: 'nic' | 'bond' | 'vlan' | 'bridge';
  match: { name: string } | { mac: string };
  wanted: string;
}

/** The fence's unit, the link `systemctl enable` makes of it, its table and the bridge it fences. */
interface FenceCheck {
  unit: string;
  unitPath: string;
  link: string;
  table: string;
  bridge: string;
}

/** A path hidden from non-root users: its mode, and whether it is a directory. */
export interface HiddenCheck {
  path: string;
  mode: string;
  directory: boolean;
}

/**
 * What a host is checked against, setting by setting: the one list both `gen verify` (verify.ts)
 * and the verifier installed on the host (born-tuned-verify) read, so the two report the same rows.
 * The manager's API rows are not here: only gen verify asks the manager (manager-checks.ts).
 */
interface HostChecks {
  sysctl: readonly SysctlSetting[];
  /** The manager's name and its daemon's command name in /proc/PID/comm. */
  daemon: { manager: string; comm: string; limits: DaemonLimitCheck[] };
  txqueuelen: TxqueuelenCheck[];
  /** Empty unless the profile hides instance names. */
  hidden: HiddenCheck[];
  /** Kernel modules loaded at boot: each loaded (/sys/module/NAME). */
  modules: { name: string; why: string }[];
  /** root's first subordinate range in each file holds `ids` (isolated id maps). */
  subids: { path: string; ids: number }[];
  /** Sorted by path, as the rows are. */
  files: InstalledFile[];
  /** The fence (fence-checks.ts): its unit enabled, and on a live host its table loaded on the bridge. */
  fence?: FenceCheck;
}

/** Every check of a host, from its plan and the files it gets (see installedFiles). */
export function hostChecks(plan: HostPlan, files: readonly InstalledFile[]): HostChecks {
  return {
    sysctl: plan.sysctl,
    daemon: {
      manager: plan.manager.name,
      comm: plan.manager.name === 'lxd' ? 'lxd' : 'incusd',
      limits: [
        { check: 'daemon limit nofile', line: 'Max open files', want: String(plan.limits.nofile) },
        {
          check: 'daemon limit memlock',
          line: 'Max locked memory',
          // limits.conf and the plan count memlock in KiB, /proc/PID/limits in bytes.
          want: plan.limits.memlock === 'unlimited' ? 'unlimited' : String(Number(plan.limits.memlock) * 1024),
        },
      ],
    },
    txqueuelen: plan.txqueuelen.map((rule) => ({
      label: `txqueuelen ${rule.kind} ${rule.id}`,
      kind: rule.kind,
      match: rule.match,
      wanted: String(rule.txqueuelen),
    })),
    hidden: plan.hideInstanceNames
      ? [
          { path: '/proc/sched_debug', mode: '0400', directory: false },
          { path: '/sys/kernel/slab', mode: '0700', directory: true },
        ]
      : [],
    modules: plan.modules,
    subids: plan.subordinateIds ? [HOST_PATHS.subuid, HOST_PATHS.subgid].map((path) => ({ path, ids: plan.subordinateIds!.ids })) : [],
    files: [...files].sort((a, b) => byCodeUnit(a.path, b.path)),
    ...(plan.fence.enabled
      ? {
          fence: {
            unit: HOST_PATHS.fenceUnit.slice(HOST_PATHS.fenceUnit.lastIndexOf('/') + 1),
            unitPath: HOST_PATHS.fenceUnit,
            link: HOST_PATHS.fenceEnabled,
            table: FENCE_TABLE,
            bridge: plan.bridge.name,
          },
        }
      : {}),
  };
}

/**
 * The files verify compares byte for byte: every artifact with a host path, and the preseed as
 * first boot leaves it, its secrets taken out once it is applied (templates/preseed-apply.sh.hbs),
 * which needs no secret to compare.
 */
export function installedFiles(
  artifacts: readonly { hostPath?: string; text: string; mode: number }[],
  preseedText: string,
): InstalledFile[] {
  const files = artifacts.filter((a) => a.hostPath).map((a) => ({ path: a.hostPath!, text: a.text, mode: a.mode }));
  files.push({ path: HOST_PATHS.preseed, text: scrubPreseed(preseedText), mode: 0o600 });
  return files;
}
