import { InternalError } from '../diagnostics/errors.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import type { HostPlan } from '../plan/model.ts';
import { octalMode, type Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';
import { shellQuote } from './helpers.ts';

/**
 * The cloud-config as data. write_files runs in cloud-init's init stage, before any package is
 * installed; runcmd then does, in order: install the manager, reload systemd (drop-in), hide
 * instance names, apply txqueuelen through udev, apply sysctl each in its mode and persist the
 * result (after the install, whose packages ship lower sysctl values), restart the daemon so its limits apply, and run the preseed.
 * Nothing waits for a reboot.
 */
export function buildCloudConfig(
  plan: HostPlan,
  hostFiles: readonly Artifact[],
  preseedText: string,
  opts: { baked?: boolean } = {},
): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const m = plan.manager;
  // A baked image already has the manager and every host file (Packer provisioners): its first
  // boot only applies the runtime steps and the preseed.
  if (opts.baked) {
    config.write_files = [writeFile(HOST_PATHS.preseed, preseedText, 0o600)];
    config.runcmd = runCommands(plan, hostFiles, false);
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
  config.runcmd = runCommands(plan, hostFiles, true);
  return config;
}

/**
 * The LXD snap at the profile's channel ($1): installed when absent, refreshed when the image has
 * it on an older track (Ubuntu images carry one; `snap install` would leave it as it is), left
 * alone on the same track, and never moved to an older one: LXD cannot take its database back
 * a version, so that fails the step with what to change. `latest` counts as newer than any
 * numbered track.
 */
const SNAP_INSTALL_OR_REFRESH = [
  'want=$1',
  "have=$(snap list lxd 2>/dev/null | awk 'NR == 2 { print $4 }')",
  'if [ -z "$have" ]; then exec snap install lxd --channel="$want"; fi',
  'have_track=${have%%/*}',
  'want_track=${want%%/*}',
  'if [ "$have_track" = "$want_track" ]; then exec snap refresh lxd --channel="$want"; fi',
  'newer=$(printf \'%s\\n\' "$have_track" "$want_track" | sed \'s/^latest$/999999/\' | sort -V | tail -n 1)',
  'if [ "$newer" = "$want_track" ]; then exec snap refresh lxd --channel="$want"; fi',
  'echo "born-tuned: the lxd snap tracks $have, newer than the profile\'s $want: not moved back (LXD cannot downgrade its database); set manager.version to $have_track or remove the snap" >&2',
  'exit 1',
].join('\n');

/** The manager's command-line client, which the storage device check asks for an existing pool. */
function managerClient(m: HostPlan['manager']): string {
  if (m.name === 'incus') return 'incus';
  return m.install === 'snap' ? '/snap/bin/lxc' : 'lxc';
}

function writeFile(path: string, content: string, mode: number) {
  return { path, owner: 'root:root', permissions: octalMode(mode), content };
}

function runCommands(plan: HostPlan, hostFiles: readonly Artifact[], install: boolean): string[][] {
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
  steps.push(['daemon-reload', ['systemctl', 'daemon-reload']]);
  if (hostFiles.some((f) => f.kind === 'hide-instance-names')) {
    steps.push(['hide-instance-names', ['systemd-tmpfiles', '--create', HOST_PATHS.hideInstanceNames]]);
  }
  if (hostFiles.some((f) => f.kind === 'udev-txqueuelen')) {
    steps.push(['udev-reload', ['udevadm', 'control', '--reload']]);
    steps.push(['txqueuelen', ['udevadm', 'trigger', '--action=add', '--subsystem-match=net']]);
    steps.push(['udev-settle', ['udevadm', 'settle']]);
  }
  // The wanted file carries each key's mode; the apply step writes what it computed to sysctl.d.
  steps.push(['sysctl', [HOST_PATHS.sysctlApply, HOST_PATHS.sysctlWanted, HOST_PATHS.sysctl]]);
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
  steps.push(['preseed', ['sh', '-c', `${m.initCommand.map(shellQuote).join(' ')} < ${shellQuote(HOST_PATHS.preseed)}`]]);
  const needs = deviceSteps.flatMap((s) => ['--needs', s]);
  return [...steps.map(([name, argv]) => [HOST_PATHS.firstBootStep, ...(name === 'preseed' ? needs : []), name, ...argv]), finalCheck()];
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
