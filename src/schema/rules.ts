import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { bridgeAddressesFor, derivedGcThresh3, derivedMaxKeys, IDS_PER_INSTANCE, MAX_ISOLATED_INSTANCES } from '../facts/capacity.ts';
import type { Merged } from '../resolve/merge.ts';
import type { PathSegment } from '../source/position.ts';
import {
  effectiveManagerVersion,
  KNOWN_VERSIONS,
  targetFactsOf,
  supportsNicQueueTxLength,
  supportsTrustPassword,
} from '../facts/managers.ts';
import { sysctlFromHostOf, sysctlValueOf, type Profile } from './profile.ts';
import { SYSCTL_FACTS } from '../facts/sysctl.ts';
import { canonicalSysctlName, isDocumentedSysctl, suggestSysctl, SYSCTL_NAME } from '../facts/sysctl-names.ts';
import { DOCUMENTED_SYSCTL_SOURCES } from '../facts/sysctl-keys.generated.ts';
import { RELEASES } from '../facts/targets.ts';
import { binaryBytes, isDeviceSource, ZFS_ARC_MAX_MIN } from '../facts/storage.ts';
import { formatIp, hostAddresses, networkOf, notAHostAddress, overlaps, parseInterface } from './ip.ts';
import { addressingProblems } from './addressing.ts';
import { ETHERNET_MTU } from './network-values.ts';
import { reportAt, whereIs } from './validate.ts';
import { runSkippingBroken } from './partial.ts';

/** The kernel's fs.nr_open (1024 * 1024), for a stack whose target is not known. */
const KERNEL_NR_OPEN = 1048576;
const BPF_JIT_LIMIT_MAX = 1_000_000_000;

/** What a rule reads and where it reports. */
interface RuleContext {
  profile: Profile;
  merged: Merged;
  bag: DiagnosticBag;
  at: (
    severity: 'error' | 'warning',
    code: Parameters<DiagnosticBag['error']>[0],
    path: PathSegment[],
    message: string,
    where?: 'key' | 'value',
  ) => void;
}

/** One cross-field rule: reads the stack, reports through `ctx.at`. */
type Rule = (ctx: RuleContext) => void;

/** Every rule, in the order their findings read best; a new rule is a function and a line here. */
const RULES: Rule[] = [
  requireHostKeys,
  checkTarget,
  checkManager,
  checkSysctl,
  checkCapacity,
  checkLimits,
  checkNetwork,
  checkUplinks,
  checkStorage,
  checkSecrets,
];

/**
 * Cross-field rules that protect the host. Each rule reports at the value the user should change and
 * names the number or setting to use; one that reads a value the schema refused is skipped.
 */
export function checkRules(profile: Profile, merged: Merged, bag: DiagnosticBag, broken: readonly PathSegment[][] = []): void {
  const at: RuleContext['at'] = (sev, code, path, msg, where = 'value') => reportAt(bag, merged, sev, code, path, msg, where);
  // With values the schema refused (broken), a rule that reads one of them is skipped.
  for (const rule of RULES) runSkippingBroken(profile, broken, (p) => rule({ profile: p, merged, bag, at }));
}

function requireHostKeys({ profile, at }: RuleContext): void {
  const required: [keyof Profile, string][] = [
    ['manager', 'manager: {name: lxd|incus, install: snap|deb|present}'],
    [
      'target',
      `target: {distro: debian|ubuntu, release: ${Object.values(RELEASES)
        .flat()
        .map((r) => `"${r}"`)
        .join('|')}}`,
    ],
    ['capacity', 'capacity: {instances: N}, the number of instances you plan on this host'],
    [
      'dmesg_restrict',
      'dmesg_restrict: true or false; true also hides dmesg from non-root users on the host, so the tool does not choose for you',
    ],
  ];
  for (const [key, hint] of required) {
    if (profile[key] === undefined) at('error', 'MISSING_KEY', [key], `the stack sets no ${key}: add ${hint}`, 'key');
  }
}

function checkTarget({ profile, at }: RuleContext): void {
  const t = profile.target;
  if (!t) return;
  const releases: readonly string[] = RELEASES[t.distro];
  if (!releases.includes(t.release)) {
    at(
      'error',
      'INVALID_VALUE',
      ['target', 'release'],
      `${t.distro} release "${t.release}" is not supported: use ${releases.map((r) => `"${r}"`).join(' or ')}`,
    );
  }
}

