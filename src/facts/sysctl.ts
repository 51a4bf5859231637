import { lookupTable } from '../base/data.ts';

/**
 * How first boot, the persisted file and `gen verify` treat a sysctl's value against the host's:
 * - `raise`: a limit; a host value already higher (per component) is kept;
 * - `exact`: a choice, range or switch; set as written, compared as a whole;
 * - `lower`: a ceiling; a host value already lower (per component) is kept.
 */
export type SysctlMode = 'raise' | 'exact' | 'lower';

/** Why a key outside the catalogue is `exact`: written by hand, `vm.swappiness: 10` means "make it 10". */
export const DEFAULT_MODE_REASON = 'not in the catalogue: set as written (exact), as a value written by hand means';

/**
 * What the source documents say about each sysctl the tool knows (KNOWLEDGE.md §1, §3, §5, §6).
 * The schema types these keys; the plan takes their mode from here; `explain` prints the rest.
 */
interface SysctlFact {
  /** The kernel's default, as the source documents give it. */
  kernelDefault: string;
  /** How the value is applied (a profile can override it per key). Every catalogue key is a limit
   * that containers exhaust, so `raise`: a lower value gets a warning and first boot never lowers
   * what the host already has. */
  mode: SysctlMode;
  /** Smallest and largest value the key accepts (per component for vector values). */
  min: number;
  max: number;
  /** Number of whitespace-separated integers the value has (tcp_mem has three). */
  components: number;
  why: string;
  /** The error message this setting prevents, when the sources name one. */
  prevents?: string;
  source: string;
}

const INT_MAX = 2 ** 31 - 1;
const LONG_MAX = Number.MAX_SAFE_INTEGER;

