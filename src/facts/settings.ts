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
  'verify.timer': {
    why: "born-tuned-verify (installed on every host) checks the host against its profile without Node: the rows of gen verify but the manager's. The timer runs it every interval; drift goes to the journal and fails the unit, and with a textfile node_exporter exports each check as a gauge.",
    prevents: 'a host that drifted (a package, an operator or a reboot undid a setting) unnoticed',
    source: 'README "born-tuned-verify"',
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
  bonds: {
    why: 'Bonds NICs into one uplink. 802.3ad (LACP) spreads flows over every member and needs the switch ports in one link aggregation group; active-backup sends on one member and moves to another when its link fails, with no switch support. Link monitoring (mii-monitor-interval) defaults to 100 ms: networkd leaves it at 0, which turns it off, and the bond would never leave a dead member.',
    source: 'Linux bonding driver documentation (Documentation/networking/bonding.rst); netplan bonds',
  },
  vlans: {
    why: "An 802.1Q VLAN on a NIC or bond: an interface of its own, with its own addressing. Without an MTU of its own the kernel gives it its link's; it refuses one above its link's.",
    source: 'Linux 802.1Q (vlan_dev_change_mtu); netplan vlans',
  },
  mtu: {
    kernelDefault: '1500 (Ethernet)',
    why: "The largest packet the interface sends. Jumbo frames (9000) cut the per-packet cost on 10GbE and faster links when every switch and host on the path passes them; a larger frame than the path takes is dropped. A bond's members take the bond's MTU. Allowed 68 (the kernel's Ethernet minimum) to 9216 (the jumbo limit of common switches).",
    source: 'Linux if_ether.h (ETH_MIN_MTU, ETH_DATA_LEN); netplan mtu',
  },
  'bridge.mtu': {
    kernelDefault: '1500',
    why: "Follows the smallest MTU of the host's addressed interfaces once the profile sets an MTU, so that no packet routed out of the bridge is larger than the interface that sends it; the instances' NICs take the bridge's MTU (a bridged NIC's mtu defaults to its parent's).",
    source: 'LXD and Incus bridge network and bridged NIC options (bridge.mtu, mtu)',
  },
  bridge: { why: "The manager's bridge: an explicit address avoids subnet probing at first boot.", source: 'LXD operations notes (003)' },
  fence: {
    kernelDefault: 'no filter',
    why: "An nftables table of its own (inet born_tuned_fence, /etc/born-tuned/fence.nft), loaded by born-tuned-fence.service at every boot before the manager starts. Packets from the bridge to 169.254.0.0/16 and fd00:ec2::254 are dropped, routed or not; to the host itself only the bridge's own addresses answer, and only DNS (53), DHCPv4 (67), DHCPv6 (547), IPv6 neighbour discovery and router solicitation, ping, and replies to connections the host opened. Ping is allowed: it tells an instance nothing DNS on the same address does not. The manager's own table (inet lxd, inet incus) is left alone; a drop in any table is final.",
    prevents:
      "a tenant reading the host's user-data and cloud credentials from the metadata service, and reaching the host's SSH or the manager's API",
    source:
      'cloud metadata services (169.254.169.254, EC2 fd00:ec2::254); RFC 3927 2.7; nft(8) base chain semantics; checked in network namespaces (test/fence.test.ts)',
  },
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
    why: "Planned instances: every sysctl a profile leaves out that bounds instances together is derived from it (kernel.keys, gc_thresh1/2/3, fs.inotify.max_user_instances and max_user_watches, kernel.pty.max, net.netfilter.nf_conntrack_max), and root's subordinate id range; the bridge's IPv4 subnet must hold it with 10% to spare.",
    source: 'LXD production setup (000); README "Capacity"',
  },
  subids: {
    kernelDefault: "10000001 (Debian's lxd), 1000000000 (incus)",
    why: "Ids in root's first range of /etc/subuid and /etc/subgid, the range LXD and Incus from a Debian package map every instance from (later ranges are not used): 65536 for the default map, and 65536 more per instance with instances.idmap_isolated. First boot grows the range before the daemon restarts, never shrinking one; the LXD snap maps ids without these files.",
    prevents: 'Failed to create the container: not enough uid/gid available',
    source:
      "lxd 5.0.2-5+deb12u6 preinst and incus-base 6.0.4-2 postinst (Debian); LXD idmap documentation (userns-idmap); idmap's DefaultIdmapSet",
  },
  'module nf_conntrack': {
    why: 'Loaded at every boot through modules-load.d (systemd-modules-load runs before systemd-sysctl) and at first boot before the sysctl step: net.netfilter.nf_conntrack_max exists only once it is loaded, and the manager would load it only when it sets up its NAT, after the sysctls were applied.',
    source: 'kernel Documentation/networking/nf_conntrack-sysctl.rst; systemd-modules-load.service(8)',
  },
};