function checkManager({ profile, at }: RuleContext): void {
  const m = profile.manager;
  if (!m) return;
  if (m.name === 'incus' && m.install === 'snap') {
    at(
      'error',
      'UNSUPPORTED_BY_TARGET',
      ['manager', 'install'],
      'Incus is not distributed as a snap: use install: deb or install: present',
    );
    return;
  }
  const target = targetFactsOf(profile.target);
  if (m.install === 'deb' && target) {
    const pkg = target.debPackages[m.name];
    if ('missing' in pkg) at('error', 'UNSUPPORTED_BY_TARGET', ['manager', 'install'], pkg.missing);
    else if (m.version && m.version !== pkg.version) {
      at(
        'error',
        'UNSUPPORTED_BY_TARGET',
        ['manager', 'version'],
        `${target.label}'s ${m.name} package is ${pkg.version} (from ${pkg.suite}), not ${m.version}: set version: "${pkg.version}"${m.name === 'lxd' ? ' or install: snap' : ''}`,
      );
    }
  }
  if (m.version && !KNOWN_VERSIONS[m.name].includes(m.version)) {
    at(
      'error',
      'INVALID_VALUE',
      ['manager', 'version'],
      `unknown ${m.name} version "${m.version}": known versions are ${KNOWN_VERSIONS[m.name].join(', ')}`,
    );
  }
  if (m.install === 'present' && !m.version && !(target && 'version' in target.debPackages[m.name])) {
    at(
      'error',
      'MISSING_KEY',
      ['manager'],
      `with install: present on this target, say which ${m.name} version is installed: add manager.version`,
      'key',
    );
  }
}

function checkSysctl({ profile, merged, at }: RuleContext): void {
  const seen = new Map<string, string>();
  for (const [key, setting] of Object.entries(profile.sysctl ?? {})) {
    const path = ['sysctl', key];
    const name = canonicalSysctlName(key);
    if (name === 'kernel.dmesg_restrict') {
      at(
        'error',
        'USE_TOP_LEVEL_KEY',
        path,
        'set kernel.dmesg_restrict with the top-level dmesg_restrict: true|false, which records it as a deliberate choice',
        'key',
      );
      continue;
    }
    if (!SYSCTL_NAME.test(name)) {
      at(
        'error',
        'INVALID_VALUE',
        path,
        `"${key}" is not a sysctl name: sysctl names are dot-separated words like net.core.somaxconn (write a dot inside a word, as in the VLAN eth0.100, as "/": net.ipv4.conf.eth0/100.rp_filter)`,
        'key',
      );
      continue;
    }
    const twin = seen.get(name);
    if (twin !== undefined) {
      at('error', 'DUPLICATE_SYSCTL', path, `"${key}" and "${twin}" name the same sysctl ${name}: keep one`, 'key');
      continue;
    }
    seen.set(name, key);
    const fact = SYSCTL_FACTS[name];
    if (!fact && !isDocumentedSysctl(name)) {
      const hint = suggestSysctl(name, Object.keys(SYSCTL_FACTS));
      if (hint) at('error', 'UNKNOWN_KEY', path, `unknown sysctl "${key}" (did you mean "${hint}"?)`, 'key');
      else
        at(
          'warning',
          'UNDOCUMENTED_SYSCTL',
          path,
          `sysctl "${key}" is not in the kernel documentation (${DOCUMENTED_SYSCTL_SOURCES}): check the name; first boot skips a key the kernel does not have`,
          'key',
        );
    }
    const fromHost = sysctlFromHostOf(setting);
    if (fromHost) {
      checkFromHost(name, fromHost, path, profile, at);
      continue;
    }
    const value = sysctlValueOf(setting);
    const mode = typeof setting === 'object' ? setting.mode : (fact?.mode ?? 'exact');
    const parts = parseComponents(value);
    if (!fact) {
      if (mode !== 'exact' && !parts) {
        at(
          'error',
          'INVALID_VALUE',
          typeof setting === 'object' ? [...path, 'mode'] : path,
          `${key} is compared number by number in mode ${mode}, and ${JSON.stringify(value)} is not whole numbers: use mode: exact for a word value`,
        );
      }
      continue;
    }
    if (!parts || parts.length !== fact.components) {
      at(
        'error',
        'INVALID_VALUE',
        path,
        fact.components === 1
          ? `${key} must be a whole number, not ${JSON.stringify(value)}`
          : `${key} must be ${fact.components} whole numbers separated by spaces, like "182757 243679 365514"`,
      );
      continue;
    }
    if (name === 'net.core.bpf_jit_limit' && parts[0]! > BPF_JIT_LIMIT_MAX) {
      at(
        'error',
        'BPF_JIT_LIMIT_TOO_HIGH',
        path,
        `net.core.bpf_jit_limit ${parts[0]} is rejected by the kernel ("Invalid argument"), so the whole value would silently not apply; use at most 1000000000 (the current LXD and Incus value)`,
      );
      continue;
    }
    const bad = parts.find((p) => p < fact.min || p > fact.max);
    if (bad !== undefined) {
      at('error', 'OUT_OF_RANGE', path, `${key} ${bad} is out of range: use a value from ${fact.min} to ${fact.max}`);
      continue;
    }
    if (fact.components === 3 && !(parts[0]! <= parts[1]! && parts[1]! <= parts[2]!)) {
      at('error', 'INCONSISTENT_VALUES', path, `${key} must be ascending (min <= pressure <= max), got "${parts.join(' ')}"`);
      continue;
    }
    // A default may name where it holds ("528482304 on x86_64"): its leading number is the value.
    const kernelDefault = Number(/^\d+/.exec(fact.kernelDefault)?.[0] ?? NaN);
    if (mode === 'raise' && Number.isFinite(kernelDefault) && parts[0]! < kernelDefault) {
      at(
        'warning',
        'VALUE_BELOW_DEFAULT',
        path,
        `${key} ${parts[0]} is below the kernel default ${fact.kernelDefault}; the point of setting it is to raise it, and first boot never lowers a value in mode raise, so it has no effect (write {value: ${parts[0]}, mode: exact} to set it anyway)`,
      );
    }
  }
  const sysctl = sysctlValues(profile);
  for (const family of ['ipv4', 'ipv6']) {
    const keys = [1, 2, 3].map((n) => `net.${family}.neigh.default.gc_thresh${n}`);
    const values = keys.map((k) => numberOf(sysctl[k]));
    // gc_thresh3 left out is derived from the capacity: the order must hold against that value too.
    const instances = profile.capacity?.instances;
    if (values[2] === undefined && instances !== undefined) values[2] = derivedGcThresh3(instances);
    for (const [i, j] of [
      [0, 1],
      [1, 2],
      [0, 2],
    ] as const) {
      const lo = values[i];
      const hi = values[j];
      if (lo !== undefined && hi !== undefined && lo > hi && sysctl[keys[i]!] !== undefined) {
        const where =
          sysctl[keys[j]!] !== undefined ? whereIs(merged, ['sysctl', keys[j]!]) : `derived from capacity.instances ${instances}`;
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['sysctl', keys[i]!],
          `${keys[i]} ${lo} is above ${keys[j]} ${hi} (${where}): the kernel needs gc_thresh1 <= gc_thresh2 <= gc_thresh3; lower it or raise ${keys[j]}`,
        );
        break;
      }
    }
  }
}

