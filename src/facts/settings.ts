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
    why: 'These files list every cgroup, so every instance name; restricted at every boot before the manager starts.',
    source: 'LXD production setup (000)',
  },
  txqueuelen: {
    kernelDefault: '1000',
    why: 'Transmit queue length; 10000 suits 10GbE NICs and the bridge (3-5% more throughput measured).',
    source: 'LXD network bandwidth tuning (000)',
  },
  'instances.nic_txqueuelen': {
    kernelDefault: '1000',
    why: 'Transmit queue of every instance NIC, through queue.tx.length in the default profile.',
    source: 'LXD network bandwidth tuning (000)',
  },
  'instances.idmap_isolated': {
    kernelDefault: 'false',
    why: 'Each container gets its own UID/GID range, so per-user limits (inotify, nproc, keys) are not shared between them.',
    prevents: 'tail: inotify resources exhausted',
    source: 'containers share the kernel (004), operators (002)',
  },
  'instances.nesting': {
    kernelDefault: 'false',
    why: 'Lets containers run containers (Docker); needs the modules loaded on the host.',
    source: 'LXD operations notes (003)',
  },
  bridge: { why: "The manager's bridge: an explicit address avoids subnet probing at first boot.", source: 'LXD operations notes (003)' },
  storage_pools: { why: 'Storage pool for instances, created by the preseed.', source: 'LXD operations notes (003)' },
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
