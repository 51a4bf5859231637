import { HOST_PATHS, serviceDropInPath } from '../facts/host-paths.ts';
import type { HostPlan, SysctlSetting } from '../plan/model.ts';
import { SYSCTL_FACTS, DMESG_RESTRICT_FACT } from '../facts/sysctl.ts';
import type { Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

/**
 * The files installed on the host (the same bytes go into user-data, the output tree and the
 * Packer provisioners). Each renderer is a pure function of the plan.
 */
export function renderHostFiles(plan: HostPlan, header: string): Artifact[] {
  // A value read on the host is read once the literal ones are applied (its source may be one).
  const wanted = [...plan.sysctl.filter((s) => !s.fromHost), ...plan.sysctl.filter((s) => s.fromHost)];
  const files: Artifact[] = [
    {
      kind: 'sysctl',
      path: `born-tuned/${basename(HOST_PATHS.sysctlWanted)}`,
      hostPath: HOST_PATHS.sysctlWanted,
      mode: 0o644,
      purpose: `the sysctls wanted, each with its mode; first boot computes ${HOST_PATHS.sysctl} from them against the host's kernel`,
      text: renderTemplate('sysctl-wanted', {
        header,
        settings: wanted.map((s) => ({ ...s, fromHost: s.fromHost ?? false, note: sysctlNote(s) })),
      }),
      format: 'sysctl-wanted',
      data: wanted.map((s) =>
        s.fromHost ? [s.mode, s.key, 'from', s.fromHost.key, String(s.fromHost.word)] : [s.mode, s.key, '=', s.value],
      ),
    },
    {
      kind: 'limits',
      path: `limits.d/${basename(HOST_PATHS.limits)}`,
      hostPath: HOST_PATHS.limits,
      mode: 0o644,
      purpose: 'PAM limits for login sessions (open files, locked memory)',
      text: renderTemplate('limits.conf', { header, rows: limitRows(plan) }),
      format: 'text',
    },
    {
      kind: 'service-dropin',
      path: `systemd/${plan.manager.unit}.d/60-born-tuned.conf`,
      hostPath: serviceDropInPath(plan.manager.unit),
      mode: 0o644,
      purpose: `limits of the ${plan.manager.name} daemon (${plan.manager.unit})`,
      text: renderTemplate('service-dropin.conf', { header, settings: serviceLimits(plan) }),
      format: 'text',
    },
    {
      kind: 'sysctl-apply',
      path: `bin/${basename(HOST_PATHS.sysctlApply)}`,
      hostPath: HOST_PATHS.sysctlApply,
      mode: 0o755,
      purpose: `applies the wanted sysctls at first boot, each in its mode, and writes the result to ${HOST_PATHS.sysctl}`,
      text: renderTemplate('sysctl-apply.sh', {}),
      format: 'text',
    },
    {
      kind: 'first-boot-step',
      path: `bin/${basename(HOST_PATHS.firstBootStep)}`,
      hostPath: HOST_PATHS.firstBootStep,
      mode: 0o755,
      purpose: 'runs each first-boot step, records failures and makes cloud-init report them',
      text: renderTemplate('first-boot-step.sh', {}),
      format: 'text',
    },
  ];
  if (plan.hideInstanceNames) {
    files.push({
      kind: 'hide-instance-names',
      path: `tmpfiles.d/${basename(HOST_PATHS.hideInstanceNames)}`,
      hostPath: HOST_PATHS.hideInstanceNames,
      mode: 0o644,
      purpose: 'hides instance names (/proc/sched_debug, /sys/kernel/slab) at every boot before the manager starts',
      text: renderTemplate('hide-instance-names.conf', { header }),
      format: 'text',
    });
  }
  if (plan.txqueuelen.length > 0) {
    files.push({
      kind: 'udev-txqueuelen',
      path: `network/${basename(HOST_PATHS.udevTxqueuelen)}`,
      hostPath: HOST_PATHS.udevTxqueuelen,
      mode: 0o644,
      purpose: 'transmit queue length of NICs and the bridge, at every boot and hotplug',
      text: renderTemplate('txqueuelen.rules', {
        header,
        rules: plan.txqueuelen.map((r) => ({
          note: `${r.kind === 'bridge' ? 'bridge' : `NIC ${r.id}`}: txqueuelen ${r.txqueuelen}`,
          name: 'name' in r.match ? r.match.name : null,
          mac: 'mac' in r.match ? r.match.mac : null,
          txqueuelen: r.txqueuelen,
        })),
      }),
      format: 'text',
    });
  }
  files.push(...storageFiles(plan, header));
  return files;
}

/** The storage scripts a stack's pools need, and the ZFS module options. */
function storageFiles(plan: HostPlan, header: string): Artifact[] {
  const files: Artifact[] = [];
  if (plan.storage.packages.length > 0) {
    files.push({
      kind: 'storage-packages',
      path: `bin/${basename(HOST_PATHS.storagePackages)}`,
      hostPath: HOST_PATHS.storagePackages,
      mode: 0o755,
      purpose: `installs the storage drivers' packages that are missing (${plan.storage.packages.join(', ')})`,
      text: renderTemplate('storage-packages.sh', {}),
      format: 'text',
    });
  }
  if (plan.storage.devices.length > 0) {
    files.push({
      kind: 'storage-device',
      path: `bin/${basename(HOST_PATHS.storageDevice)}`,
      hostPath: HOST_PATHS.storageDevice,
      mode: 0o755,
      purpose:
        'refuses a pool device that holds data (or erases it when the pool says wipe) before the preseed, unless the manager has the pool',
      text: renderTemplate('storage-device.sh', {}),
      format: 'text',
    });
  }
  if (plan.storage.zfsArcMax !== undefined) {
    files.push({
      kind: 'zfs-modprobe',
      path: `modprobe.d/${basename(HOST_PATHS.zfsModprobe)}`,
      hostPath: HOST_PATHS.zfsModprobe,
      mode: 0o644,
      purpose: `the ZFS ARC's ceiling (zfs_arc_max ${plan.storage.zfsArcMax}), applied when the zfs module loads`,
      text: renderTemplate('zfs-modprobe.conf', { header, arcMax: plan.storage.zfsArcMax }),
      format: 'text',
    });
  }
  return files;
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function sysctlNote(s: SysctlSetting): string {
  const fact = s.key === 'kernel.dmesg_restrict' ? DMESG_RESTRICT_FACT : SYSCTL_FACTS[s.key];
  const origin = 'derived' in s.from ? `derived: ${s.from.derived}` : s.fromHost ? `read at first boot: ${s.value}` : undefined;
  const mode = `Mode ${s.mode}.`;
  if (!fact) return `${origin ? `Value ${origin}.` : 'Set by the profile.'} ${mode}`;
  return [fact.why, `Kernel default ${fact.kernelDefault}.`, origin ? `Value ${origin}.` : undefined, mode].filter(Boolean).join(' ');
}

function limitRows(plan: HostPlan): { domain: string; type: string; item: string; value: string }[] {
  // memlock is the daemon's only (its drop-in): no container starts from a login, and an
  // unlimited memlock for every login would let any host user pin the host's RAM.
  const items: [string, string][] = [['nofile', String(plan.limits.nofile)]];
  if (plan.limits.nproc !== undefined) items.push(['nproc', plan.limits.nproc]);
  const rows = [];
  for (const domain of ['*', 'root']) {
    for (const [item, value] of items) {
      for (const type of ['soft', 'hard']) rows.push({ domain, type, item, value });
    }
  }
  return rows;
}

function serviceLimits(plan: HostPlan): { key: string; value: string }[] {
  const systemd = (v: string) => (v === 'unlimited' ? 'infinity' : v);
  const settings = [
    { key: 'LimitNOFILE', value: String(plan.limits.nofile) },
    // limits.conf counts memlock in KiB, systemd in bytes.
    { key: 'LimitMEMLOCK', value: plan.limits.memlock === 'unlimited' ? 'infinity' : String(Number(plan.limits.memlock) * 1024) },
  ];
  if (plan.limits.nproc !== undefined) settings.push({ key: 'LimitNPROC', value: systemd(plan.limits.nproc) });
  return settings;
}
