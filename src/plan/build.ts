import { byCodeUnit } from '../base/order.ts';
import { supportsNicQueueTxLength, targetFactsOf, type ManagerName } from '../facts/managers.ts';
import { binaryBytes, driverPackages, isDeviceSource, lvmThinpoolName } from '../facts/storage.ts';
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
import { ETHERNET_MTU } from '../schema/network-values.ts';
import { planManager } from './manager.ts';
import type { BondPlan, HostPlan, NicAddressing, StoragePlan, StoragePoolPlan, SysctlSetting, TxqueuelenRule, VlanPlan } from './model.ts';

/** The documents' limits (KNOWLEDGE.md §2), used when a profile sets none. */
const DEFAULT_LIMITS = { nofile: 1048576, memlock: 'unlimited' } as const;
/** How often the verifier's timer runs when the profile does not say (verify.interval). */
const DEFAULT_VERIFY_INTERVAL = '1h';

/** A bond's link monitoring when the profile sets none: networkd leaves MIIMonitorSec at 0, which
 * turns monitoring off, so a bond would never leave a dead member; 100 ms is the kernel's bonding
 * documentation's starting point (Documentation/networking/bonding.rst, miimon). */
const DEFAULT_MII_MONITOR_INTERVAL = 100;

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
  const network = planNetwork(profile);
  const bridgeMtu = planBridgeMtu(network);
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
    ...network,
    bridge: {
      name: bridgeName,
      ipv4: profile.bridge?.ipv4 ?? 'none',
      ipv6: profile.bridge?.ipv6 ?? 'none',
      nat: profile.bridge?.nat ?? true,
      ...(profile.bridge?.txqueuelen !== undefined ? { txqueuelen: profile.bridge.txqueuelen } : {}),
      ...bridgeMtu,
    },
    fence: profile.fence?.enabled === false ? { enabled: false, reason: profile.fence.reason! } : { enabled: true },
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

function sortedEntries<T>(map: Record<string, T> | undefined): [string, T][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => byCodeUnit(a, b));
}

/**
 * The udev rules: each NIC with a txqueuelen, then each bond and VLAN. A bond or VLAN device is
 * noqueue in Linux (the members' queues are the ones that fill), so it needs none; it gets one
 * anyway, its own or else the largest of its members' (a VLAN: its link's), so that every device
 * of the uplink shows the length the profile asked for and a qdisc attached to it later finds it.
 */
function planTxqueuelen(profile: Profile, bridgeName: string): TxqueuelenRule[] {
  const rules: TxqueuelenRule[] = [];
  const nics = profile.nics ?? {};
  for (const [id, nic] of sortedEntries(nics)) {
    if (nic.txqueuelen === undefined || !nic.match) continue;
    rules.push({ id, kind: 'nic', match: nicMatch(nic.match), txqueuelen: nic.txqueuelen });
  }
  const effective = new Map<string, number>(
    Object.entries(nics).flatMap(([id, nic]) => (nic.txqueuelen !== undefined ? [[id, nic.txqueuelen] as const] : [])),
  );
  for (const [id, bond] of sortedEntries(profile.bonds)) {
    const members = bond.interfaces.filter((m) => effective.has(m)).map((m) => ({ m, q: effective.get(m)! }));
    const widest = members.reduce<{ m: string; q: number } | undefined>((a, b) => (a === undefined || b.q > a.q ? b : a), undefined);
    const txqueuelen = bond.txqueuelen ?? widest?.q;
    if (txqueuelen === undefined) continue;
    effective.set(id, txqueuelen);
    rules.push({
      id,
      kind: 'bond',
      match: { name: id },
      txqueuelen,
      ...(bond.txqueuelen === undefined ? { inherited: `the largest of its members' (NIC ${widest!.m})` } : {}),
    });
  }
  for (const [id, vlan] of sortedEntries(profile.vlans)) {
    const txqueuelen = vlan.txqueuelen ?? effective.get(vlan.link);
    if (txqueuelen === undefined) continue;
    rules.push({
      id,
      kind: 'vlan',
      match: { name: id },
      txqueuelen,
      ...(vlan.txqueuelen === undefined ? { inherited: `its link's (${vlan.link})` } : {}),
    });
  }
  if (profile.bridge?.txqueuelen !== undefined) {
    rules.push({ id: bridgeName, kind: 'bridge', match: { name: bridgeName }, txqueuelen: profile.bridge.txqueuelen });
  }
  return rules;
}

/**
 * What netplan configures: the NICs with addressing, the bond members (no addressing of their
 * own, the bond's MTU) and the NICs a VLAN rides on, then the bonds and the VLANs. A NIC with none
 * of these is left to the platform's network config.
 */
