import { InternalError } from '../diagnostics/errors.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import type { HostPlan, TokenSource } from '../plan/model.ts';
import { octalMode, type Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';
import { SNAP_INSTALL_OR_REFRESH } from './snap-step.ts';

/**
 * The cloud-config as data. write_files runs in cloud-init's init stage, before any package is
 * installed; runcmd then does, in order: install the manager (and nftables when missing), reload
 * systemd (drop-in), enable and start the fence, hide instance names, apply txqueuelen through
 * udev, apply sysctl each in its mode and persist the result (after the install, whose packages
 * ship lower sysctl values), install the storage drivers' missing packages, restart the daemon so
 * its limits apply, check each pool's device, and run the preseed.
 * Nothing waits for a reboot.
 */
export function buildCloudConfig(
  plan: HostPlan,
  hostFiles: readonly Artifact[],
  preseedText: string,
  opts: { baked?: boolean; tokenFrom?: TokenSource } = {},
): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const m = plan.manager;
  // A baked image already has the manager and every host file (Packer provisioners): its first
  // boot only applies the runtime steps and the preseed.
  if (opts.baked) {
    config.write_files = [writeFile(HOST_PATHS.preseed, preseedText, 0o600)];
    config.runcmd = runCommands(plan, hostFiles, false, opts.tokenFrom);
    return config;
  }
  const sources: Record<string, { source: string }> = {};
  if (m.deb?.backports) sources['born-tuned-backports.list'] = { source: `deb $MIRROR ${m.deb.suite} main` };
  // ZFS is CDDL-licensed: Debian keeps it in contrib, which its cloud images do not enable.
  if (plan.storage.contrib) sources['born-tuned-contrib.list'] = { source: `deb $MIRROR ${plan.target.codename} contrib` };
  if (Object.keys(sources).length > 0) config.apt = { sources };
  config.write_files = [
    ...hostFiles.filter((f) => f.hostPath).map((f) => writeFile(f.hostPath!, f.text, f.mode)),
    writeFile(HOST_PATHS.preseed, preseedText, 0o600),
  ];
  config.runcmd = runCommands(plan, hostFiles, true, opts.tokenFrom);
  return config;
}

/** Installs nftables when the host lacks the nft the fence's unit runs. */
const NFTABLES_INSTALL = [
  'test -x /usr/sbin/nft && exit 0',
  'export DEBIAN_FRONTEND=noninteractive',
  'apt-get update && apt-get install -y nftables',
].join('\n');

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** The manager's command-line client, which the storage device check asks for an existing pool. */
function managerClient(m: HostPlan['manager']): string {
  if (m.name === 'incus') return 'incus';
  return m.install === 'snap' ? '/snap/bin/lxc' : 'lxc';
}

function writeFile(path: string, content: string, mode: number) {
  return { path, owner: 'root:root', permissions: octalMode(mode), content };
}

