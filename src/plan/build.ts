import { byCodeUnit } from '../base/order.ts';
import { supportsNicQueueTxLength, targetFactsOf } from '../facts/managers.ts';
import { sysctlFromHostOf, sysctlModeOf, sysctlValueOf, type Profile } from '../schema/profile.ts';
import { DEFAULT_MODE_REASON, SYSCTL_FACTS, type SysctlMode } from '../facts/sysctl.ts';
import { canonicalSysctlName } from '../facts/sysctl-names.ts';
import {
  derivedConntrackMax,
  derivedGcThresh3,
  derivedGcThresholds,
  derivedInotifyInstances,
  derivedInotifyWatches,
  derivedMaxBytes,
  derivedMaxKeys,
  derivedPtyMax,
  CONNTRACK_PER_INSTANCE,
  IDS_PER_INSTANCE,
  PTYS_PER_INSTANCE,
  subordinateIdsFor,
} from '../facts/capacity.ts';
import { planManager } from './manager.ts';
import type { HostPlan, NicAddressing, SysctlSetting, TxqueuelenRule } from './model.ts';

/** The documents' limits (KNOWLEDGE.md §2), used when a profile sets none. */
const DEFAULT_LIMITS = { nofile: 1048576, memlock: 'unlimited' } as const;
/** How often the verifier's timer runs when the profile does not say (verify.interval). */
const DEFAULT_VERIFY_INTERVAL = '1h';

/**
 * Turns a validated, rule-checked host profile into the plan every renderer works from. Pure:
 * defaults and capacity-derived values are decided here and nowhere else.
 */
export function buildPlan(profile: Profile, stack: string[], layers: string[]): HostPlan {
  const manager = planManager(profile);
  const target = targetFactsOf(profile.target)!;
  const instances = profile.capacity!.instances;
  const bridgeName = profile.bridge?.name ?? `${manager.name}br0`;
  const pools = Object.entries(profile.storage_pools ?? { default: { driver: 'dir' as const } }).map(([name, p]) => ({ name, ...p }));
  const nicTxq = profile.instances?.nic_txqueuelen;
  return {
    stack,
    layers,
    manager,
    target: {
      distro: profile.target!.distro,
      release: profile.target!.release,
      label: target.label,
      codename: target.codename,
      systemd: target.systemd,
      bootProven: target.bootProven,
    },
    capacity: { instances },
    ...(manager.install !== 'snap' ? { subordinateIds: planSubordinateIds(instances, profile.instances?.idmap_isolated ?? false) } : {}),
    modules: planModules(),
    sysctl: planSysctl(profile, instances),
    limits: {
      nofile: profile.limits?.nofile ?? DEFAULT_LIMITS.nofile,
      memlock: String(profile.limits?.memlock ?? DEFAULT_LIMITS.memlock),
      ...(profile.limits?.nproc !== undefined ? { nproc: String(profile.limits.nproc) } : {}),
    },
    hideInstanceNames: profile.hide_instance_names ?? true,
    ...(profile.verify?.timer
      ? {
          verifyTimer: {
            interval: profile.verify.interval ?? DEFAULT_VERIFY_INTERVAL,
            ...(profile.verify.textfile !== undefined ? { textfile: profile.verify.textfile } : {}),
          },
        }
      : {}),
    txqueuelen: planTxqueuelen(profile, bridgeName),
    addressing: planAddressing(profile),
    bridge: {
      name: bridgeName,
      ipv4: profile.bridge?.ipv4 ?? 'none',
      ipv6: profile.bridge?.ipv6 ?? 'none',
      nat: profile.bridge?.nat ?? true,
      ...(profile.bridge?.txqueuelen !== undefined ? { txqueuelen: profile.bridge.txqueuelen } : {}),
    },
    fence: profile.fence?.enabled === false ? { enabled: false, reason: profile.fence.reason! } : { enabled: true },
    instances: {
      idmapIsolated: profile.instances?.idmap_isolated ?? false,
      nesting: profile.instances?.nesting ?? false,
      ...(nicTxq !== undefined && supportsNicQueueTxLength(manager.name, manager.version) ? { nicTxqueuelen: nicTxq } : {}),
      storagePool: profile.instances?.storage_pool ?? pools[0]!.name,
    },
    storagePools: pools,
    server: {
      ...(profile.server?.https_address !== undefined ? { httpsAddress: profile.server.https_address } : {}),
      ...(profile.server?.images_auto_update_interval !== undefined
        ? { imagesAutoUpdateInterval: profile.server.images_auto_update_interval }
        : {}),
      ...(profile.server?.trust_password !== undefined ? { trustPassword: profile.server.trust_password } : {}),
    },
  };
}