function checkCapacity({ profile, merged, at }: RuleContext): void {
  const instances = profile.capacity?.instances;
  if (instances === undefined) return;
  const sysctl = sysctlValues(profile);
  const where = whereIs(merged, ['capacity', 'instances']);
  if (profile.instances?.idmap_isolated && profile.manager?.install !== 'snap' && instances > MAX_ISOLATED_INSTANCES) {
    at(
      'error',
      'CAPACITY_CONFLICT',
      ['capacity', 'instances'],
      `capacity.instances ${instances} with instances.idmap_isolated (${whereIs(merged, ['instances', 'idmap_isolated'])}) needs ${IDS_PER_INSTANCE} ids per instance in root's range of /etc/subuid, and 32-bit ids hold at most ${MAX_ISOLATED_INSTANCES} such maps: plan at most ${MAX_ISOLATED_INSTANCES} instances on this host, or set idmap_isolated: false`,
    );
  }
  const maxkeys = numberOf(sysctl['kernel.keys.maxkeys']);
  if (maxkeys !== undefined && maxkeys <= instances) {
    at(
      'error',
      'CAPACITY_CONFLICT',
      ['sysctl', 'kernel.keys.maxkeys'],
      `kernel.keys.maxkeys ${maxkeys} must be greater than capacity.instances ${instances} (${where}), or instances fail to start: use ${derivedMaxKeys(instances)}, or leave the key out and it is derived`,
    );
  }
  for (const family of ['ipv4', 'ipv6']) {
    const key = `net.${family}.neigh.default.gc_thresh3`;
    const v = numberOf(sysctl[key]);
    if (v !== undefined && v <= instances * 2) {
      at(
        'error',
        'CAPACITY_CONFLICT',
        ['sysctl', key],
        `${key} ${v} leaves no headroom for capacity.instances ${instances} (${where}): the neighbour table overflows and instances lose networking; use ${derivedGcThresh3(instances)}, or leave the key out and it is derived`,
      );
    }
  }
}

