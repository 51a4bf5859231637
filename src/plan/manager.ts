import { effectiveManagerVersion, managerUnit, targetFactsOf, type ManagerName } from '../facts/managers.ts';
import type { Profile } from '../schema/profile.ts';

/** How the manager reaches the host, fully resolved. */
export interface ManagerPlan {
  name: ManagerName;
  version: string;
  install: 'snap' | 'deb' | 'present';
  /** systemd unit of the daemon. */
  unit: string;
  /** The command-line client and its init subcommand. */
  initCommand: string[];
  waitReadyCommand: string[];
  /** apt packages and the suite they come from, for install: deb. */
  deb?: { suite: string; packages: string[]; backports: boolean };
  /** snap channel, for install: snap. */
  snapChannel?: string;
  needsSnapd: boolean;
}

/** Resolves the manager for a validated host profile (rules have guaranteed the pieces exist). */
export function planManager(profile: Profile): ManagerPlan {
  const m = profile.manager!;
  const target = targetFactsOf(profile.target)!;
  const version = effectiveManagerVersion(m, profile.target)!;
  const client = m.name === 'lxd' ? (m.install === 'snap' ? '/snap/bin/lxd' : 'lxd') : 'incus';
  const plan: ManagerPlan = {
    name: m.name,
    version,
    install: m.install,
    unit: managerUnit(m.name, m.install),
    initCommand: m.name === 'lxd' ? [client, 'init', '--preseed'] : [client, 'admin', 'init', '--preseed'],
    waitReadyCommand: m.name === 'lxd' ? [client, 'waitready', '--timeout=600'] : [client, 'admin', 'waitready', '--timeout=600'],
    needsSnapd: m.install === 'snap' && target.needsSnapd,
  };
  if (m.install === 'deb') {
    const pkg = target.debPackages[m.name];
    if ('version' in pkg) plan.deb = { suite: pkg.suite, packages: pkg.packages, backports: pkg.suite.endsWith('-backports') };
  }
  if (m.install === 'snap') plan.snapChannel = `${version}/stable`;
  return plan;
}
