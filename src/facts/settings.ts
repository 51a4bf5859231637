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
  storage_pools: {
    why: "The instances' storage pool, created by the preseed. dir is a directory on the root file system, which the managers' docs call slow and meant for testing. btrfs, lvm and zfs take a disk of their own (source, a /dev/disk/by-id/ path), which the manager formats at the preseed: btrfs makes a subvolume per instance; lvm a volume group named after the pool with a thin pool in it (lvm.use_thinpool, lvm.thinpool_name LXDThinPool or IncusThinPool, both managers' defaults written out; non-thin LVM falls back to rsync copies); zfs a zpool. First boot refuses a device that holds a file system or partition table unless wipe: true, and never touches it once the manager has the pool.",
    source: 'LXD 5.0 and Incus 6.0 storage driver docs (storage_dir, storage_btrfs, storage_lvm, storage_zfs); LXD operations notes (003)',
  },
  'storage.packages': {
    why: "What the pools' drivers need on the host (btrfs-progs; lvm2 and thin-provisioning-tools; zfsutils-linux), installed at first boot before the manager restarts, only those dpkg does not have: a baked image or a host that has them needs no network. Without them the preseed fails (no mkfs.btrfs, pvcreate or zpool). ZFS on Debian comes from contrib as zfs-dkms: first boot adds contrib and the running kernel's linux-headers and builds the module with DKMS, minutes of compile and some 300 MB of headers and compilers, again at each kernel update; build it once in the Packer image (gen's packer/ tree installs the same packages) instead.",
    source: 'LXD and Incus storage driver docs; Debian 12 and 13 package lists (main, contrib)',
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