function checkLimits({ profile, merged, at }: RuleContext): void {
  const nofile = profile.limits?.nofile;
  if (nofile === undefined) return;
  // The ceiling is what the booted host has (systemd raises it on some releases), changed by the
  // profile's fs.nr_open as its mode applies it: raise (its catalogue mode) only ever raises it.
  const host = targetFactsOf(profile.target)?.nrOpen ?? { value: KERNEL_NR_OPEN, source: 'the kernel default' };
  const setting = profile.sysctl?.['fs.nr_open'];
  const mode = typeof setting === 'object' && setting !== null ? setting.mode : 'raise';
  const wanted = numberOf(sysctlValues(profile)['fs.nr_open']);
  const nrOpen =
    wanted === undefined
      ? host.value
      : mode === 'raise'
        ? Math.max(wanted, host.value)
        : mode === 'lower'
          ? Math.min(wanted, host.value)
          : wanted;
  if (nofile > nrOpen) {
    const source =
      wanted !== undefined && nrOpen === wanted
        ? `fs.nr_open ${nrOpen} (${whereIs(merged, ['sysctl', 'fs.nr_open'])})`
        : `the host's fs.nr_open ${nrOpen} at boot (${host.source})`;
    at(
      'error',
      'NOFILE_ABOVE_NR_OPEN',
      ['limits', 'nofile'],
      `limits.nofile ${nofile} is above ${source}: PAM cannot set it and every login fails; lower nofile to ${nrOpen} or raise sysctl fs.nr_open to at least ${nofile}`,
    );
  }
}

