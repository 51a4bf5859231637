/**
 * Where things land on the host. sysctl.d sorts after the managers' own files (10-lxd-inotify.conf,
 * 10-incus-inotify.conf, 50-incus.conf) so ours wins over their lower values, and before
 * 99-sysctl.conf so an operator's /etc/sysctl.conf still has the last word.
 */
export const HOST_PATHS = {
  /** The sysctls wanted, each with its mode: outside sysctl.d, so systemd-sysctl never applies the
   * profile's numbers as they are (they could lower what the kernel sized from the host's RAM). */
  sysctlWanted: '/etc/born-tuned/sysctl.wanted',
  /** Written by the apply step at first boot from the wanted file and the running kernel: what this
   * host computed, applied by systemd-sysctl at every later boot. Never generated, never baked. */
  sysctl: '/etc/sysctl.d/60-born-tuned.conf',
  limits: '/etc/security/limits.d/60-born-tuned.conf',
  hideInstanceNames: '/etc/tmpfiles.d/born-tuned-hide-instance-names.conf',
  /** After 80-net-setup-link.rules, so NAME== sees the name a NIC is being renamed to. */
  udevTxqueuelen: '/etc/udev/rules.d/81-born-tuned-txqueuelen.rules',
  sysctlApply: '/usr/local/sbin/born-tuned-sysctl-apply',
  /** Grows root's range in /etc/subuid and /etc/subgid to hold the planned instances (first boot). */
  subids: '/usr/local/sbin/born-tuned-subids',
  subuid: '/etc/subuid',
  subgid: '/etc/subgid',
  /** Read by systemd-modules-load, which runs before systemd-sysctl at every boot. */
  modulesLoad: '/etc/modules-load.d/born-tuned.conf',
  firstBootStep: '/usr/local/sbin/born-tuned-step',
  /** Applies the preseed (fetching a join token first when the member has token_from), then takes
   * the secrets out of it. */
  preseedApply: '/usr/local/sbin/born-tuned-preseed',
  storagePackages: '/usr/local/sbin/born-tuned-storage-packages',
  storageDevice: '/usr/local/sbin/born-tuned-storage-device',
  /** Read by modprobe when the zfs module loads (first at the preseed's pool creation). */
  zfsModprobe: '/etc/modprobe.d/60-born-tuned-zfs.conf',
  preseed: '/etc/born-tuned/preseed.yaml',
  /** Checks the host against its profile without Node (the rows of `gen verify` but the manager's). */
  selfCheck: '/usr/local/sbin/born-tuned-verify',
  /** Run the verifier on a timer when the profile asks (verify.timer). */
  selfCheckService: '/etc/systemd/system/born-tuned-verify.service',
  selfCheckTimer: '/etc/systemd/system/born-tuned-verify.timer',
  /** The fence's nftables table, loaded by fenceUnit. */
  fenceRules: '/etc/born-tuned/fence.nft',
  fenceUnit: '/etc/systemd/system/born-tuned-fence.service',
  /** What `systemctl enable` makes of the fence unit's WantedBy=sysinit.target. */
  fenceEnabled: '/etc/systemd/system/sysinit.target.wants/born-tuned-fence.service',
} as const;

/** The fence's nftables table, as `nft list table` names it. */
export const FENCE_TABLE = 'inet born_tuned_fence';

/** The drop-in that gives the manager's daemon its limits (PAM limits do not reach services). */
export function serviceDropInPath(unit: string): string {
  return `/etc/systemd/system/${unit}.d/60-born-tuned.conf`;
}