function planSysctl(profile: Profile, instances: number): SysctlSetting[] {
  const out = new Map<string, SysctlSetting>();
  for (const [written, setting] of Object.entries(profile.sysctl ?? {})) {
    const key = canonicalSysctlName(written);
    const fact = SYSCTL_FACTS[key];
    const chosen = sysctlModeOf(setting);
    const fromHost = sysctlFromHostOf(setting);
    const source = fromHost && { key: canonicalSysctlName(fromHost.key), word: fromHost.word };
    out.set(key, {
      key,
      value: source ? fromHostText(source) : String(sysctlValueOf(setting)),
      ...(source ? { fromHost: source } : {}),
      mode: chosen ?? fact?.mode ?? 'exact',
      modeFrom: chosen ? 'chosen in the profile' : fact ? `catalogue: ${modeMeaning(fact.mode)}` : DEFAULT_MODE_REASON,
      from: { path: ['sysctl', written] },
    });
  }
  const derive = (key: string, value: number, why: string) => {
    if (!out.has(key))
      out.set(key, { key, value: String(value), mode: 'raise', modeFrom: `catalogue: ${modeMeaning('raise')}`, from: { derived: why } });
  };
  const maxkeys = derivedMaxKeys(instances);
  derive('kernel.keys.maxkeys', maxkeys, `greater than capacity.instances ${instances} with 25% headroom, at least 2000`);
  const keys = Number(out.get('kernel.keys.maxkeys')!.value);
  derive('kernel.keys.maxbytes', derivedMaxBytes(keys), `1000 bytes per key for kernel.keys.maxkeys ${keys}, at least 2000000`);
  for (const family of ['ipv4', 'ipv6']) {
    const key = (n: number) => `net.${family}.neigh.default.gc_thresh${n}`;
    derive(key(3), derivedGcThresh3(instances), `twice capacity.instances ${instances}, rounded up to a power of two, at least 8192`);
    const set = (n: number) => (out.has(key(n)) ? Number(out.get(key(n))!.value) : undefined);
    const t3 = set(3)!;
    const { thresh1, thresh2 } = derivedGcThresholds(t3, { thresh1: set(1), thresh2: set(2) });
    derive(key(2), thresh2, `half of gc_thresh3 ${t3} (the kernel's ratio 512 : 1024), not below gc_thresh1`);
    derive(key(1), thresh1, `an eighth of gc_thresh3 ${t3} (the kernel's ratio 128 : 1024), not above gc_thresh2`);
  }
  derive(
    'fs.inotify.max_user_instances',
    derivedInotifyInstances(instances),
    `1024 per 100 instances (Debian's lxd and incus packages) for capacity.instances ${instances}, at least 1048576`,
  );
  derive(
    'fs.inotify.max_user_watches',
    derivedInotifyWatches(instances),
    `8192 per instance (the kernel's per-user default) for capacity.instances ${instances}, at least 1048576`,
  );
  derive(
    'kernel.pty.max',
    derivedPtyMax(instances),
    `kernel.pty.reserve 1024 plus ${PTYS_PER_INSTANCE} per instance for capacity.instances ${instances}, at least the kernel's 4096`,
  );
  derive(
    'net.netfilter.nf_conntrack_max',
    derivedConntrackMax(instances),
    `${CONNTRACK_PER_INSTANCE} per instance for capacity.instances ${instances}, at least the kernel's largest default 262144`,
  );
  out.set('kernel.dmesg_restrict', {
    key: 'kernel.dmesg_restrict',
    value: profile.dmesg_restrict ? '1' : '0',
    mode: 'exact',
    modeFrom: 'a switch: set as chosen (exact)',
    from: { path: ['dmesg_restrict'] },
  });
  return [...out.values()].sort((a, b) => byCodeUnit(a.key, b.key));
}