function checkNetwork({ profile, at }: RuleContext): void {
  for (const [id, nic] of Object.entries(profile.nics ?? {})) {
    const m = nic.match;
    if (!m || (m.name === undefined) === (m.mac === undefined)) {
      at(
        'error',
        'MISSING_KEY',
        ['nics', id, ...(m ? ['match'] : [])],
        `NIC "${id}" needs match: with exactly one of name: (a name or glob like "enp5s0*") or mac: (like 52:54:00:12:34:56)`,
        'key',
      );
    }
    if (nic.addresses?.length && m?.name !== undefined && /[*?[]/.test(m.name)) {
      at(
        'error',
        'INVALID_VALUE',
        ['nics', id, 'addresses'],
        `NIC "${id}" matches the glob "${m.name}", which can match several NICs, so it cannot carry static addresses: match one NIC by mac: or an exact name`,
      );
    }
    if (nic.gateway !== undefined && !nic.addresses?.length) {
      at(
        'error',
        'MISSING_KEY',
        ['nics', id, 'gateway'],
        `NIC "${id}" has a gateway but no addresses: add addresses, or use dhcp4: true without a gateway`,
        'key',
      );
    }
    for (const problem of addressingProblems(nic)) at('error', 'INVALID_VALUE', ['nics', id, ...problem.path], problem.message);
  }
  for (const [section, what] of [
    ['bonds', 'bond'],
    ['vlans', 'VLAN'],
  ] as const) {
    for (const [id, i] of Object.entries(profile[section] ?? {})) {
      if (i.gateway !== undefined && !i.addresses?.length)
        at(
          'error',
          'MISSING_KEY',
          [section, id, 'gateway'],
          `${what} "${id}" has a gateway but no addresses: add addresses, or use dhcp4: true without a gateway`,
          'key',
        );
      for (const problem of addressingProblems(i)) at('error', 'INVALID_VALUE', [section, id, ...problem.path], problem.message);
    }
  }
  checkBridgeAddresses(profile, at);
  const nicTxq = profile.instances?.nic_txqueuelen;
  const m = profile.manager;
  if (nicTxq !== undefined && m) {
    const version = effectiveManagerVersion(profile.manager, profile.target);
    if (version && !supportsNicQueueTxLength(m.name, version)) {
      at(
        'warning',
        'UNSUPPORTED_BY_VERSION',
        ['instances', 'nic_txqueuelen'],
        `${m.name.toUpperCase()} ${version} has no NIC option queue.tx.length (added in LXD 5.10), so instances keep their default txqueuelen; use LXD 5.21 (install: snap) to apply it`,
      );
    }
  }
  if (profile.bridge && profile.manager && profile.bridge.ipv4 === undefined) {
    at(
      'error',
      'MISSING_KEY',
      ['bridge'],
      'bridge needs ipv4: an address with prefix like 10.10.0.1/24, or "none"; an explicit address keeps the manager from probing for a free subnet at first boot',
      'key',
    );
  }
  // Opening the host to every tenant is a decision someone must be able to read back later.
  if (profile.fence?.enabled === false && profile.fence.reason === undefined) {
    at(
      'error',
      'MISSING_KEY',
      ['fence', 'enabled'],
      'fence: {enabled: false} needs reason: one line saying why instances may reach the metadata service and the host (gen explain shows it)',
    );
  }
}

/**
 * Bonds and VLANs against the NICs they are built from, and MTUs against what netplan and the
 * kernel can do with them: each mistake here is one the host would only show at boot (a bond
 * without members, a VLAN the kernel refuses, a parameter networkd's bond rejects).
 */
function checkUplinks({ profile, at }: RuleContext): void {
  const nics = profile.nics ?? {};
  const bonds = profile.bonds ?? {};
  const vlans = profile.vlans ?? {};
  const declared = Object.keys(nics);
  const nicList = declared.length ? `nics: ${declared.join(', ')}` : 'no NICs are declared';
  const isGlob = (id: string) => /[*?[]/.test(nics[id]?.match?.name ?? '');
  const addressed = (i: { dhcp4?: boolean | undefined; addresses?: string[] | undefined }) =>
    i.dhcp4 !== undefined || (i.addresses?.length ?? 0) > 0;

  // netplan's ids share one namespace, and a bond's or VLAN's id is its interface name.
  const bridgeName = profile.bridge?.name ?? (profile.manager ? `${profile.manager.name}br0` : undefined);
  for (const [section, what] of [
    ['bonds', 'bond'],
    ['vlans', 'VLAN'],
  ] as const) {
    for (const id of Object.keys(profile[section] ?? {})) {
      const clash = Object.hasOwn(nics, id)
        ? `NIC "${id}" under nics:`
        : section === 'vlans' && Object.hasOwn(bonds, id)
          ? `bond "${id}"`
          : id === bridgeName
            ? `the manager's bridge ${bridgeName}`
            : undefined;
      if (clash)
        at(
          'error',
          'INCONSISTENT_VALUES',
          [section, id],
          `${what} "${id}" has the name of ${clash}: netplan and the kernel need one name per interface; rename it`,
          'key',
        );
    }
  }

  const bondOf = new Map<string, string>();
  for (const [id, bond] of Object.entries(bonds)) {
    bond.interfaces.forEach((member, k) => {
      const path = ['bonds', id, 'interfaces', k];
      if (!Object.hasOwn(nics, member)) {
        at(
          'error',
          'INVALID_VALUE',
          path,
          `bond "${id}" member "${member}" is not a NIC of this stack (${nicList}): declare it under nics: with a match:`,
        );
        return;
      }
      const other = bondOf.get(member);
      if (other !== undefined) {
        at(
          'error',
          'INCONSISTENT_VALUES',
          path,
          other === id
            ? `NIC "${member}" is listed twice in bond "${id}": list each member once`
            : `NIC "${member}" is already a member of bond "${other}": a NIC can be enslaved to one bond only`,
        );
        return;
      }
      bondOf.set(member, id);
      const nic = nics[member]!;
      // dhcp4: false asks for nothing; anything else would address a device the bond has taken.
      if (nic.dhcp4 === true || nic.addresses?.length || nic.gateway !== undefined || nic.nameservers !== undefined) {
        const key = nic.addresses?.length
          ? 'addresses'
          : nic.dhcp4 === true
            ? 'dhcp4'
            : nic.gateway !== undefined
              ? 'gateway'
              : 'nameservers';
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['nics', member, key],
          `NIC "${member}" is a member of bond "${id}", which carries its traffic: move its addressing to bonds.${id}`,
          'key',
        );
      }
      if (nic.mtu !== undefined && nic.mtu !== bond.mtu)
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['nics', member, 'mtu'],
          `NIC "${member}" has mtu ${nic.mtu}, but its bond "${id}" has ${bond.mtu === undefined ? `none (the Ethernet default ${ETHERNET_MTU})` : `mtu ${bond.mtu}`}: the kernel gives a bond's members the bond's MTU; set mtu on bonds.${id} and leave it off the members`,
        );
    });
    const p = bond.parameters ?? {};
    if (bond.mode === 'active-backup') {
      if (p['lacp-rate'] !== undefined)
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['bonds', id, 'parameters', 'lacp-rate'],
          `lacp-rate is an 802.3ad parameter, and bond "${id}" is active-backup (the kernel refuses lacp_rate in any other mode): remove it or use mode: 802.3ad`,
          'key',
        );
      if (p['transmit-hash-policy'] !== undefined)
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['bonds', id, 'parameters', 'transmit-hash-policy'],
          `transmit-hash-policy is an 802.3ad parameter, and bond "${id}" is active-backup, which sends on one member only: remove it or use mode: 802.3ad`,
          'key',
        );
    }
    if (p.primary !== undefined) {
      if (bond.mode !== 'active-backup')
        at(
          'error',
          'INCONSISTENT_VALUES',
          ['bonds', id, 'parameters', 'primary'],
          `primary is an active-backup parameter, and bond "${id}" is 802.3ad, which sends on every member: remove it or use mode: active-backup`,
          'key',
        );
      else if (!bond.interfaces.includes(p.primary))
        at(
          'error',
          'INVALID_VALUE',
          ['bonds', id, 'parameters', 'primary'],
          `primary "${p.primary}" is not a member of bond "${id}" (interfaces: ${bond.interfaces.join(', ')}): name one of them`,
        );
    }
  }

  /** A NIC's or bond's MTU as the kernel will have it, and how to say so. */
  const linkMtu = (link: string): { mtu: number; text: string } => {
    const own = Object.hasOwn(bonds, link) ? bonds[link]!.mtu : nics[link]?.mtu;
    return own !== undefined
      ? { mtu: own, text: `mtu ${own}` }
      : { mtu: ETHERNET_MTU, text: `no mtu, so the Ethernet default ${ETHERNET_MTU}` };
  };
  const tags = new Map<string, string>();
  const links = new Set<string>();
  for (const [id, vlan] of Object.entries(vlans)) {
    const isBond = Object.hasOwn(bonds, vlan.link);
    if (!isBond && !Object.hasOwn(nics, vlan.link)) {
      const known = [...declared, ...Object.keys(bonds)];
      at(
        'error',
        'INVALID_VALUE',
        ['vlans', id, 'link'],
        `VLAN "${id}" rides on "${vlan.link}", which is neither a NIC under nics: nor a bond under bonds: (${known.length ? known.join(', ') : 'none is declared'})`,
      );
      continue;
    }
    links.add(vlan.link);
    if (!isBond && bondOf.has(vlan.link))
      at(
        'error',
        'INCONSISTENT_VALUES',
        ['vlans', id, 'link'],
        `VLAN "${id}" rides on NIC "${vlan.link}", a member of bond "${bondOf.get(vlan.link)}": tag it on the bond (link: ${bondOf.get(vlan.link)}), which carries the member's traffic`,
      );
    if (!isBond && isGlob(vlan.link))
      at(
        'error',
        'INVALID_VALUE',
        ['vlans', id, 'link'],
        `VLAN "${id}" rides on NIC "${vlan.link}", which matches the glob "${nics[vlan.link]!.match!.name}" and can be several NICs: match its link by mac: or an exact name`,
      );
    const l = linkMtu(vlan.link);
    if (vlan.mtu !== undefined && vlan.mtu > l.mtu)
      at(
        'error',
        'INCONSISTENT_VALUES',
        ['vlans', id, 'mtu'],
        `VLAN "${id}" has mtu ${vlan.mtu}, above its link ${vlan.link}'s (${l.text}): the kernel refuses a VLAN larger than its link; lower it, or raise ${isBond ? 'bonds' : 'nics'}.${vlan.link}.mtu`,
      );
    const tag = `${vlan.link}\0${vlan.id}`;
    const first = tags.get(tag);
    if (first !== undefined)
      at(
        'error',
        'INCONSISTENT_VALUES',
        ['vlans', id, 'id'],
        `VLAN "${id}" tags id ${vlan.id} on ${vlan.link}, as VLAN "${first}" already does: one VLAN per id and link`,
      );
    else tags.set(tag, id);
  }

  // An MTU is set through netplan, which configures only the NICs it addresses, bonds or tags
  // VLANs on: a netplan entry for any other NIC would take it from the platform's network config.
  for (const [id, nic] of Object.entries(nics)) {
    if (nic.mtu !== undefined && !addressed(nic) && !bondOf.has(id) && !links.has(id))
      at(
        'error',
        'INCONSISTENT_VALUES',
        ['nics', id, 'mtu'],
        `NIC "${id}" has an mtu but no addressing, bond or VLAN: born-tuned sets an MTU through netplan, which configures only those NICs (an entry without addressing would take the NIC from the platform's network config); give it dhcp4 or addresses, or bond it`,
      );
  }
}

