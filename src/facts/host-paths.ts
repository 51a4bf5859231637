/**
 * Where things land on the host. sysctl.d sorts after the managers' own files (10-lxd-inotify.conf,
 * 10-incus-inotify.conf, 50-incus.conf) so ours wins over their lower values, and before
 * 99-sysctl.conf so an operator's /etc/sysctl.conf still has the last word.
 */
export const HOST_PATHS = {
  sysctl: '/etc/sysctl.d/60-born-tuned.conf',
  /** Written at first boot only when the host already had a value beyond ours (higher for raise, lower for lower). */
  sysctlKeepHigher: '/etc/sysctl.d/61-born-tuned-keep-higher.conf',
  limits: '/etc/security/limits.d/60-born-tuned.conf',
  hideInstanceNames: '/etc/tmpfiles.d/born-tuned-hide-instance-names.conf',
  /** After 80-net-setup-link.rules, so NAME== sees the name a NIC is being renamed to. */
  udevTxqueuelen: '/etc/udev/rules.d/81-born-tuned-txqueuelen.rules',
  sysctlApply: '/usr/local/sbin/born-tuned-sysctl-apply',
  firstBootStep: '/usr/local/sbin/born-tuned-step',
  preseed: '/etc/born-tuned/preseed.yaml',
} as const;

/** The drop-in that gives the manager's daemon its limits (PAM limits do not reach services). */
export function serviceDropInPath(unit: string): string {
  return `/etc/systemd/system/${unit}.d/60-born-tuned.conf`;
}
