import { TARGETS, type TargetFacts } from './targets.ts';

/** Versions of each container manager this tool knows, and the features that depend on them. */
export type ManagerName = 'lxd' | 'incus';

export const KNOWN_VERSIONS: Readonly<Record<ManagerName, readonly string[]>> = {
  lxd: ['5.0', '5.21', '6.1', '6.2', '6.3', '6.4', '6.5'],
  incus: [
    '6.0',
    '6.1',
    '6.2',
    '6.3',
    '6.4',
    '6.5',
    '6.6',
    '6.7',
    '6.8',
    '6.9',
    '6.10',
    '6.11',
    '6.12',
    '6.13',
    '6.14',
    '6.15',
    '6.16',
    '6.17',
  ],
};

/** Compares dotted versions numerically ("5.21" > "5.10"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Features whose presence depends on the manager and its version (FACTS.md, "LXD / Incus preseed"). */
const FEATURES = {
  /** NIC device option `queue.tx.length` (API extension network_txqueuelen). */
  nicQueueTxLength: { lxd: '5.10', incus: '6.0' },
  /** `core.trust_password`: removed in LXD 6.1, never in Incus. */
  trustPassword: { lxd: { below: '6.1' }, incus: null },
} as const;

/** True when `manager` at `version` supports the NIC option `queue.tx.length`. */
export function supportsNicQueueTxLength(manager: ManagerName, version: string): boolean {
  return compareVersions(version, FEATURES.nicQueueTxLength[manager]) >= 0;
}

/** True when `manager` at `version` still accepts `core.trust_password`. */
export function supportsTrustPassword(manager: ManagerName, version: string): boolean {
  const rule = FEATURES.trustPassword[manager];
  return rule !== null && compareVersions(version, rule.below) < 0;
}

/** The systemd unit that runs the daemon, which needs the limits drop-in. */
export function managerUnit(manager: ManagerName, install: 'snap' | 'deb' | 'present'): string {
  if (manager === 'lxd' && install === 'snap') return 'snap.lxd.daemon.service';
  return `${manager}.service`;
}

/** What a manager's daemon makes for itself when it first starts, and the units that run it. */
interface ManagerState {
  /** Units that run the daemon or would start it again (its sockets), stopped before the state goes. */
  units: readonly string[];
  /** The daemon's directory (LXD_DIR / INCUS_DIR): its TLS identity, database and sockets. */
  stateDir: string;
  /** The daemon's log directory, when it is not inside stateDir. */
  logDir?: string;
}

/**
 * Where the daemon keeps its per-host state. Debian's lxd (bookworm) and incus-base
 * (bookworm-backports) postinst start the daemon (deb-systemd-invoke start); at its first start it
 * fills its empty, package-shipped directory with server.crt and server.key, database/ (global and
 * local.db), sockets and empty subdirectories, all of which it makes again when they are missing.
 * The snap's daemon runs with LXD_DIR=$SNAP_COMMON/lxd and logs inside it.
 */
export function managerState(manager: ManagerName, install: 'snap' | 'deb' | 'present'): ManagerState {
  if (manager === 'lxd' && install === 'snap')
    return { units: ['snap.lxd.daemon.service', 'snap.lxd.daemon.unix.socket'], stateDir: '/var/snap/lxd/common/lxd' };
  if (manager === 'lxd')
    return { units: ['lxd-containers.service', 'lxd.service', 'lxd.socket'], stateDir: '/var/lib/lxd', logDir: '/var/log/lxd' };
  return {
    units: ['incus-startup.service', 'incus-user.service', 'incus.service', 'incus-user.socket', 'incus.socket'],
    stateDir: '/var/lib/incus',
    logDir: '/var/log/incus',
  };
}

/** The LXD snap track installed when the profile names no version (the current LTS). */
const DEFAULT_LXD_SNAP_VERSION = '5.21';

/** How a profile names its manager and target (the parts of it these facts depend on). */
interface ManagerChoice {
  name: ManagerName;
  install: 'snap' | 'deb' | 'present';
  version?: string | undefined;
}

/** The facts of a target, when it is one the tool knows. */
export function targetFactsOf(target: { distro: string; release: string } | undefined): TargetFacts | undefined {
  return target ? TARGETS[`${target.distro}/${target.release}`] : undefined;
}

/** The manager version the host will run: the profile's, else what the install method brings. */
export function effectiveManagerVersion(
  manager: ManagerChoice | undefined,
  target: { distro: string; release: string } | undefined,
): string | undefined {
  if (!manager) return undefined;
  if (manager.version) return manager.version;
  if (manager.install === 'snap') return DEFAULT_LXD_SNAP_VERSION;
  const pkg = targetFactsOf(target)?.debPackages[manager.name];
  return pkg && 'version' in pkg ? pkg.version : undefined;
}

/** Where the manager's client is installed, the first that exists being used: the LXD snap's or a
 * package's lxc, Incus's incus. gen verify and the verifier installed on the host look there. */
export function managerClients(manager: ManagerName): string[] {
  return manager === 'lxd' ? ['/snap/bin/lxc', '/usr/bin/lxc'] : ['/usr/bin/incus'];
}
