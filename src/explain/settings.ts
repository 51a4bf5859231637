import { originOf } from '../resolve/merge.ts';
import type { ResolvedStack } from '../pipeline.ts';
import type { Provenance } from '../plan/model.ts';
import { DMESG_RESTRICT_FACT, SYSCTL_FACTS } from '../facts/sysctl.ts';
import { positionOf, type PathSegment } from '../source/position.ts';
import { SETTING_FACTS, type SettingFact } from '../facts/settings.ts';
import { targetLabel } from '../facts/targets.ts';

/** One setting a stack produces, with where it came from and why it is there. */
export interface Setting {
  /** Stable id, e.g. `sysctl fs.inotify.max_user_watches`, `txqueuelen uplink`. */
  id: string;
  value: string;
  /** `file:line` and the profile that set it, or how it was derived or defaulted. */
  origin: { file: string; line: number; profile: string; inherited: boolean } | { derived: string } | { default: string };
  kernelDefault?: string;
  /** How a sysctl's value meets the host's (raise, exact, lower) and why that mode. */
  mode?: string;
  why?: string;
  prevents?: string;
  source?: string;
}

/** Every setting of a resolved stack, in a stable order. Never includes a secret's value. */
export function settingsOf(stack: ResolvedStack): Setting[] {
  const { plan } = stack;
  const rows: Setting[] = [];
  const originFor = (from: Provenance, fallback: string): Setting['origin'] => {
    if ('derived' in from) return { derived: from.derived };
    const source = originOf(stack.merged.origins, from.path);
    if (!source) return { default: fallback };
    return {
      file: source.display,
      line: positionOf(source, from.path).line,
      profile: source.name,
      inherited: !plan.stack.includes(source.name),
    };
  };
  const at = (path: PathSegment[], fallback = 'tool default') => originFor({ path }, fallback);
  const add = (id: string, value: string | number | boolean, origin: Setting['origin'], fact?: SettingFact) =>
    rows.push({
      id,
      value: String(value),
      origin,
      ...(fact ? { kernelDefault: fact.kernelDefault, why: fact.why, prevents: fact.prevents, source: fact.source } : {}),
    });

  add('target', targetLabel(plan.target), at(['target']), SETTING_FACTS.target);
  add('manager', `${plan.manager.name} ${plan.manager.version} (${plan.manager.install})`, at(['manager']), SETTING_FACTS.manager);
  add('capacity.instances', plan.capacity.instances, at(['capacity', 'instances']), SETTING_FACTS.capacity);
  for (const s of plan.sysctl) {
    const fact = s.key === 'kernel.dmesg_restrict' ? DMESG_RESTRICT_FACT : SYSCTL_FACTS[s.key];
    add(`sysctl ${s.key}`, s.value, originFor(s.from, 'tool default'), fact ? { ...fact, kernelDefault: fact.kernelDefault } : undefined);
    rows.at(-1)!.mode = `${s.mode} (${s.modeFrom})`;
  }
  add('limits nofile', plan.limits.nofile, at(['limits', 'nofile'], "documents' value 1048576"), SETTING_FACTS['limits.nofile']);
  add('limits memlock', plan.limits.memlock, at(['limits', 'memlock'], "documents' value unlimited"), SETTING_FACTS['limits.memlock']);
  if (plan.limits.nproc !== undefined) add('limits nproc', plan.limits.nproc, at(['limits', 'nproc']), SETTING_FACTS['limits.nproc']);
  add(
    'hide_instance_names',
    plan.hideInstanceNames,
    at(['hide_instance_names'], 'on unless the profile says false'),
    SETTING_FACTS.hide_instance_names,
  );
  const timer = plan.verifyTimer;
  add(
    'verify.timer',
    timer ? `every ${timer.interval}${timer.textfile !== undefined ? `, metrics to ${timer.textfile}` : ''}` : 'off',
    at(['verify', 'timer'], 'off: born-tuned-verify is installed, run it by hand'),
    SETTING_FACTS['verify.timer'],
  );
  for (const r of plan.txqueuelen) {
    const path: PathSegment[] = r.kind === 'bridge' ? ['bridge', 'txqueuelen'] : [`${r.kind}s`, r.id, 'txqueuelen'];
    add(`txqueuelen ${r.kind} ${r.id}`, r.txqueuelen, r.inherited ? { derived: r.inherited } : at(path), SETTING_FACTS.txqueuelen);
  }
  uplinkRows(plan, at, add);
  add(
    'bridge',
    `${plan.bridge.name} ipv4=${plan.bridge.ipv4} ipv6=${plan.bridge.ipv6} nat=${plan.bridge.nat}`,
    at(['bridge', 'ipv4'], `${plan.bridge.name}, no addresses`),
    SETTING_FACTS.bridge,
  );
  add(
    'fence',
    plan.fence.enabled ? `on: inet born_tuned_fence on ${plan.bridge.name}` : `off: ${plan.fence.reason}`,
    at(['fence', 'enabled'], 'on unless the profile turns it off with a reason'),
    SETTING_FACTS.fence,
  );
  add(
    'instances.idmap_isolated',
    plan.instances.idmapIsolated,
    at(['instances', 'idmap_isolated'], 'false'),
    SETTING_FACTS['instances.idmap_isolated'],
  );
  if (plan.subordinateIds)
    add(
      'subids root',
      `${plan.subordinateIds.ids} ids in /etc/subuid and /etc/subgid`,
      originFor(plan.subordinateIds.from, 'tool default'),
      SETTING_FACTS.subids,
    );
  for (const m of plan.modules) add(`module ${m.name}`, 'loaded at boot', { default: m.why }, SETTING_FACTS[`module ${m.name}`]);
  add('instances.nesting', plan.instances.nesting, at(['instances', 'nesting'], 'false'), SETTING_FACTS['instances.nesting']);
  if (plan.instances.nicTxqueuelen !== undefined)
    add(
      'instances.nic_txqueuelen',
      plan.instances.nicTxqueuelen,
      at(['instances', 'nic_txqueuelen']),
      SETTING_FACTS['instances.nic_txqueuelen'],
    );
  for (const p of plan.storagePools)
    add(
      `storage_pool ${p.name}`,
      [p.driver, p.source, p.size, p.wipe ? 'wipe' : '', p.lvmThinpool ? `thin pool ${p.lvmThinpool}` : ''].filter(Boolean).join(' '),
      at(['storage_pools', p.name], 'one dir pool named default'),
      SETTING_FACTS.storage_pools,
    );
  if (plan.storage.packages.length > 0)
    add(
      'storage packages',
      [...plan.storage.packages, ...(plan.storage.kernelHeaders ? ['linux-headers-$(uname -r)'] : [])].join(' ') +
        (plan.storage.contrib ? ' (contrib)' : ''),
      { derived: `the drivers of ${plan.storagePools.map((p) => `${p.name} (${p.driver})`).join(', ')}` },
      SETTING_FACTS['storage.packages'],
    );
  if (plan.storage.zfsArcMax !== undefined)
    add('zfs.arc_max', plan.storage.zfsArcMax, at(['zfs', 'arc_max']), SETTING_FACTS['zfs.arc_max']);
  if (plan.server.httpsAddress !== undefined) add('server.https_address', plan.server.httpsAddress, at(['server', 'https_address']));
  if (plan.server.trustPassword !== undefined) {
    const ref = plan.server.trustPassword;
    add(
      'server.trust_password',
      'env' in ref ? `from $${ref.env} (not shown)` : `from ${ref.file} (not shown)`,
      at(['server', 'trust_password']),
    );
  }
  return rows;
}