/** The bridge's own addresses: usable as a host address, clear of the host's NICs, and (IPv4) with
 * room for every planned instance. */
function checkBridgeAddresses(profile: Profile, at: RuleContext['at']): void {
  const nicSubnets = [
    ...Object.entries(profile.nics ?? {}).map(([id, i]) => [`NIC "${id}"`, i] as const),
    ...Object.entries(profile.bonds ?? {}).map(([id, i]) => [`bond "${id}"`, i] as const),
    ...Object.entries(profile.vlans ?? {}).map(([id, i]) => [`VLAN "${id}"`, i] as const),
  ].flatMap(([id, i]) => (i.addresses ?? []).map((a) => ({ id, text: a, i: parseInterface(a)! })));
  for (const family of ['ipv4', 'ipv6'] as const) {
    const text = profile.bridge?.[family];
    const bridge = text !== undefined && text !== 'none' ? parseInterface(text) : undefined;
    if (!bridge) continue;
    const path = ['bridge', family];
    const why = notAHostAddress(bridge);
    if (why)
      at(
        'error',
        'INVALID_VALUE',
        path,
        `bridge.${family} ${text} is ${why}, which the bridge cannot use as its own address: use an address inside the subnet, like ${firstHost(bridge)}`,
      );
    const clash = nicSubnets.find((n) => overlaps(n.i, bridge));
    if (clash)
      at(
        'error',
        'INCONSISTENT_VALUES',
        path,
        `bridge.${family} ${text} overlaps ${clash.id}'s subnet ${clash.text}: the host could not tell instances from that network; choose a subnet the host is not on`,
      );
    const instances = profile.capacity?.instances;
    if (family === 'ipv4' && instances !== undefined) {
      // The bridge takes one address of the subnet; every instance needs one more, with headroom
      // for the leases of instances just deleted.
      const free = hostAddresses(bridge) - 1n;
      const needed = bridgeAddressesFor(instances);
      if (free < BigInt(needed)) {
        at(
          'error',
          'CAPACITY_CONFLICT',
          path,
          `bridge.ipv4 ${text} leaves ${free} addresses for instances, fewer than ${needed} for capacity.instances ${instances} (10% more: a deleted instance's address stays leased for ipv4.dhcp.expiry, 1h): use a prefix of /${prefixFor(needed)} or shorter`,
        );
      }
    }
  }
}

