import { compareVersions, supportsNicQueueTxLength, supportsTrustPassword, type ManagerName } from '../facts/managers.ts';

/**
 * What each manager version's preseed parser and validators accept, for the keys this tool can emit
 * (read from LXD 5.0.2's and Incus 6.0.4's sources and their daemons: test/real/PRESEED-NOTES.md).
 * LXD and Incus parse preseeds strictly, so a key the version lacks fails `init --preseed` on the
 * host; this check catches it at generation time, including for versions the tests cannot run.
 */
export function preseedProblems(preseed: Record<string, unknown>, manager: ManagerName, version: string): string[] {
  const problems: string[] = [];
  const allow = (where: string, obj: unknown, keys: readonly string[]) => {
    for (const k of Object.keys((obj ?? {}) as object))
      if (!keys.includes(k)) problems.push(`${where}: "${k}" is not accepted by ${manager} ${version}`);
  };
  const top = ['config', 'networks', 'storage_pools', 'profiles', 'projects', 'cluster'];
  if (manager === 'incus' || compareVersions(version, '5.21') >= 0) top.push('storage_volumes');
  allow('top level', preseed, top);
  allow('config', preseed.config, [
    'core.https_address',
    'images.auto_update_interval',
    ...(supportsTrustPassword(manager, version) ? ['core.trust_password'] : []),
  ]);
  allow('cluster', preseed.cluster, ['server_name', 'enabled', 'server_address', 'cluster_token', 'member_config']);
  for (const m of list((preseed.cluster as Record<string, unknown> | undefined)?.member_config))
    allow('cluster member_config[]', m, ['entity', 'name', 'key', 'value', 'description']);
  for (const n of list(preseed.networks)) {
    allow('networks[]', n, ['name', 'type', 'description', 'config', 'project']);
    allow(`network ${String(n.name)} config`, n.config, ['ipv4.address', 'ipv4.nat', 'ipv6.address', 'ipv6.nat', 'bridge.mtu']);
  }
  for (const p of list(preseed.storage_pools)) {
    allow('storage_pools[]', p, ['name', 'driver', 'description', 'config']);
    const poolKeys = p.driver === 'dir' ? ['source'] : ['source', 'size'];
    if (p.driver === 'lvm') poolKeys.push('lvm.thinpool_name', 'lvm.use_thinpool');
    allow(`pool ${String(p.name)} config`, p.config, poolKeys);
  }
  for (const p of list(preseed.profiles)) {
    allow('profiles[]', p, ['name', 'description', 'config', 'devices', ...(manager === 'incus' ? ['project'] : [])]);
    allow(`profile ${String(p.name)} config`, p.config, ['security.idmap.isolated', 'security.nesting']);
    for (const [name, dev] of Object.entries((p.devices ?? {}) as Record<string, Record<string, unknown>>)) {
      const keys =
        dev.type === 'disk'
          ? ['path', 'pool', 'type']
          : ['name', 'network', 'nictype', 'parent', 'type', ...(supportsNicQueueTxLength(manager, version) ? ['queue.tx.length'] : [])];
      allow(`profile ${String(p.name)} device ${name}`, dev, keys);
    }
  }
  return problems;
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
}
