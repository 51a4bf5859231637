import type { ManagerName } from './managers.ts';

/** A storage driver gen can put on a host. */
export type StorageDriver = 'dir' | 'btrfs' | 'lvm' | 'zfs' | 'ceph';

/**
 * What first boot installs for a driver: the userspace tools the manager runs (mkfs.btrfs; pvcreate,
 * vgcreate and lvcreate, whose thin pools need thin_check at activation; zpool and zfs) and, for
 * ZFS on Debian, the kernel module. Names checked against Debian 12's and 13's Packages files
 * (bookworm: btrfs-progs 6.2, lvm2 2.03.16, thin-provisioning-tools 0.9.0 in main, zfsutils-linux
 * and zfs-dkms 2.1.11 in contrib; trixie: 6.14, 2.03.31, 1.1.0, and 2.3.9 in contrib). Ubuntu's
 * kernels ship the zfs module and its zfsutils-linux is in main.
 */
interface DriverPackages {
  packages: string[];
  /** Also linux-headers for the running kernel (`uname -r`): DKMS builds the module against them. */
  kernelHeaders: boolean;
  /** The packages are in Debian's contrib component (CDDL-licensed ZFS). */
  contrib: boolean;
}

/** The packages a driver needs on a target distribution; undefined for dir (nothing) and ceph
 * (a cluster gen does not set up). */
export function driverPackages(driver: StorageDriver, distro: 'debian' | 'ubuntu'): DriverPackages | undefined {
  if (driver === 'btrfs') return { packages: ['btrfs-progs'], kernelHeaders: false, contrib: false };
  if (driver === 'lvm') return { packages: ['lvm2', 'thin-provisioning-tools'], kernelHeaders: false, contrib: false };
  if (driver === 'zfs') {
    return distro === 'debian'
      ? { packages: ['zfs-dkms', 'zfsutils-linux'], kernelHeaders: true, contrib: true }
      : { packages: ['zfsutils-linux'], kernelHeaders: false, contrib: false };
  }
  return undefined;
}

/** The thin pool an lvm pool's volumes live in: each manager's default name (lvm.thinpool_name in
 * LXD 5.0's and Incus 6.0's storage_lvm docs), written explicitly so verify and the VM test know it. */
export function lvmThinpoolName(manager: ManagerName): string {
  return manager === 'lxd' ? 'LXDThinPool' : 'IncusThinPool';
}

/** OpenZFS ignores a zfs_arc_max below 64 MiB (zfs(4) module parameters). */
export const ZFS_ARC_MAX_MIN = 64 * 1024 * 1024;

/** Bytes of a binary size like 8GiB (MiB, GiB, TiB). */
export function binaryBytes(size: string): number {
  const m = /^([1-9]\d*)(MiB|GiB|TiB)$/.exec(size);
  if (!m) throw new Error(`not a binary size: ${size}`);
  return Number(m[1]) * 1024 ** { MiB: 2, GiB: 3, TiB: 4 }[m[2] as 'MiB' | 'GiB' | 'TiB'];
}

/** True when a pool's source is a device gen checks before the manager formats it (not a directory,
 * an existing volume group or zpool name, or a loop file the manager makes). */
export function isDeviceSource(source: string | null | undefined): source is string {
  return typeof source === 'string' && source.startsWith('/dev/');
}
