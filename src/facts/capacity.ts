/**
 * Values that follow from the planned number of instances (KNOWLEDGE.md §3). Used by the plan when a
 * profile leaves a key out, and by the rules to say which number to use when an explicit value is
 * too small for the capacity.
 */

/** `kernel.keys.maxkeys` must be greater than the number of instances; 25% headroom, never below
 * the documents' 2000. */
export function derivedMaxKeys(instances: number): number {
  return Math.max(2000, Math.ceil(instances * 1.25));
}

/** Keyring bytes grow with the key count: the documents pair 2000 keys with 2000000 bytes. */
export function derivedMaxBytes(maxkeys: number): number {
  return Math.max(2_000_000, maxkeys * 1000);
}

/** Neighbour table hard limit: at least twice the instances (each has IPv4 and link-local
 * neighbours), rounded up to a power of two, never below the documents' 8192. */
export function derivedGcThresh3(instances: number): number {
  let v = 8192;
  while (v < instances * 2) v *= 2;
  return v;
}

/** IPv4 addresses the bridge's subnet must leave for instances: 10% over the count, because a
 * deleted instance's address stays leased until its DHCP lease ends (LXD and Incus:
 * ipv4.dhcp.expiry, 1h by default), so churn needs room beyond the instances that run. */
export function bridgeAddressesFor(instances: number): number {
  return Math.ceil(instances * 1.1);
}

/** Ids in one instance's map: the POSIX range, root (0) to nobody (65534). LXD's and Incus' idmap
 * documents: "Allocations should always be of at least 65536 UIDs and GIDs", and
 * security.idmap.size defaults to it. */
export const IDS_PER_INSTANCE = 65536;

/** Where Debian's Incus package starts root's range (incus-base 6.0.4 postinst: the first id after
 * every range already in /etc/subuid, at least 1000000); also where a new range of ours starts. */
const SUBID_FIRST = 1_000_000;

/** The highest id a range may reach: uid_t is 32 bits and (uid_t)-1 means "no id". */
const SUBID_LAST = 2 ** 32 - 2;

/**
 * The ids root's range in /etc/subuid and /etc/subgid must hold. The daemon (LXD and Incus from a
 * Debian package run as root) maps instances from the first root range of at least 65536 ids
 * (idmap's DefaultIdmapSet: "NOTE: Remove once we can deal with multiple shadow maps; break"): the
 * default map, shared by every instance that is not isolated, is its first 65536 ids, and each
 * isolated instance takes 65536 more of the same range. Debian's packages give root 10000001 ids
 * (lxd 5.0.2 preinst: `usermod --add-subuids N-(N+10000000) root`, 151 isolated instances) or
 * 1000000000 (incus 6.0.4 postinst, only when root has no range yet).
 */
export function subordinateIdsFor(instances: number, isolated: boolean): number {
  return IDS_PER_INSTANCE * (isolated ? instances + 1 : 1);
}

/** The most isolated instances 32-bit ids can hold after the first id of a new range and the
 * default map: a larger plan cannot be given its ranges on any host. */
export const MAX_ISOLATED_INSTANCES = Math.floor((SUBID_LAST + 1 - SUBID_FIRST) / IDS_PER_INSTANCE) - 1;

/** fs.inotify.max_user_instances: inotify is charged up the user-namespace chain to the daemon's
 * root, so all instances share the host's limit. Debian's lxd and incus packages raise it to 1024
 * "to allow for about 100 containers" (/etc/sysctl.d/10-{lxd,incus}-inotify.conf): 1024 per 100
 * instances. Never below the production documents' 1048576. */
export function derivedInotifyInstances(instances: number): number {
  return Math.max(1_048_576, Math.ceil((instances * 1024) / 100));
}

/** Per instance, the watches the kernel gives one user of a whole system (8192, the kernel's
 * default before Linux 5.11 and its floor since); never below the production documents' 1048576. */
export function derivedInotifyWatches(instances: number): number {
  return Math.max(1_048_576, instances * 8192);
}

/** ptys per instance: its console and three sessions at once (`lxc exec`, `incus console`, ssh). */
export const PTYS_PER_INSTANCE = 4;

/** kernel.pty.max counts the ptys of every devpts mount; kernel.pty.reserve (1024) of them are
 * kept for the host's own initial mount namespace, so instances get max - 1024 (kernel
 * Documentation/filesystems/devpts.rst). Never below the kernel default 4096; at most the
 * kernel's NR_UNIX98_PTY_MAX (1048576), which it refuses to exceed. */
export function derivedPtyMax(instances: number): number {
  return Math.min(1_048_576, Math.max(4096, 1024 + instances * PTYS_PER_INSTANCE));
}

/** Tracked connections per instance (this tool's figure: a busy instance's sessions in both
 * directions; each entry is a few hundred bytes of kernel memory, taken only when used). */
export const CONNTRACK_PER_INSTANCE = 256;

/** net.netfilter.nf_conntrack_max: the kernel sets it to nf_conntrack_buckets, memory / 16384 and
 * at most 262144 (Documentation/networking/nf_conntrack-sysctl.rst); never below that largest
 * default. A full table drops new connections ("nf_conntrack: table full, dropping packet"). */
export function derivedConntrackMax(instances: number): number {
  return Math.max(262_144, instances * CONNTRACK_PER_INSTANCE);
}

/**
 * gc_thresh1 and gc_thresh2 from gc_thresh3 in the kernel's own ratio (128 : 512 : 1024, ip-sysctl
 * defaults): thresh2 half of thresh3, thresh1 an eighth. A value the profile sets is kept and the
 * other follows it, so the order thresh1 <= thresh2 <= thresh3 holds (rules reject a profile whose
 * own values break it).
 */
export function derivedGcThresholds(thresh3: number, set: { thresh1?: number; thresh2?: number }): { thresh1: number; thresh2: number } {
  const thresh2 = set.thresh2 ?? Math.max(Math.floor(thresh3 / 2), Math.min(set.thresh1 ?? 0, thresh3));
  const thresh1 = set.thresh1 ?? Math.min(Math.floor(thresh3 / 8), thresh2);
  return { thresh1, thresh2 };
}
