import type { PathSegment } from '../source/position.ts';
import type { ManagerPlan } from './manager.ts';
import type { SysctlMode } from '../facts/sysctl.ts';
import type { StorageDriver } from '../facts/storage.ts';

/** Where a planned value came from: a path in the profile stack, or a derivation with its reason. */
export type Provenance = { path: PathSegment[] } | { derived: string };

/** One sysctl the host gets, and how its value meets the host's (see SysctlMode). */
export interface SysctlSetting {
  /** The dotted spelling (`net.ipv4.conf.eth0/100.rp_filter`), as sysctl.d and the apply step read it. */
  key: string;
  /** The value as written; for a value read on the host (`fromHost`), how it is read, in words. */
  value: string;
  /** Set when the value is one word of another sysctl as the host has it, read by the apply step at
   * first boot: gen cannot know it (tcp_mem is sized from the host's RAM). */
  fromHost?: { key: string; word: number };
  mode: SysctlMode;
  /** Why this mode: the profile chose it, the catalogue says so, or the default for other keys. */
  modeFrom: string;
  from: Provenance;
}

/** A udev match that gives matching interfaces a transmit queue length. */
export interface TxqueuelenRule {
  id: string;
  kind: 'nic' | 'bond' | 'vlan' | 'bridge';
  /** Set when the value is not the entry's own: the members' (a bond) or the link's (a VLAN). */
  inherited?: string;
  match: { name: string } | { mac: string };
  txqueuelen: number;
}

/** Where a secret is read at render time; the plan never holds a secret's value. */
export type SecretRef = { env: string } | { file: string };

/** Where a joining cluster member fetches its join token at first boot (inventory
 * `cluster.token_from`): a file on the host, or a command run there; waited for up to `wait` seconds. */
export type TokenSource = ({ file: string } | { command: string }) & { wait?: number };

/** The addressing of one interface netplan configures: a NIC, a bond or a VLAN. */
export interface Addressing {
  dhcp4: boolean;
  addresses: string[];
  gateway?: string;
  nameservers: string[];
}

/** Host addressing of one NIC (rendered as netplan); a bond member has none of its own. */
export interface NicAddressing extends Addressing {
  id: string;
  match: { name: string } | { mac: string };
  /** Rename the matched NIC (inventory hosts matched by MAC and given a name). */
  setName?: string;
  /** Set only when the profile gives one (a bond member takes its bond's). */
  mtu?: number;
}

/** A bond of NICs (netplan `bonds:`), by its interface name. */
export interface BondPlan extends Addressing {
  id: string;
  /** Member NIC ids, as listed. */
  interfaces: string[];
  mode: '802.3ad' | 'active-backup';
  /** netplan's parameter names; mii-monitor-interval is always set (default 100 ms). */
  parameters: {
    'mii-monitor-interval': number;
    'lacp-rate'?: 'slow' | 'fast';
    'transmit-hash-policy'?: string;
    primary?: string;
  };
  mtu?: number;
}

/** An 802.1Q VLAN (netplan `vlans:`) on a NIC or bond, by its interface name. */
export interface VlanPlan extends Addressing {
  id: string;
  vlanId: number;
  link: string;
  mtu?: number;
}

/** One storage pool the preseed creates. */
export interface StoragePoolPlan {
  name: string;
  driver: StorageDriver;
  source?: string;
  size?: string;
  /** Erase the source device when it holds a signature (never once the manager has the pool). */
  wipe: boolean;
  /** The thin pool of an lvm pool (lvm.use_thinpool is always on). */
  lvmThinpool?: string;
}

/** What the host needs for its pools beyond the preseed. */
export interface StoragePlan {
  /** Packages the drivers need, installed at first boot when missing (sorted, no duplicates). */
  packages: string[];
  /** Also linux-headers-$(uname -r), for the ZFS DKMS build. */
  kernelHeaders: boolean;
  /** Debian's contrib component is needed (zfs-dkms, zfsutils-linux). */
  contrib: boolean;
  /** Pools whose source is a device, checked (and wiped when asked) before the preseed. */
  devices: { pool: string; source: string; wipe: boolean }[];
  /** zfs_arc_max in bytes, written to modprobe.d, when the profile sets zfs.arc_max. */
  zfsArcMax?: number;
}

/** Everything the renderers need, fully defaulted and derived; no renderer makes a decision. */
export interface HostPlan {
  /** The profile names as requested, in order. */
  stack: string[];
  /** Every file merged, parents first. */
  layers: string[];
  manager: ManagerPlan;
  target: { distro: 'debian' | 'ubuntu'; release: string; label: string; codename: string; systemd: number; bootProven: boolean };
  capacity: { instances: number };
  /** The ids root's first range in /etc/subuid and /etc/subgid must hold, and why; absent when the
   * daemon does not read those files (the LXD snap maps ids without them). */
  subordinateIds?: { ids: number; from: Provenance };
  /** Kernel modules loaded at every boot (modules-load.d) and at first boot before the sysctls,
   * because a sysctl of theirs exists only once they are loaded. */
  modules: { name: string; why: string }[];
  sysctl: SysctlSetting[];
  limits: { nofile: number; memlock: string; nproc?: string };
  hideInstanceNames: boolean;
  /** Run born-tuned-verify on a systemd timer (profile `verify.timer`): every `interval`, writing
   * Prometheus metrics to `textfile` when set. Undefined: the verifier is installed but not timed. */
  verifyTimer?: { interval: string; textfile?: string };
  txqueuelen: TxqueuelenRule[];
  /** NICs netplan configures (with addressing, bonded or carrying a VLAN); empty when the profile
   * leaves host networking to the platform. */
  addressing: NicAddressing[];
  bonds: BondPlan[];
  vlans: VlanPlan[];
  /** `mtu`: the bridge's MTU when it follows the host's uplinks (`mtuFrom` says which and why). */
  bridge: { name: string; ipv4: string; ipv6: string; nat: boolean; txqueuelen?: number; mtu?: number; mtuFrom?: string };
  /** The nftables fence of the bridge's instances; off only with the profile's reason. */
  fence: { enabled: true } | { enabled: false; reason: string };
  instances: { idmapIsolated: boolean; nesting: boolean; nicTxqueuelen?: number; storagePool: string };
  storagePools: StoragePoolPlan[];
  storage: StoragePlan;
  server: { httpsAddress?: string; imagesAutoUpdateInterval?: number; trustPassword?: SecretRef };
}
