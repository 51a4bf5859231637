import { HOST_PATHS, serviceDropInPath } from '../facts/host-paths.ts';
import { managerState } from '../facts/managers.ts';
import type { HostPlan, SysctlSetting } from '../plan/model.ts';
import { SYSCTL_FACTS, DMESG_RESTRICT_FACT } from '../facts/sysctl.ts';
import type { Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';
import { scrubSedExpressions } from '../facts/preseed-secrets.ts';

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
    {
      kind: 'preseed-apply',
      path: `bin/${basename(HOST_PATHS.preseedApply)}`,
      hostPath: HOST_PATHS.preseedApply,
      mode: 0o755,
      purpose: `applies the preseed at first boot (a join token fetched first when the member has token_from), then takes the secrets out of ${HOST_PATHS.preseed}`,
      text: renderTemplate('preseed-apply.sh', { scrub: scrubSedExpressions() }),
      format: 'text',
    },
  ];
  if (plan.subordinateIds) {
    files.push({
      kind: 'subids',
      path: `bin/${basename(HOST_PATHS.subids)}`,
      hostPath: HOST_PATHS.subids,
      mode: 0o755,
      purpose: `grows root's range in ${HOST_PATHS.subuid} and ${HOST_PATHS.subgid} at first boot to hold ${plan.subordinateIds.ids} ids, before the daemon restarts`,
      text: renderTemplate('subids.sh', {}),
      format: 'text',
    });
  }
  if (plan.modules.length > 0) {
    files.push({
      kind: 'modules-load',
      path: `modules-load.d/${basename(HOST_PATHS.modulesLoad)}`,
      hostPath: HOST_PATHS.modulesLoad,
      mode: 0o644,
      purpose: 'kernel modules loaded at every boot before systemd-sysctl, so their sysctls exist when it applies them',
      text: renderTemplate('modules-load.conf', { header, modules: plan.modules }),
      format: 'text',
    });
  }
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
  if (plan.fence.enabled) files.push(...fenceFiles(plan, header));
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
          note: `${r.kind === 'bridge' ? 'bridge' : `${TXQ_KIND[r.kind]} ${r.id}`}: txqueuelen ${r.txqueuelen}${r.inherited ? `, ${r.inherited}` : ''}`,
          name: 'name' in r.match ? r.match.name : null,
          mac: 'mac' in r.match ? r.match.mac : null,
          txqueuelen: r.txqueuelen,
        })),
      }),
      format: 'text',
    });
  }
  if (plan.verifyTimer) files.push(...verifyTimerUnits(plan.verifyTimer, header));
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

/** How a txqueuelen rule's comment names its device. */
const TXQ_KIND = { nic: 'NIC', bond: 'bond', vlan: 'VLAN' } as const;

/** The service and timer that run born-tuned-verify every `interval` (profile verify.timer). */
function verifyTimerUnits(timer: { interval: string; textfile?: string }, header: string): Artifact[] {
  const command = [HOST_PATHS.selfCheck, ...(timer.textfile !== undefined ? ['--textfile', timer.textfile] : [])].join(' ');
  return [
    {
      kind: 'self-check-timer',
      path: `systemd/${basename(HOST_PATHS.selfCheckService)}`,
      hostPath: HOST_PATHS.selfCheckService,
      mode: 0o644,
      purpose: `runs ${HOST_PATHS.selfCheck} for its timer; drift goes to the journal and fails the unit`,
      text: renderTemplate('born-tuned-verify.service', { header, command }),
      format: 'text',
    },
    {
      kind: 'self-check-timer',
      path: `systemd/${basename(HOST_PATHS.selfCheckTimer)}`,
      hostPath: HOST_PATHS.selfCheckTimer,
      mode: 0o644,
      purpose: `runs the verifier every ${timer.interval}`,
      text: renderTemplate('born-tuned-verify.timer', { header, interval: timer.interval }),
      format: 'text',
    },
  ];
}

/** The fence's nftables table and the unit that loads it at every boot, before every unit that
 * runs or starts the manager's daemon (its sockets included). */
function fenceFiles(plan: HostPlan, header: string): Artifact[] {
  const bridge = plan.bridge.name;
  return [
    {
      kind: 'fence',
      path: `born-tuned/${basename(HOST_PATHS.fenceRules)}`,
      hostPath: HOST_PATHS.fenceRules,
      mode: 0o644,
      purpose: `nftables table inet born_tuned_fence: instances on ${bridge} reach no metadata service and only DNS, DHCP, neighbour discovery and ping on the host`,
      text: renderTemplate('fence.nft', { header, bridge, manager: plan.manager.name }),
      format: 'text',
    },
    {
      kind: 'fence',
      path: `systemd/${basename(HOST_PATHS.fenceUnit)}`,
      hostPath: HOST_PATHS.fenceUnit,
      mode: 0o644,
      purpose: `loads ${HOST_PATHS.fenceRules} at every boot, before ${plan.manager.unit} starts`,
      text: renderTemplate('fence.service', {
        header,
        bridge,
        manager: plan.manager.unit,
        rules: HOST_PATHS.fenceRules,
        before: managerState(plan.manager.name, plan.manager.install).units,
      }),
      format: 'text',
    },
  ];
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