/**
 * The uplink's rows: each bond and VLAN, then the MTU of every interface that has one (its own, or
 * a member's bond's, or a VLAN's link's), then the bridge's when it follows them.
 */
function uplinkRows(
  plan: ResolvedStack['plan'],
  at: (path: PathSegment[]) => Setting['origin'],
  add: (id: string, value: string | number, origin: Setting['origin'], fact?: SettingFact) => void,
): void {
  for (const b of plan.bonds) {
    const params = Object.entries(b.parameters).map(([k, v]) => `${k} ${v}`);
    add(`bond ${b.id}`, [`${b.mode} of ${b.interfaces.join(', ')}`, ...params].join(', '), at(['bonds', b.id]), SETTING_FACTS.bonds);
  }
  for (const v of plan.vlans) add(`vlan ${v.id}`, `id ${v.vlanId} on ${v.link}`, at(['vlans', v.id]), SETTING_FACTS.vlans);
  const bondOf = new Map(plan.bonds.flatMap((b) => b.interfaces.map((m) => [m, b] as const)));
  for (const n of plan.addressing) {
    if (n.mtu === undefined) continue;
    const bond = bondOf.get(n.id);
    const origin = bond?.mtu !== undefined ? { derived: `the MTU of its bond ${bond.id}` } : at(['nics', n.id, 'mtu']);
    add(`mtu nic ${n.id}`, n.mtu, origin, SETTING_FACTS.mtu);
  }
  for (const b of plan.bonds) if (b.mtu !== undefined) add(`mtu bond ${b.id}`, b.mtu, at(['bonds', b.id, 'mtu']), SETTING_FACTS.mtu);
  for (const v of plan.vlans) {
    const link = plan.bonds.find((b) => b.id === v.link) ?? plan.addressing.find((n) => n.id === v.link);
    if (v.mtu !== undefined) add(`mtu vlan ${v.id}`, v.mtu, at(['vlans', v.id, 'mtu']), SETTING_FACTS.mtu);
    else if (link?.mtu !== undefined)
      add(
        `mtu vlan ${v.id}`,
        link.mtu,
        { derived: `the MTU of its link ${v.link} (the kernel gives a VLAN its link's)` },
        SETTING_FACTS.mtu,
      );
  }
  if (plan.bridge.mtu !== undefined) add('bridge.mtu', plan.bridge.mtu, { derived: plan.bridge.mtuFrom! }, SETTING_FACTS['bridge.mtu']);
}

/** `file:line (profile)` or the derivation, for tables. */
export function formatOrigin(origin: Setting['origin']): string {
  if ('derived' in origin) return `derived: ${origin.derived}`;
  if ('default' in origin) return `default: ${origin.default}`;
  return `${origin.file}:${origin.line}${origin.inherited ? ` (${origin.profile}, inherited through extends)` : ''}`;
}