function runCommands(plan: HostPlan, hostFiles: readonly Artifact[], install: boolean, tokenFrom?: TokenSource): string[][] {
  const m = plan.manager;
  const apt = (...args: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  // Every step goes through born-tuned-step, which records a failure and lets the rest run; the
  // last item fails the run if any step failed (cloud-init only judges runcmd's last line).
  const steps: [string, string[]][] = [];
  if (install && m.deb) {
    steps.push(['apt-update', apt('update')]);
    steps.push(['install-manager', apt('install', '-y', ...(m.deb.backports ? ['-t', m.deb.suite] : []), ...m.deb.packages)]);
  }
  if (install && m.snapChannel) {
    if (m.needsSnapd) steps.push(['apt-update', apt('update')], ['install-snapd', apt('install', '-y', 'snapd')]);
    steps.push(['snap-seeded', ['snap', 'wait', 'system', 'seed.loaded']]);
    steps.push(['install-manager', ['sh', '-c', SNAP_INSTALL_OR_REFRESH, 'born-tuned-snap', m.snapChannel]]);
  }
  const fence = hostFiles.some((f) => f.kind === 'fence');
  // The fence's unit runs nft; a Debian or Ubuntu host without nftables (it is only priority
  // important) gets it here. A baked image got it from its provisioner.
  if (install && fence) steps.push(['nftables', ['sh', '-c', NFTABLES_INSTALL]]);
  steps.push(['daemon-reload', ['systemctl', 'daemon-reload']]);
  // Enabled for every later boot (before the manager starts) and started now, before the preseed
  // creates the bridge and before the restart: no instance exists before the fence is up.
  if (fence) steps.push(['fence', ['systemctl', 'enable', '--now', basename(HOST_PATHS.fenceUnit)]]);
  if (hostFiles.some((f) => f.kind === 'hide-instance-names')) {
    steps.push(['hide-instance-names', ['systemd-tmpfiles', '--create', HOST_PATHS.hideInstanceNames]]);
  }
  if (hostFiles.some((f) => f.kind === 'udev-txqueuelen')) {
    steps.push(['udev-reload', ['udevadm', 'control', '--reload']]);
    steps.push(['txqueuelen', ['udevadm', 'trigger', '--action=add', '--subsystem-match=net']]);
    steps.push(['udev-settle', ['udevadm', 'settle']]);
  }
  // modules-load.d acts at boot only: load the modules now, or their sysctls do not exist yet.
  if (plan.modules.length > 0) steps.push(['modules', ['modprobe', '-a', ...plan.modules.map((m) => m.name)]]);
  // The wanted file carries each key's mode; the apply step writes what it computed to sysctl.d.
  steps.push(['sysctl', [HOST_PATHS.sysctlApply, HOST_PATHS.sysctlWanted, HOST_PATHS.sysctl]]);
  // After the install (whose package writes root's first range) and before the restart: the daemon
  // reads /etc/subuid and /etc/subgid when it starts.
  if (plan.subordinateIds) {
    steps.push(['subids', [HOST_PATHS.subids, String(plan.subordinateIds.ids), HOST_PATHS.subuid, HOST_PATHS.subgid]]);
  }
  // Before the restart, so the daemon that creates the pools starts with their tools present.
  const storage = plan.storage;
  if (storage.packages.length > 0) {
    const args = [...(storage.kernelHeaders ? ['--kernel-headers'] : []), ...storage.packages];
    steps.push(['storage-packages', [HOST_PATHS.storagePackages, ...args]]);
  }
  steps.push(['restart-manager', ['systemctl', 'try-restart', m.unit]]);
  steps.push(['manager-ready', m.waitReadyCommand]);
  // Each device is checked once the manager answers (it skips a pool the manager already has);
  // the preseed needs every check to have passed.
  const deviceSteps = storage.devices.map((d) => `storage-device-${d.pool}`);
  storage.devices.forEach((d, i) =>
    steps.push([deviceSteps[i]!, [HOST_PATHS.storageDevice, managerClient(m), d.pool, d.source, d.wipe ? 'yes' : 'no']]),
  );
  // The apply step takes the secrets out of the preseed once it is applied; a member whose join
  // token is fetched at first boot has it put in first.
  const fetch = tokenFrom
    ? [
        ...('file' in tokenFrom ? ['--token-file', tokenFrom.file] : ['--token-command', tokenFrom.command]),
        ...(tokenFrom.wait !== undefined ? ['--wait', String(tokenFrom.wait)] : []),
      ]
    : [];
  steps.push(['preseed', [HOST_PATHS.preseedApply, HOST_PATHS.preseed, ...fetch, '--', ...m.initCommand]]);
  // Once the host is complete, so the verifier's first run sees it finished.
  if (plan.verifyTimer) steps.push(['verify-timer', ['systemctl', 'enable', '--now', basenameOf(HOST_PATHS.selfCheckTimer)]]);
  const needs = deviceSteps.flatMap((s) => ['--needs', s]);
  return [...steps.map(([name, argv]) => [HOST_PATHS.firstBootStep, ...(name === 'preseed' ? needs : []), name, ...argv]), finalCheck()];
}

function basenameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * runcmd's last item: fails the run when a first-boot step failed. cloud-init judges runcmd by its
 * last command only, so nothing may ever run after it (operators' includes go before it).
 */
function finalCheck(): string[] {
  return [HOST_PATHS.firstBootStep, '--check'];
}

/**
 * A cloud-config built by buildCloudConfig split into its steps (everything but the final check)
 * and the final check, so that commands from operators' includes can be put between the two.
 */
export function splitFinalCheck(config: Record<string, unknown>): { steps: Record<string, unknown>; check: string[] } {
  const runcmd = config.runcmd;
  const check = finalCheck();
  if (!Array.isArray(runcmd) || JSON.stringify(runcmd.at(-1)) !== JSON.stringify(check))
    throw new InternalError('the generated runcmd does not end with the final check');
  return { steps: { ...config, runcmd: runcmd.slice(0, -1) }, check };
}

/**
 * The `#cloud-config` document printed by `gen --profile NAME`: gen's own cloud-config, or (a Map)
 * one with operators' includes folded in, whose file names go into a comment.
 */
export function renderUserData(
  header: string,
  config: Record<string, unknown> | Map<string, unknown>,
  includes: readonly string[] = [],
): Artifact {
  const text = renderTemplate('user-data', { header, config, includes });
  return {
    kind: 'user-data',
    path: 'user-data',
    mode: 0o600,
    purpose: 'cloud-init user-data: tunes the host and initialises the manager at first boot',
    text,
    ...(config instanceof Map
      ? { format: 'cloud-config-merged' as const, data: config }
      : { format: 'cloud-config' as const, data: config }),
  };
}
