import { basename } from 'node:path';
import type { HostPlan } from '../plan/model.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import { managerState } from '../facts/managers.ts';
import { octalMode, type Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';
import { commentText } from './helpers.ts';
import { SNAP_INSTALL_OR_REFRESH } from './snap-step.ts';

/** The provisioner scripts, in the order Packer runs them (paths relative to the template). */
export const PACKER_SCRIPTS = ['scripts/10-files.sh', 'scripts/20-install-manager.sh', 'scripts/90-cleanup.sh'] as const;

/** NoCloud seed of the build VM (cd_files, volume label cidata), relative to the template. */
export const PACKER_SEED = ['seed/user-data', 'seed/meta-data'] as const;

/**
 * The wrapper that runs `packer build` (relative to the template). Packer 1.6.6 copies cd_files as
 * they are (it has no cd_content or templatefile), so the build VM's seed cannot take a password
 * from a Packer variable; build.sh draws one for each build, writes the seed's user-data with it in
 * a private temporary directory, and hands both to Packer through the environment.
 */
export const PACKER_BUILD_SCRIPT = 'build.sh';

/**
 * The file cloud-init (22.4, ssh_util.update_ssh_config) writes `ssh_pwauth` into when sshd_config
 * includes sshd_config.d: the build seed's `PasswordAuthentication yes` lands here.
 */
const CLOUD_INIT_SSHD_DROP_IN = '/etc/ssh/sshd_config.d/50-cloud-init.conf';

/**
 * The image's own word on SSH password login. sshd keeps the first value it reads, and reads the
 * drop-ins in name order: a host whose seed sets `ssh_pwauth` gets it from cloud-init's 50- file
 * first; every other host reads this one.
 */
const SSHD_NO_PASSWORD_DROP_IN = '/etc/ssh/sshd_config.d/60-born-tuned-no-password.conf';

/**
 * Packer's own template syntax for the shell provisioner (not Handlebars): make the uploaded
 * script executable and run it as root with the provisioner's environment. It reaches the HCL as
 * data through the `hcl` helper, so no template has to emit a literal `{{`.
 */
export const PACKER_EXECUTE_COMMAND = 'chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}';

/** Where a backports suite comes from when the image has no source for it yet (Debian only). */
/** The storage drivers' packages, installed in the image (the ZFS module built by DKMS there, not at
 * each host's first boot), with the contrib source they may need; false when the pools need none. */
function storagePackagesStep(plan: HostPlan) {
  const st = plan.storage;
  if (st.packages.length === 0) return false;
  return {
    command: [HOST_PATHS.storagePackages, ...(st.kernelHeaders ? ['--kernel-headers'] : []), ...st.packages],
    contrib: st.contrib ? { mirror: BACKPORTS_MIRROR[plan.target.distro], codename: plan.target.codename } : false,
  };
}

const BACKPORTS_MIRROR: Record<HostPlan['target']['distro'], string> = {
  debian: 'http://deb.debian.org/debian',
  ubuntu: 'http://archive.ubuntu.com/ubuntu',
};

/** The official cloud image of the target (amd64) and where its checksums are published. */
function baseImage(target: HostPlan['target']): { url: string; sums: string; algorithm: string; user: string } {
  if (target.distro === 'debian') {
    const dir = `https://cloud.debian.org/images/cloud/${target.codename}/latest`;
    return { url: `${dir}/debian-${target.release}-generic-amd64.qcow2`, sums: `${dir}/SHA512SUMS`, algorithm: 'sha512', user: 'debian' };
  }
  const dir = `https://cloud-images.ubuntu.com/releases/${target.release}/release`;
  return {
    url: `${dir}/ubuntu-${target.release}-server-cloudimg-amd64.img`,
    sums: `${dir}/SHA256SUMS`,
    algorithm: 'sha256',
    user: 'ubuntu',
  };
}

/**
 * The build VM's user network, as Packer 1.6.6 builds it but with the SSH forward bound to the
 * loopback: Packer's own (`user,id=user.0,hostfwd=tcp::PORT-:22`) listens on every host address,
 * so anyone on the build host's network could try the build VM's password. `{{ .SSHHostPort }}` is
 * Packer's own template data for qemuargs (the port it chose between ssh_host_port_min and _max).
 */
export const PACKER_NETDEV = 'user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22';

/**
 * Packer template and provisioner scripts that bake the same tuning into a golden image:
 * `packer/<stack>.pkr.hcl` (HCL2 that Packer 1.6.6 validates offline; run Packer from `packer/`),
 * `packer/scripts/*.sh` (host files, manager install, cleanup; each takes ROOT, default /, and
 * resolves every path it touches under ROOT as a chroot would: templates/packer-root-paths.sh) and the
 * build VM's NoCloud seed `packer/seed/{user-data,meta-data}`. Hosts made from the image take
 * `slimUserData` (packer/user-data) as their first-boot user-data. Pure and deterministic.
 */
export function renderPacker(plan: HostPlan, header: string, hostFiles: readonly Artifact[], slimUserData: Artifact): Artifact[] {
  const stack = plan.stack.join('-');
  const m = plan.manager;
  const image = baseImage(plan.target);
  const installed = hostFiles.filter((f) => f.hostPath !== undefined);
  const managerLabel = `${m.name} ${m.version}`;

  const template: Artifact = {
    kind: 'packer-template',
    path: `packer/${stack}.pkr.hcl`,
    mode: 0o644,
    purpose: `Packer template (HCL2, Packer >= 1.6.6): bakes the host files and ${managerLabel} into a ${plan.target.label} image; build with packer/${PACKER_BUILD_SCRIPT} (base_image_checksum required)`,
    text: renderTemplate('packer.pkr.hcl', {
      header,
      stack: plan.stack.join(' + '),
      target: plan.target.label,
      manager: managerLabel,
      slimUserData: slimUserData.path,
      imageUrl: image.url,
      imageDescription: `URL or path of the ${plan.target.label} cloud image (qcow2) the image is built from.`,
      checksumSums: image.sums,
      checksumDescription: `Required. Checksum of base_image_url: "file:${image.sums}" (Packer fetches the list published beside the image and takes its line), or "${image.algorithm}:" and the image's line from that list.`,
      outputDirectory: `output-${stack}`,
      vmName: `${stack}.qcow2`,
      sshUser: image.user,
      sshUserDescription: `User Packer logs in as: the ${plan.target.label} image's default user, given a password by the seed ${PACKER_BUILD_SCRIPT} writes.`,
      buildScript: PACKER_BUILD_SCRIPT,
      passwordDescription: `Password of ssh_username in the build VM only: ${PACKER_BUILD_SCRIPT} draws it for each build.`,
      seedDescription: `The build VM's user-data holding ssh_password (its file name must be user-data): ${PACKER_BUILD_SCRIPT} writes it for each build.`,
      buildName: stack,
      extraArgsDescription:
        'QEMU arguments added after the -netdev one, each a list (flag, then its value), e.g. direct kernel boot for an image without a bootloader: [["-kernel", "vmlinuz"], ["-initrd", "initrd.img"], ["-append", "root=/dev/vda console=ttyS0"]]. Default none.',
      netdevFlag: '-netdev',
      netdev: PACKER_NETDEV,
      executeCommand: PACKER_EXECUTE_COMMAND,
      seedMetaData: PACKER_SEED[1],
      scripts: PACKER_SCRIPTS,
    }),
    format: 'text',
  };

  const files: Artifact = {
    kind: 'packer-scripts',
    path: `packer/${PACKER_SCRIPTS[0]}`,
    mode: 0o755,
    purpose: 'Packer provisioner: writes every host file (exact bytes and modes) under ROOT',
    text: renderTemplate('packer-files.sh', {
      header,
      files: installed.map((f) => ({ path: f.hostPath!, mode: octalMode(f.mode), text: f.text })),
    }),
    format: 'text',
  };

  const client = basename(m.initCommand[0]!);
  const install: Artifact = {
    kind: 'packer-scripts',
    path: `packer/${PACKER_SCRIPTS[1]}`,
    mode: 0o755,
    purpose: `Packer provisioner: installs ${managerLabel} (${m.install}) under ROOT`,
    text: renderTemplate('packer-install-manager.sh', {
      header,
      summary: installSummary(plan),
      deb: m.install === 'deb' && m.deb ? { ...m.deb, mirror: BACKPORTS_MIRROR[plan.target.distro] } : false,
      snap:
        m.install === 'snap' && m.snapChannel
          ? { channel: m.snapChannel, needsSnapd: m.needsSnapd, script: SNAP_INSTALL_OR_REFRESH }
          : false,
      present: m.install === 'present' ? { client } : false,
      fence: plan.fence.enabled ? { unit: basename(HOST_PATHS.fenceUnit) } : false,
      storage: storagePackagesStep(plan),
      // Only an apt source to add or a client to look for needs the resolver of paths under ROOT.
      touchesFiles: (m.install === 'deb' && m.deb?.backports === true) || m.install === 'present' || plan.storage.contrib,
    }),
    format: 'text',
  };

  const cleanup: Artifact = {
    kind: 'packer-scripts',
    path: `packer/${PACKER_SCRIPTS[2]}`,
    mode: 0o755,
    purpose: `Packer provisioner: removes the build login, SSH password login and every per-host identity (${m.name}'s certificates and state, machine-id, SSH host keys, computed sysctls, logs), resets cloud-init`,
    text: renderTemplate('packer-cleanup.sh', {
      header,
      slimUserData: slimUserData.path,
      manager: { label: managerLabel, ...managerState(m.name, m.install) },
      // The daemon's TLS certificate, named in the build log when 90-cleanup.sh removes it.
      managerCert: `${managerState(m.name, m.install).stateDir}/server.crt`,
      computedSysctl: HOST_PATHS.sysctl,
      cloudInitSshdDropIn: CLOUD_INIT_SSHD_DROP_IN,
      sshdDropIn: SSHD_NO_PASSWORD_DROP_IN,
      sshdDropInText: `# ${commentText(header)}\n# Written by the image's 90-cleanup.sh: no SSH password login unless this host's seed sets ssh_pwauth.\nPasswordAuthentication no\n`,
    }),
    format: 'text',
  };

  const build: Artifact = {
    kind: 'packer-scripts',
    path: `packer/${PACKER_BUILD_SCRIPT}`,
    mode: 0o755,
    purpose: 'runs packer build with a login password drawn for this build only (the seed is written to a private temporary directory)',
    text: renderTemplate('packer-build.sh', { header, template: basename(template.path), seedUserData: PACKER_SEED[0] }),
    format: 'text',
  };

  // The password is not here: build.sh adds it, drawn anew for each build.
  const seedConfig = { chpasswd: { expire: false }, ssh_pwauth: true };
  const seedUserData: Artifact = {
    kind: 'packer-seed',
    path: `packer/${PACKER_SEED[0]}`,
    mode: 0o644,
    purpose: 'NoCloud user-data of the Packer build VM only, without its password (build.sh adds one for each build)',
    text: renderTemplate('packer-seed-user-data', { header, config: seedConfig }),
    format: 'cloud-config',
    data: seedConfig,
  };

  const seedMeta = { 'instance-id': `born-tuned-build-${stack}`, 'local-hostname': 'born-tuned-build' };
  const seedMetaData: Artifact = {
    kind: 'packer-seed',
    path: `packer/${PACKER_SEED[1]}`,
    mode: 0o644,
    purpose: 'NoCloud meta-data of the Packer build VM',
    text: renderTemplate('packer-seed-meta-data', { header, config: seedMeta }),
    format: 'yaml',
    data: seedMeta,
  };

  return [template, build, files, install, cleanup, seedUserData, seedMetaData];
}

function installSummary(plan: HostPlan): string {
  const fence = plan.fence.enabled ? '; enables the fence unit (nftables when missing)' : '';
  return `${managerSummary(plan)}${fence}`;
}

function managerSummary(plan: HostPlan): string {
  const m = plan.manager;
  if (m.install === 'deb' && m.deb)
    return `${m.name} ${m.version} from ${plan.target.label}'s packages (${m.deb.packages.join(', ')} from ${m.deb.suite})`;
  if (m.install === 'snap') return `the LXD snap, channel ${m.snapChannel}${m.needsSnapd ? ', after installing snapd' : ''}`;
  return `nothing: ${m.name} is expected to be installed already`;
}
