import { basename } from 'node:path';
import type { HostPlan } from '../plan/model.ts';
import { octalMode, type Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

/** The provisioner scripts, in the order Packer runs them (paths relative to the template). */
export const PACKER_SCRIPTS = ['scripts/10-files.sh', 'scripts/20-install-manager.sh', 'scripts/90-cleanup.sh'] as const;

/** NoCloud seed of the build VM (cd_files, volume label cidata), relative to the template. */
export const PACKER_SEED = ['seed/user-data', 'seed/meta-data'] as const;

/**
 * Password the build VM's seed gives the image's default user so Packer can log in over SSH.
 * cd_files (Packer 1.6.6) copies static files, so the seed cannot take it from a variable; the
 * template's `ssh_password` defaults to the same string, and 90-cleanup.sh replaces it with `*`
 * (no password matches) before the image is saved.
 */
export const PACKER_BUILD_PASSWORD = 'born-tuned-build';

/**
 * Packer's own template syntax for the shell provisioner (not Handlebars): make the uploaded
 * script executable and run it as root with the provisioner's environment. It reaches the HCL as
 * data through the `hcl` helper, so no template has to emit a literal `{{`.
 */
export const PACKER_EXECUTE_COMMAND = 'chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}';

/** Where a backports suite comes from when the image has no source for it yet (Debian only). */
const BACKPORTS_MIRROR: Record<HostPlan['target']['distro'], string> = {
  debian: 'http://deb.debian.org/debian',
  ubuntu: 'http://archive.ubuntu.com/ubuntu',
};

/** The official cloud image of the target (amd64) and where its checksums are published. */
function baseImage(target: HostPlan['target']): { url: string; checksumHint: string; user: string } {
  if (target.distro === 'debian') {
    const dir = `https://cloud.debian.org/images/cloud/${target.codename}/latest`;
    return { url: `${dir}/debian-${target.release}-generic-amd64.qcow2`, checksumHint: `file:${dir}/SHA512SUMS`, user: 'debian' };
  }
  const dir = `https://cloud-images.ubuntu.com/releases/${target.release}/release`;
  return { url: `${dir}/ubuntu-${target.release}-server-cloudimg-amd64.img`, checksumHint: `file:${dir}/SHA256SUMS`, user: 'ubuntu' };
}

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
    purpose: `Packer template (HCL2, Packer >= 1.6.6): bakes the host files and ${managerLabel} into a ${plan.target.label} image; run packer from packer/`,
    text: renderTemplate('packer.pkr.hcl', {
      header,
      stack: plan.stack.join(' + '),
      target: plan.target.label,
      manager: managerLabel,
      slimUserData: slimUserData.path,
      imageUrl: image.url,
      imageDescription: `URL or path of the ${plan.target.label} cloud image (qcow2) the image is built from.`,
      checksumDescription: `Checksum of base_image_url: "sha256:...", "sha512:..." or "${image.checksumHint}" (fetched at build time). "none" skips the check: set it for a real build.`,
      outputDirectory: `output-${stack}`,
      vmName: `${stack}.qcow2`,
      sshUser: image.user,
      sshUserDescription: `User Packer logs in as: the ${plan.target.label} image's default user, given a password by seed/user-data.`,
      buildPassword: PACKER_BUILD_PASSWORD,
      buildName: stack,
      executeCommand: PACKER_EXECUTE_COMMAND,
      seed: PACKER_SEED,
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
      snap: m.install === 'snap' && m.snapChannel ? { channel: m.snapChannel, needsSnapd: m.needsSnapd } : false,
      present: m.install === 'present' ? { client } : false,
      // Only a backports source to add or a client to look for needs the resolver of paths under ROOT.
      touchesFiles: (m.install === 'deb' && m.deb?.backports === true) || m.install === 'present',
    }),
    format: 'text',
  };

  const cleanup: Artifact = {
    kind: 'packer-scripts',
    path: `packer/${PACKER_SCRIPTS[2]}`,
    mode: 0o755,
    purpose: 'Packer provisioner: removes the build login and resets cloud-init so deployed hosts run their first boot',
    text: renderTemplate('packer-cleanup.sh', { header, slimUserData: slimUserData.path }),
    format: 'text',
  };

  const seedConfig = { password: PACKER_BUILD_PASSWORD, chpasswd: { expire: false }, ssh_pwauth: true };
  const seedUserData: Artifact = {
    kind: 'packer-seed',
    path: `packer/${PACKER_SEED[0]}`,
    mode: 0o600,
    purpose: 'NoCloud user-data of the Packer build VM only: the SSH password Packer logs in with',
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

  return [template, files, install, cleanup, seedUserData, seedMetaData];
}

function installSummary(plan: HostPlan): string {
  const m = plan.manager;
  if (m.install === 'deb' && m.deb)
    return `${m.name} ${m.version} from ${plan.target.label}'s packages (${m.deb.packages.join(', ')} from ${m.deb.suite})`;
  if (m.install === 'snap') return `the LXD snap, channel ${m.snapChannel}${m.needsSnapd ? ', after installing snapd' : ''}`;
  return `nothing: ${m.name} is expected to be installed already`;
}