/** The ids root's range must hold: the default map, and one map per instance when isolated. */
function planSubordinateIds(instances: number, isolated: boolean): NonNullable<HostPlan['subordinateIds']> {
  return {
    ids: subordinateIdsFor(instances, isolated),
    from: {
      derived: isolated
        ? `${IDS_PER_INSTANCE} ids for the default map and ${IDS_PER_INSTANCE} per isolated instance for capacity.instances ${instances}`
        : `${IDS_PER_INSTANCE} ids for the default map every instance shares (instances.idmap_isolated is off)`,
    },
  };
}

/** nf_conntrack's table size is a sysctl, and the module is otherwise loaded only once the manager
 * sets up its bridge's NAT, after systemd-sysctl has run at boot: without it the key would not exist. */
function planModules(): HostPlan['modules'] {
  return [{ name: 'nf_conntrack', why: 'net.netfilter.nf_conntrack_max exists only once it is loaded' }];
}

/** How a value read on the host is read, in the words explain, diff and verify print. */
function fromHostText(from: { key: string; word: number }): string {
  return `word ${from.word} of ${from.key} on the host`;
}

/** What a mode does, in the words explain prints. */
function modeMeaning(mode: SysctlMode): string {
  if (mode === 'raise') return 'a limit, never lowered below what the host has (raise)';
  if (mode === 'lower') return 'a ceiling, never raised above what the host has (lower)';
  return 'set as written (exact)';
}

function planTxqueuelen(profile: Profile, bridgeName: string): TxqueuelenRule[] {
  const rules: TxqueuelenRule[] = [];
  for (const [id, nic] of Object.entries(profile.nics ?? {}).sort(([a], [b]) => byCodeUnit(a, b))) {
    if (nic.txqueuelen === undefined || !nic.match) continue;
    rules.push({ id, kind: 'nic', match: nicMatch(nic.match), txqueuelen: nic.txqueuelen });
  }
  if (profile.bridge?.txqueuelen !== undefined) {
    rules.push({ id: bridgeName, kind: 'bridge', match: { name: bridgeName }, txqueuelen: profile.bridge.txqueuelen });
  }
  return rules;
}

function planAddressing(profile: Profile): NicAddressing[] {
  return Object.entries(profile.nics ?? {})
    .sort(([a], [b]) => byCodeUnit(a, b))
    .flatMap(([id, nic]) => (nic.match ? (addressingOf(id, nicMatch(nic.match), nic) ?? []) : []));
}

/** How a NIC is matched: by MAC when it has one (rules ensure exactly one of mac: and name:). */
export function nicMatch(nic: { mac?: string | undefined; name?: string | undefined }): NicAddressing['match'] {
  return nic.mac !== undefined ? { mac: nic.mac } : { name: nic.name! };
}

/** A NIC's host addressing (profiles' NICs and inventory hosts' alike), or undefined without any. */
export function addressingOf(
  id: string,
  match: NicAddressing['match'],
  nic: { dhcp4?: boolean | undefined; addresses?: string[] | undefined; gateway?: string | undefined; nameservers?: string[] | undefined },
  setName?: string,
): NicAddressing | undefined {
  if (nic.dhcp4 === undefined && !nic.addresses?.length) return undefined;
  return {
    id,
    match,
    ...(setName !== undefined ? { setName } : {}),
    dhcp4: nic.dhcp4 ?? false,
    addresses: nic.addresses ?? [],
    ...(nic.gateway !== undefined ? { gateway: nic.gateway } : {}),
    nameservers: nic.nameservers ?? [],
  };
}