/** The longest IPv4 prefix whose subnet holds `addresses` plus the bridge, network and broadcast. */
function prefixFor(addresses: number): number {
  let prefix = 30;
  while (prefix > 0 && 2 ** (32 - prefix) - 3 < addresses) prefix--;
  return prefix;
}

function firstHost(i: ReturnType<typeof parseInterface> & object): string {
  return `${formatIp({ family: i.family, value: networkOf(i) + 1n })}/${i.prefix}`;
}

function checkSecrets({ profile, merged, at }: RuleContext): void {
  const raw = (merged.value.server as Record<string, unknown> | undefined)?.trust_password;
  const m = profile.manager;
  if (raw === undefined || !m) return;
  const version = effectiveManagerVersion(profile.manager, profile.target);
  if (version && !supportsTrustPassword(m.name, version)) {
    at(
      'error',
      'UNSUPPORTED_BY_VERSION',
      ['server', 'trust_password'],
      `${m.name === 'incus' ? 'Incus has' : `LXD ${version} has`} no core.trust_password (${m.name === 'incus' ? 'it never had one' : 'removed in LXD 6.1'}): remove server.trust_password and add clients with join tokens (\`${m.name === 'incus' ? 'incus config trust add' : 'lxc config trust add'}\`)`,
      'key',
    );
  }
}

function checkStorage({ profile, at }: RuleContext): void {
  if (profile.storage_pools !== undefined && Object.keys(profile.storage_pools).length === 0) {
    at(
      'error',
      'MISSING_KEY',
      ['storage_pools'],
      'storage_pools is empty: define at least one pool (e.g. default: {driver: btrfs, source: /dev/disk/by-id/...}), or remove storage_pools for one dir pool named default',
      'key',
    );
  }
  const pools = profile.storage_pools ?? { default: { driver: 'dir' } };
  for (const [name, pool] of Object.entries(pools)) {
    if (pool.driver === 'dir' && pool.size !== undefined) {
      at(
        'error',
        'INVALID_VALUE',
        ['storage_pools', name, 'size'],
        'a dir pool has no size: remove size, or use driver btrfs, lvm or zfs for a loop-backed pool',
      );
    }
    const onDevice = isDeviceSource(pool.source);
    if (pool.driver === 'dir' && onDevice) {
      at(
        'error',
        'INVALID_VALUE',
        ['storage_pools', name, 'source'],
        `a dir pool lives in a directory, not on a device: use driver btrfs, lvm or zfs for ${pool.source}, or a directory`,
      );
    } else if (onDevice && pool.size !== undefined) {
      at(
        'error',
        'INVALID_VALUE',
        ['storage_pools', name, 'size'],
        `a pool on a device takes the whole device (${pool.source}): remove size, which sizes only loop-backed pools`,
      );
    }
    if (pool.wipe !== undefined && !onDevice) {
      at(
        'error',
        'INVALID_VALUE',
        ['storage_pools', name, 'wipe'],
        'wipe erases a source device: set source to a /dev/disk/by-id/ path, or remove wipe',
        'key',
      );
    }
  }
  const arcMax = profile.zfs?.arc_max;
  if (arcMax !== undefined) {
    if (!Object.values(pools).some((p) => p.driver === 'zfs')) {
      at('error', 'INVALID_VALUE', ['zfs', 'arc_max'], 'zfs.arc_max sizes the ZFS ARC, but no pool uses driver zfs: remove zfs', 'key');
    } else if (binaryBytes(arcMax) < ZFS_ARC_MAX_MIN) {
      at('error', 'INVALID_VALUE', ['zfs', 'arc_max'], `OpenZFS ignores a zfs_arc_max below 64MiB: use 64MiB or more`);
    }
  }
  const wanted = profile.instances?.storage_pool;
  if (wanted !== undefined && Object.keys(pools).length > 0 && !Object.hasOwn(pools, wanted)) {
    const defined = profile.storage_pools === undefined ? ' (without storage_pools the only pool is "default", a dir pool)' : '';
    at(
      'error',
      'INVALID_VALUE',
      ['instances', 'storage_pool'],
      `storage pool "${wanted}" is not defined${defined}: define it under storage_pools or use ${Object.keys(pools)
        .map((p) => `"${p}"`)
        .join(', ')}`,
    );
  }
}