export const SYSCTL_FACTS: Readonly<Record<string, SysctlFact>> = lookupTable({
  'fs.aio-max-nr': {
    kernelDefault: '65536',
    mode: 'raise',
    min: 0,
    max: LONG_MAX,
    components: 1,
    why: 'Maximum concurrent asynchronous I/O operations; AIO-heavy workloads such as MySQL need more.',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'fs.file-max': {
    kernelDefault: 'depends on memory',
    mode: 'raise',
    min: 0,
    max: LONG_MAX,
    components: 1,
    why: 'System-wide open file limit shared by the host and every container.',
    prevents: '[Errno 23] Too many open files in system',
    source: 'containers share the kernel (004)',
  },
  'fs.nr_open': {
    kernelDefault: '1048576',
    mode: 'raise',
    min: 1024,
    max: 2147483584,
    components: 1,
    why: 'Per-process ceiling for RLIMIT_NOFILE: a nofile limit above it makes logins fail.',
    source: 'kernel documentation (fs.nr_open); limits rule of this tool',
  },
  'fs.inotify.max_queued_events': {
    kernelDefault: '16384',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Events that can be queued on one inotify instance.',
    prevents: 'Failed to allocate directory watch: Too many open files',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'fs.inotify.max_user_instances': {
    kernelDefault: '128',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'inotify instances per real user ID; containers running as the same host UID share it.',
    prevents: 'Failed to allocate directory watch: Too many open files',
    source: 'LXD production setup (000), Incus server settings (001), operators (002), 004',
  },
  'fs.inotify.max_user_watches': {
    kernelDefault: '8192 to 1048576 by memory',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'inotify watches per real user ID; one container can exhaust the budget of the host. Since Linux 5.11 the default is about 1% of memory in watches, between 8192 and 1048576 (124443 in the 16 GiB Debian 12 guest).',
    prevents: 'tail: inotify resources exhausted',
    source: 'LXD production setup (000), Incus server settings (001), 004',
  },
  'kernel.keys.maxbytes': {
    kernelDefault: '20000',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Maximum keyring size for non-root users.',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'kernel.keys.maxkeys': {
    kernelDefault: '200',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Maximum keys for non-root users; must be greater than the number of instances.',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'kernel.pty.max': {
    kernelDefault: '4096',
    mode: 'raise',
    min: 0,
    max: 1048576,
    components: 1,
    why: "Pseudo-terminals in all devpts mounts together; every instance's console and sessions take one each, and kernel.pty.reserve (1024) of them are kept for the host's own logins, so instances share max - 1024. The kernel refuses a value above NR_UNIX98_PTY_MAX (1048576).",
    prevents: 'Could not allocate pty / forkpty: No space left on device',
    source: 'kernel Documentation/filesystems/devpts.rst (linux-doc-6.1)',
  },
  'kernel.pid_max': {
    kernelDefault: '32768 (4194304 on many-CPU hosts)',
    mode: 'raise',
    min: 301,
    max: 4194304,
    components: 1,
    why: "Highest process ID; every container's processes share the host's PID space. Above 4194304 the kernel refuses the value and systemd-sysctl fails at every boot.",
    source: 'kernel documentation (PID_MAX_LIMIT); seen refused in a booted guest',
  },
  'net.core.bpf_jit_limit': {
    kernelDefault: '528482304 on x86_64',
    mode: 'raise',
    min: 0,
    max: 1_000_000_000,
    components: 1,
    why: "eBPF JIT allocation limit; on CONFIG_BPF_JIT_ALWAYS_ON kernels a JIT failure (a seccomp filter) is fatal. The default is half the architecture's module area (seen on the 6.1 and 6.12 kernels in the guests); a value above the whole area is refused (1008 MiB on x86_64 with KASLR, so 1000000000 fits there; a smaller area refuses it and the sysctl step fails visibly).",
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'net.core.netdev_max_backlog': {
    kernelDefault: '1000',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: "Packets queued on receive before the kernel drops them; shared by every container. The LXD and Incus bandwidth guides size it from the minimum (word 1) of the host's own net.ipv4.tcp_mem, which the kernel sizes from the host's RAM: read there at first boot ({from_host: net.ipv4.tcp_mem, word: 1}), it fits each host, where one machine's number fits none.",
    source: 'LXD network bandwidth tuning (000), 004; LXD and Incus doc/howto/network_increase_bandwidth.md',
  },
  'net.netfilter.nf_conntrack_max': {
    kernelDefault: 'nf_conntrack_buckets (at most 262144)',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: "Connections the kernel tracks at once, for every instance's NAT and firewall together; the key exists only once the nf_conntrack module is loaded, so born-tuned loads it at every boot (modules-load.d) and at first boot before the sysctls.",
    prevents: 'nf_conntrack: table full, dropping packet',
    source: 'kernel Documentation/networking/nf_conntrack-sysctl.rst (linux-doc-6.1)',
  },
  'net.ipv4.tcp_mem': {
    kernelDefault: 'depends on memory',
    mode: 'raise',
    min: 0,
    max: LONG_MAX,
    components: 3,
    why: "TCP memory thresholds in pages (min, pressure, max). The kernel sizes them from the host's RAM at boot (seen on Debian 12: 22368 29824 44736 at 2 GiB, 190194 253595 380388 at 16 GiB), so one machine's numbers fit no other host (365514 pages as a max lets TCP take about 35% of a 4 GiB host); the bandwidth guides read it rather than set it.",
    source: 'LXD and Incus doc/howto/network_increase_bandwidth.md; seen in guests (FACTS.md)',
  },
  'net.ipv4.neigh.default.gc_thresh1': {
    kernelDefault: '128',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'ARP entries kept without garbage collection.',
    source: 'kernel documentation (ip-sysctl)',
  },
  'net.ipv4.neigh.default.gc_thresh2': {
    kernelDefault: '512',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Soft maximum of ARP entries.',
    source: 'kernel documentation (ip-sysctl)',
  },
  'net.ipv4.neigh.default.gc_thresh3': {
    kernelDefault: '1024',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Hard maximum of IPv4 ARP entries; raise it when the host has more than 1024 instances.',
    prevents: 'neighbour: arp_cache: neighbor table overflow!',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'net.ipv6.neigh.default.gc_thresh1': {
    kernelDefault: '128',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'IPv6 neighbour entries kept without garbage collection.',
    source: 'kernel documentation (ip-sysctl)',
  },
  'net.ipv6.neigh.default.gc_thresh2': {
    kernelDefault: '512',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Soft maximum of IPv6 neighbour entries.',
    source: 'kernel documentation (ip-sysctl)',
  },
  'net.ipv6.neigh.default.gc_thresh3': {
    kernelDefault: '1024',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Hard maximum of IPv6 neighbour entries; raise it when the host has more than 1024 instances.',
    prevents: 'neighbour: ndisc_cache: neighbor table overflow!',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
  'vm.max_map_count': {
    kernelDefault: '65530',
    mode: 'raise',
    min: 0,
    max: INT_MAX,
    components: 1,
    why: 'Memory map areas a process may have.',
    source: 'LXD production setup (000), Incus server settings (001)',
  },
});

/** The sysctl behind the top-level `dmesg_restrict` choice. */
export const DMESG_RESTRICT_FACT: SysctlFact = {
  kernelDefault: '1 on Debian, 0 upstream',
  mode: 'exact',
  min: 0,
  max: 1,
  components: 1,
  why: "Denies containers the kernel ring buffer; it also denies it to non-root users on the host. Debian's kernels are built with SECURITY_DMESG_RESTRICT and start with 1 (seen in the Debian 12 and 13 guests): there, true records the choice and false is the change.",
  source: 'LXD production setup (000), Incus server settings (001)',
};
