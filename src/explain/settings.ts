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
  for (const r of plan.txqueuelen) {
    const path: PathSegment[] = r.kind === 'bridge' ? ['bridge', 'txqueuelen'] : ['nics', r.id, 'txqueuelen'];
    add(`txqueuelen ${r.kind === 'bridge' ? `bridge ${r.id}` : `nic ${r.id}`}`, r.txqueuelen, at(path), SETTING_FACTS.txqueuelen);
  }
  add(
    'bridge',
    `${plan.bridge.name} ipv4=${plan.bridge.ipv4} ipv6=${plan.bridge.ipv6} nat=${plan.bridge.nat}`,
    at(['bridge', 'ipv4'], `${plan.bridge.name}, no addresses`),
    SETTING_FACTS.bridge,
  );
  add(
    'instances.idmap_isolated',
    plan.instances.idmapIsolated,
    at(['instances', 'idmap_isolated'], 'false'),
    SETTING_FACTS['instances.idmap_isolated'],
  );
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

/** `file:line (profile)` or the derivation, for tables. */
export function formatOrigin(origin: Setting['origin']): string {
  if ('derived' in origin) return `derived: ${origin.derived}`;
  if ('default' in origin) return `default: ${origin.default}`;
  return `${origin.file}:${origin.line}${origin.inherited ? ` (${origin.profile}, inherited through extends)` : ''}`;
}