/**
 * Keys whose value gen checks against other settings when it runs (capacity.instances, limits.nofile,
 * the gc_thresh order) or derives others from: a value read on the host would escape those checks.
 */
const NEEDS_A_KNOWN_VALUE = new Set([
  'fs.nr_open',
  'kernel.keys.maxkeys',
  ...['ipv4', 'ipv6'].flatMap((family) => [1, 2, 3].map((n) => `net.${family}.neigh.default.gc_thresh${n}`)),
]);

/** A `from_host` entry: it names another sysctl gen knows, one word of it, and no chain of reads. */
function checkFromHost(
  name: string,
  fromHost: { key: string; word: number },
  path: PathSegment[],
  profile: Profile,
  at: RuleContext['at'],
): void {
  if (NEEDS_A_KNOWN_VALUE.has(name)) {
    at(
      'error',
      'INVALID_VALUE',
      path,
      `${name} is checked against the other settings when gen runs, so its value must be known then: write a number instead of from_host`,
      'key',
    );
    return;
  }
  const source = canonicalSysctlName(fromHost.key);
  const sourcePath = [...path, 'from_host'];
  if (!SYSCTL_NAME.test(source) || !(SYSCTL_FACTS[source] || isDocumentedSysctl(source))) {
    const hint = SYSCTL_NAME.test(source) ? suggestSysctl(source, Object.keys(SYSCTL_FACTS)) : undefined;
    at(
      'error',
      'UNKNOWN_KEY',
      sourcePath,
      `from_host "${fromHost.key}" is not a sysctl the kernel documents${hint ? ` (did you mean "${hint}"?)` : ''}: name the key whose value on the host gives ${name}, like net.ipv4.tcp_mem`,
    );
    return;
  }
  if (source === name) {
    at('error', 'INVALID_VALUE', sourcePath, `${name} cannot be read from itself: name another sysctl, or write a number`);
    return;
  }
  const chained = Object.entries(profile.sysctl ?? {}).find(([k, s]) => canonicalSysctlName(k) === source && sysctlFromHostOf(s));
  if (chained) {
    at(
      'error',
      'INVALID_VALUE',
      sourcePath,
      `${source} is itself read from the host (from_host): read ${name} from a key with a value of its own`,
    );
    return;
  }
  const components = SYSCTL_FACTS[source]?.components;
  if (components !== undefined && fromHost.word > components) {
    at(
      'error',
      'OUT_OF_RANGE',
      [...path, 'word'],
      `${source} has ${components} word${components === 1 ? '' : 's'}, so word ${fromHost.word} does not exist: use a word from 1 to ${components}`,
    );
  }
}

/** The profile's sysctl values by name as gen writes it (short and long forms alike). */
function sysctlValues(profile: Profile): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, setting] of Object.entries(profile.sysctl ?? {})) out[canonicalSysctlName(key)] = sysctlValueOf(setting);
  return out;
}

/** The integers of a sysctl value ("1 2 3" or 42), or undefined when it is not all integers. */
function parseComponents(value: unknown): number[] | undefined {
  if (typeof value === 'number') return [value];
  if (typeof value !== 'string') return undefined;
  const parts = value.split(' ');
  if (!parts.every((p) => /^\d{1,16}$/.test(p))) return undefined;
  const nums = parts.map(Number);
  return nums.every(Number.isSafeInteger) ? nums : undefined;
}

function numberOf(value: unknown): number | undefined {
  const parts = parseComponents(value);
  return parts && parts.length === 1 ? parts[0] : undefined;
}
