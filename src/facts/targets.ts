/** What follows from the target distribution and release: systemd version and where packages come from. */
export interface TargetFacts {
  label: string;
  codename: string;
  systemd: number;
  /** Versions of what applies gen's output on this release, from its package lists (the e2e
   * image's packages.txt shows them): test/cloud-init.test.ts runs this release's cloud-init
   * schema and checks its version against this. Absent where no package list was read here
   * (Ubuntu's archive is out of reach). */
  versions?: { kernel: string; cloudInit: string; netplan: string };
  /** Per manager: the version its distribution package has and the apt suite it comes from, or why
   * there is none. */
  debPackages: Record<'lxd' | 'incus', { version: string; suite: string; packages: string[] } | { missing: string }>;
  /** True when snapd must be installed before `snap install` works. */
  needsSnapd: boolean;
  /** True when `npm test` boots this release in a VM and verifies the host (README "Proven on a
   * real boot"). A release that is not is checked structurally only: cloud-init's schema, the
   * package names and snap channels gen writes, the preseed keys of the manager's version. */
  bootProven: boolean;
  /** fs.nr_open as a booted host of this release has it before gen changes anything: the ceiling
   * of every nofile limit. systemd raises it at boot on some releases; where no boot showed the
   * value, the kernel's default (the smallest it can be). */
  nrOpen: { value: number; source: string };
}

/** A target's name as `list` and `explain` print it, saying when no boot proves it. */
export function targetLabel(target: Pick<TargetFacts, 'label' | 'bootProven'>): string {
  return target.bootProven ? target.label : `${target.label} (not boot-proven)`;
}

export const TARGETS: Readonly<Record<string, TargetFacts>> = {
  'debian/12': {
    label: 'Debian 12',
    codename: 'bookworm',
    systemd: 252,
    versions: { kernel: '6.1', cloudInit: '22.4', netplan: '0.106' },
    needsSnapd: true,
    bootProven: true,
    nrOpen: { value: 1048576, source: "Debian 12's kernel default; systemd 252 leaves it, as a booted guest showed" },
    debPackages: {
      lxd: { version: '5.0', suite: 'bookworm', packages: ['lxd'] },
      incus: { version: '6.0', suite: 'bookworm-backports', packages: ['incus-base', 'incus-client'] },
    },
  },
  'debian/13': {
    label: 'Debian 13',
    codename: 'trixie',
    systemd: 257,
    versions: { kernel: '6.12', cloudInit: '25.1', netplan: '1.1' },
    needsSnapd: true,
    bootProven: true,
    nrOpen: { value: 1073741816, source: "systemd 257 raises it to the kernel's maximum at boot, as a booted Debian 13 guest showed" },
    debPackages: {
      lxd: { version: '5.0', suite: 'trixie', packages: ['lxd'] },
      incus: { version: '6.0', suite: 'trixie', packages: ['incus-base', 'incus-client'] },
    },
  },
  'ubuntu/22.04': {
    label: 'Ubuntu 22.04',
    codename: 'jammy',
    systemd: 249,
    needsSnapd: false,
    bootProven: false,
    nrOpen: { value: 1048576, source: "the kernel default; no boot showed whether this release's systemd raises it" },
    debPackages: {
      lxd: { missing: 'Ubuntu 22.04 ships LXD only as a snap: use manager.install: snap' },
      incus: {
        missing:
          'Ubuntu 22.04 has no Incus package: use Ubuntu 24.04 or Debian 12, or install it yourself and set manager.install: present',
      },
    },
  },
  'ubuntu/24.04': {
    label: 'Ubuntu 24.04',
    codename: 'noble',
    systemd: 255,
    needsSnapd: false,
    bootProven: false,
    nrOpen: { value: 1048576, source: "the kernel default; no boot showed whether this release's systemd raises it" },
    debPackages: {
      lxd: { missing: 'Ubuntu 24.04 ships LXD only as a snap: use manager.install: snap' },
      incus: { version: '6.0', suite: 'noble', packages: ['incus-base', 'incus-client'] },
    },
  },
};

/** Releases the schema accepts, per distribution. */
export const RELEASES = { debian: ['12', '13'], ubuntu: ['22.04', '24.04'] } as const;
