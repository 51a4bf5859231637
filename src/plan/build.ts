import { byCodeUnit } from '../base/order.ts';
import { supportsNicQueueTxLength, targetFactsOf, type ManagerName } from '../facts/managers.ts';
import { binaryBytes, driverPackages, isDeviceSource, lvmThinpoolName } from '../facts/storage.ts';
import { sysctlFromHostOf, sysctlModeOf, sysctlValueOf, type Profile } from '../schema/profile.ts';
import { DEFAULT_MODE_REASON, SYSCTL_FACTS, type SysctlMode } from '../facts/sysctl.ts';
import { canonicalSysctlName } from '../facts/sysctl-names.ts';
import { derivedGcThresh3, derivedMaxBytes, derivedMaxKeys } from '../facts/capacity.ts';
import { planManager } from './manager.ts';
import type { HostPlan, NicAddressing, StoragePlan, StoragePoolPlan, SysctlSetting, TxqueuelenRule } from './model.ts';

/** The documents' limits (KNOWLEDGE.md §2), used when a profile sets none. */
const DEFAULT_LIMITS = { nofile: 1048576, memlock: 'unlimited' } as const;

/**
 * Turns a validated, rule-checked host profile into the plan every renderer works from. Pure:
 * defaults and capacity-derived values are decided here and nowhere else.
 */
export function buildPlan(profile: Profile, stack: string[], layers: string[]): HostPlan {
  const manager = planManager(profile);
  const target = targetFactsOf(profile.target)!;
  const instances = profile.capacity!.instances;
  const bridgeName = profile.bridge?.name ?? `${manager.name}br0`;
  const pools = planPools(profile, manager.name);
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
    sysctl: planSysctl(profile, instances),
    limits: {
      nofile: profile.limits?.nofile ?? DEFAULT_LIMITS.nofile,
      memlock: String(profile.limits?.memlock ?? DEFAULT_LIMITS.memlock),
      ...(profile.limits?.nproc !== undefined ? { nproc: String(profile.limits.nproc) } : {}),
    },
    hideInstanceNames: profile.hide_instance_names ?? true,
    txqueuelen: planTxqueuelen(profile, bridgeName),
    addressing: planAddressing(profile),
    bridge: {
      name: bridgeName,
      ipv4: profile.bridge?.ipv4 ?? 'none',
      ipv6: profile.bridge?.ipv6 ?? 'none',
      nat: profile.bridge?.nat ?? true,
      ...(profile.bridge?.txqueuelen !== undefined ? { txqueuelen: profile.bridge.txqueuelen } : {}),
    },
    instances: {
      idmapIsolated: profile.instances?.idmap_isolated ?? false,
      nesting: profile.instances?.nesting ?? false,
      ...(nicTxq !== undefined && supportsNicQueueTxLength(manager.name, manager.version) ? { nicTxqueuelen: nicTxq } : {}),
      storagePool: profile.instances?.storage_pool ?? pools[0]!.name,
    },
    storagePools: pools,
    storage: planStorage(profile, pools, profile.target!.distro),
    server: {
      ...(profile.server?.https_address !== undefined ? { httpsAddress: profile.server.https_address } : {}),
      ...(profile.server?.images_auto_update_interval !== undefined
        ? { imagesAutoUpdateInterval: profile.server.images_auto_update_interval }
        : {}),
      ...(profile.server?.trust_password !== undefined ? { trustPassword: profile.server.trust_password } : {}),
    },
  };
}

function planPools(profile: Profile, manager: ManagerName): StoragePoolPlan[] {
  return Object.entries(profile.storage_pools ?? { default: { driver: 'dir' as const } }).map(([name, p]) => ({
    name,
    driver: p.driver,
    // null: an overlay removed the source a parent set.
    ...(p.source !== undefined && p.source !== null ? { source: p.source } : {}),
    ...(p.size !== undefined ? { size: p.size } : {}),
    wipe: p.wipe ?? false,
    ...(p.driver === 'lvm' ? { lvmThinpool: lvmThinpoolName(manager) } : {}),
  }));
}

/** The drivers' packages, the devices to check before the preseed and the ZFS ARC ceiling. */
function planStorage(profile: Profile, pools: StoragePoolPlan[], distro: 'debian' | 'ubuntu'): StoragePlan {
  const needs = pools.flatMap((p) => driverPackages(p.driver, distro) ?? []);
  const arcMax = profile.zfs?.arc_max;
  return {
    packages: [...new Set(needs.flatMap((n) => n.packages))].sort(byCodeUnit),
    kernelHeaders: needs.some((n) => n.kernelHeaders),
    contrib: needs.some((n) => n.contrib),
    devices: pools.flatMap((p) => (isDeviceSource(p.source) ? [{ pool: p.name, source: p.source, wipe: p.wipe }] : [])),
    ...(arcMax !== undefined ? { zfsArcMax: binaryBytes(arcMax) } : {}),
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
    derive(
      `net.${family}.neigh.default.gc_thresh3`,
      derivedGcThresh3(instances),
      `twice capacity.instances ${instances}, rounded up to a power of two, at least 8192`,
    );
  }
  out.set('kernel.dmesg_restrict', {
    key: 'kernel.dmesg_restrict',
    value: profile.dmesg_restrict ? '1' : '0',
    mode: 'exact',
    modeFrom: 'a switch: set as chosen (exact)',
    from: { path: ['dmesg_restrict'] },
  });
  return [...out.values()].sort((a, b) => byCodeUnit(a.key, b.key));
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
