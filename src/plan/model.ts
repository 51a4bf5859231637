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
  kind: 'nic' | 'bridge';
  match: { name: string } | { mac: string };
  txqueuelen: number;
}

/** Where a secret is read at render time; the plan never holds a secret's value. */
export type SecretRef = { env: string } | { file: string };

/** Host addressing of one NIC (rendered as netplan). */
export interface NicAddressing {
  id: string;
  match: { name: string } | { mac: string };
  /** Rename the matched NIC (inventory hosts matched by MAC and given a name). */
  setName?: string;
  dhcp4: boolean;
  addresses: string[];
  gateway?: string;
  nameservers: string[];
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
  sysctl: SysctlSetting[];
  limits: { nofile: number; memlock: string; nproc?: string };
  hideInstanceNames: boolean;
  txqueuelen: TxqueuelenRule[];
  /** NICs with addressing; empty when the profile leaves host networking to the platform. */
  addressing: NicAddressing[];
  bridge: { name: string; ipv4: string; ipv6: string; nat: boolean; txqueuelen?: number };
  instances: { idmapIsolated: boolean; nesting: boolean; nicTxqueuelen?: number; storagePool: string };
  storagePools: StoragePoolPlan[];
  storage: StoragePlan;
  server: { httpsAddress?: string; imagesAutoUpdateInterval?: number; trustPassword?: SecretRef };
}