function planNetwork(profile: Profile): { addressing: NicAddressing[]; bonds: BondPlan[]; vlans: VlanPlan[] } {
  const bonds: BondPlan[] = sortedEntries(profile.bonds).map(([id, b]) => {
    const p = b.parameters ?? {};
    return {
      id,
      interfaces: b.interfaces,
      mode: b.mode,
      parameters: {
        'mii-monitor-interval': p['mii-monitor-interval'] ?? DEFAULT_MII_MONITOR_INTERVAL,
        ...(p['lacp-rate'] !== undefined ? { 'lacp-rate': p['lacp-rate'] } : {}),
        ...(p['transmit-hash-policy'] !== undefined ? { 'transmit-hash-policy': p['transmit-hash-policy'] } : {}),
        ...(p.primary !== undefined ? { primary: p.primary } : {}),
      },
      ...(b.mtu !== undefined ? { mtu: b.mtu } : {}),
      ...addressingFields(b),
    };
  });
  const vlans: VlanPlan[] = sortedEntries(profile.vlans).map(([id, v]) => ({
    id,
    vlanId: v.id,
    link: v.link,
    ...(v.mtu !== undefined ? { mtu: v.mtu } : {}),
    ...addressingFields(v),
  }));
  const bondOf = new Map(bonds.flatMap((b) => b.interfaces.map((m) => [m, b] as const)));
  const links = new Set(vlans.map((v) => v.link));
  const addressing = sortedEntries(profile.nics).flatMap(([id, nic]): NicAddressing[] => {
    if (!nic.match) return [];
    const match = nicMatch(nic.match);
    const bond = bondOf.get(id);
    const mtu = bond ? (bond.mtu ?? nic.mtu) : nic.mtu;
    const own = bond ? undefined : addressingOf(id, match, nic);
    if (!own && !bond && !links.has(id)) return [];
    return [{ ...(own ?? { id, match, ...addressingFields({}) }), ...(mtu !== undefined ? { mtu } : {}) }];
  });
  return { addressing, bonds, vlans };
}

function addressingFields(i: {
  dhcp4?: boolean | undefined;
  addresses?: string[] | undefined;
  gateway?: string | undefined;
  nameservers?: string[] | undefined;
}): Pick<BondPlan, 'dhcp4' | 'addresses' | 'gateway' | 'nameservers'> {
  return {
    dhcp4: i.dhcp4 ?? false,
    addresses: i.addresses ?? [],
    ...(i.gateway !== undefined ? { gateway: i.gateway } : {}),
    nameservers: i.nameservers ?? [],
  };
}

/**
 * The bridge's MTU follows the host's uplinks once the profile sets an MTU on any interface: the
 * smallest MTU among the interfaces with addressing (1500 where one sets none), so that no packet
 * the host routes out of the bridge is larger than the interface that sends it on. The instances'
 * NICs take the bridge's MTU (LXD and Incus default a bridged NIC's mtu to its parent's). A profile
 * that sets no MTU leaves the manager's default (1500) and writes nothing.
 */
function planBridgeMtu(network: ReturnType<typeof planNetwork>): { mtu: number; mtuFrom: string } | undefined {
  const interfaces = [
    ...network.addressing.map((i) => ({ what: `NIC ${i.id}`, ...i })),
    ...network.bonds.map((i) => ({ what: `bond ${i.id}`, ...i })),
    ...network.vlans.map((i) => ({ what: `VLAN ${i.id}`, ...i })),
  ];
  if (!interfaces.some((i) => i.mtu !== undefined)) return undefined;
  const addressed = interfaces
    .filter((i) => i.dhcp4 || i.addresses.length > 0)
    .map((i) => ({ ...i, effective: effectiveMtu(network, i.id, 'vlanId' in i ? 'vlan' : 'interfaces' in i ? 'bond' : 'nic') }));
  if (addressed.length === 0) return undefined;
  const smallest = addressed.reduce((a, b) => (b.effective.mtu < a.effective.mtu ? b : a));
  const others = addressed.length > 1 ? `the smallest of the host's ${addressed.length} addressed interfaces: ` : '';
  return { mtu: smallest.effective.mtu, mtuFrom: `${others}${smallest.what} ${smallest.effective.why}` };
}

/**
 * The MTU an interface netplan configures will have: its own; else a VLAN's link's (the kernel
 * gives a new VLAN its link's MTU), else the Ethernet default the kernel gives a NIC or bond.
 */
function effectiveMtu(
  network: { addressing: readonly NicAddressing[]; bonds: readonly BondPlan[]; vlans: readonly VlanPlan[] },
  id: string,
  kind: 'nic' | 'bond' | 'vlan',
): { mtu: number; why: string } {
  const own = (kind === 'nic' ? network.addressing : kind === 'bond' ? network.bonds : network.vlans).find((i) => i.id === id);
  if (own?.mtu !== undefined) return { mtu: own.mtu, why: `mtu ${own.mtu}` };
  if (own && 'link' in own) {
    const link = network.bonds.some((b) => b.id === own.link) ? 'bond' : 'nic';
    const l = effectiveMtu(network, own.link, link);
    return { mtu: l.mtu, why: `mtu ${l.mtu}, its link ${own.link}'s` };
  }
  return { mtu: ETHERNET_MTU, why: `sets no mtu: the Ethernet default ${ETHERNET_MTU}` };
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
