/** Why the non-sysctl settings exist (KNOWLEDGE.md), for `gen explain`. */
export interface SettingFact {
  kernelDefault?: string;
  why: string;
  prevents?: string;
  source: string;
}

export const SETTING_FACTS: Readonly<Record<string, SettingFact>> = {
  'limits.nofile': {
    kernelDefault: '1024 soft (unset in limits.conf)',
    why: 'Open files per process for logins (root included, "*" does not match root) and for the daemon through its systemd drop-in.',
    prevents: 'Too many open files',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'limits.memlock': {
    kernelDefault: '8192 KiB',
    why: "Locked memory of the manager's daemon (its systemd drop-in), which the processes it starts inherit; not set for logins, where the source documents put it for every user: no container starts from a login, and any host user could pin RAM. Since Linux 5.11, BPF maps are charged to memory cgroups, not to this limit.",
    source: 'LXD production setup (000), Incus server settings (001); kernel 5.11 BPF memory accounting',
  },
  'limits.nproc': { why: 'Processes per user; containers sharing one host UID share it.', source: 'operators (002)' },
  hide_instance_names: {
    kernelDefault: '/proc/sched_debug 0444, /sys/kernel/slab 0755',
    why: "Before Linux 5.13 /proc/sched_debug, and before 5.9 /sys/kernel/slab, list every cgroup, so every instance's name: restricted at every boot before the manager starts. On Debian 12's 6.1 kernel neither does (sched_debug moved to debugfs, which only root can enter; slab lost its per-cgroup caches), as the VM boot checks: nearly inert there, kept for older kernels.",
    source: 'LXD production setup (000); kernel 5.9 and 5.13 changes, seen in the Debian 12 guest',
  },
  txqueuelen: {
    kernelDefault: '1000',
    why: "Transmit queue length; the source measured 3-5% more throughput at 10000 on 10GbE. It sizes a queue only under a qdisc that takes its length from it (pfifo_fast, pfifo). Debian's systemd makes fq_codel the default, which keeps its own limit, and the manager's bridge is noqueue, as the VM boot checks: there it changes nothing until such a qdisc is attached (net.core.default_qdisc, tc).",
    source: 'LXD network bandwidth tuning (000); qdiscs seen in the Debian 12 guest',
  },
  'instances.nic_txqueuelen': {
    kernelDefault: '1000',
    why: "Transmit queue of every instance NIC (the host's end of its veth), through queue.tx.length in the default profile. A veth is noqueue unless a qdisc is attached (limits.egress does), so it matters only then.",
    source: 'LXD network bandwidth tuning (000)',
  },
  'instances.idmap_isolated': {
    kernelDefault: 'false',
    why: "Each container gets its own UID/GID range: one container's users cannot reach another's files or processes, and limits the kernel keeps per host UID, such as kernel keys (kernel.keys.maxkeys), are not shared. inotify is not split this way: its instances and watches are charged up the user-namespace chain to the namespace's owner, the daemon's root, so the host's fs.inotify limits bound all containers together.",
    source: 'containers share the kernel (004), operators (002); kernel ucounts (inc_ucount)',
  },
  'instances.nesting': {
    kernelDefault: 'false',
    why: 'Lets containers run containers (Docker); needs the modules loaded on the host.',
    source: 'LXD operations notes (003)',
  },
  bridge: { why: "The manager's bridge: an explicit address avoids subnet probing at first boot.", source: 'LXD operations notes (003)' },
  storage_pools: { why: 'Storage pool for instances, created by the preseed.', source: 'LXD operations notes (003)' },
  'storage_pools.dir': {
    why: "A dir pool: a directory on the root file system, no copy-on-write, quotas only through project quotas. The manager's docs call it slow and meant for testing; fine for a few instances, not for a dense host.",
    source: 'LXD and Incus storage_dir docs; LXD operations notes (003)',
  },
  'storage_pools.btrfs': {
    why: 'A btrfs pool on its own disk: the manager runs mkfs.btrfs on the source at the preseed (btrfs-progs); instances are subvolumes, copies are snapshots. First boot refuses a device that is not blank unless wipe: true, and leaves it alone once the manager has the pool.',
    source: 'LXD 5.0 and Incus 6.0 storage_btrfs docs',
  },
  'storage_pools.lvm': {
    why: "An LVM pool on its own disk: the manager makes a physical volume and volume group (named after the pool) and a thin pool in it (lvm.use_thinpool true, lvm.thinpool_name LXDThinPool or IncusThinPool, both managers' defaults written out); thin volumes over-commit and snapshot cheaply, and need thin-provisioning-tools (thin_check) to activate at boot. Non-thin LVM falls back to rsync copies, close to dir.",
    source: 'LXD 5.0 and Incus 6.0 storage_lvm docs',
  },
  'storage_pools.zfs': {
    why: "A ZFS pool on its own disk (zpool create by the manager). Debian ships ZFS in contrib as zfs-dkms: first boot adds contrib, installs zfs-dkms, zfsutils-linux and linux-headers for the running kernel and builds the module with DKMS, minutes of compile on a small host and some 300 MB of headers and compilers, redone at each kernel update. Build it once in the Packer image instead (gen's packer/ tree installs the same packages there), so hosts boot with the module.",
    source: 'LXD 5.0 and Incus 6.0 storage_zfs docs; Debian 12 and 13 contrib (zfs-dkms, zfsutils-linux)',
  },
  'storage.packages': {
    why: "What the pools' drivers need on the host, installed at first boot before the manager restarts, and only the packages dpkg does not have: a baked image or a host that has them needs no network. Without them the preseed fails (no mkfs.btrfs, pvcreate or zpool).",
    source: 'LXD and Incus storage driver docs; Debian 12 and 13 package lists',
  },
  'zfs.arc_max': {
    kernelDefault: 'the larger of RAM - 1 GiB and 5/8 of RAM',
    why: "The ZFS ARC's ceiling, as module option zfs_arc_max in /etc/modprobe.d: read when the zfs module loads. The ARC gives memory back under pressure, but slowly; a ceiling keeps it for the instances. OpenZFS ignores a value below 64 MiB.",
    prevents: 'instances squeezed or OOM-killed while the ARC holds most of RAM',
    source: 'OpenZFS zfs(4) module parameters',
  },
  target: {
    why: 'Distribution and release: decide the systemd version, package names and suites. One marked "not boot-proven" is checked structurally only (cloud-init schema, packages, snap channel, preseed keys).',
    source: 'FACTS.md; README "Proven on a real boot"',
  },
  manager: {
    why: 'Which container manager, its version and how it is installed; decides unit names, packages and preseed keys.',
    source: 'LXD operations notes (003), FACTS.md',
  },
  capacity: {
    why: 'Planned instances: kernel.keys.maxkeys, kernel.keys.maxbytes and gc_thresh3 are derived from it.',
    source: 'LXD production setup (000)',
  },
};
