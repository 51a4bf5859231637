import { dirname, resolve as resolvePath } from 'node:path';
import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { own } from '../source/data.ts';
import type { Merged } from '../resolve/merge.ts';
import { validateWith, reportAt } from '../schema/validate.ts';
import type { Source } from '../source/load.ts';
import { InventorySchema, type HostNic } from './schema.ts';
import type { SecretRef } from '../plan/model.ts';

/** One host of an inventory with everything resolved: its stack, its includes, its network. */
export interface PlannedHost {
  key: string;
  hostname: string;
  profiles: string[];
  /** Absolute paths of cloud-config files to fold in, defaults first, host last. */
  includes: string[];
  nics: { id: string; nic: HostNic }[];
  /** Cluster membership, with the member's address resolved. */
  cluster?: { role: 'bootstrap' | 'join'; address: string; token?: SecretRef };
}

/**
 * Validates an inventory and resolves each host's settings (host over group over defaults).
 * Duplicate hostnames, MAC addresses and IP addresses are errors reported at the second use.
 */
export function resolveInventory(source: Source, bag: DiagnosticBag): PlannedHost[] | undefined {
  const merged: Merged = { value: source.value ?? {}, origins: new Map(), fallback: source };
  const inventory = validateWith(InventorySchema, merged, bag);
  if (!inventory) return undefined;
  const base = dirname(source.file);
  const at = (path: (string | number)[], message: string, code: 'INVALID_VALUE' | 'MISSING_KEY' = 'INVALID_VALUE') => reportAt(bag, merged, 'error', code, path, message);
  const seen = { hostname: new Map<string, string>(), mac: new Map<string, string>(), address: new Map<string, string>() };
  const claim = (kind: keyof typeof seen, value: string, owner: string, path: (string | number)[]) => {
    const first = seen[kind].get(value);
    if (first !== undefined) at(path, `${kind} ${value} is already used by host ${first}: every host needs its own`);
    else seen[kind].set(value, owner);
  };
  const hosts: PlannedHost[] = [];
  if (Object.keys(inventory.hosts).length === 0) at(['hosts'], 'the inventory lists no hosts', 'MISSING_KEY');
  for (const [key, host] of Object.entries(inventory.hosts)) {
    const group = host.group !== undefined ? own(inventory.groups, host.group) : undefined;
    if (host.group !== undefined && !group) {
      at(['hosts', key, 'group'], `group "${host.group}" is not defined under groups:${inventory.groups ? ` (groups: ${Object.keys(inventory.groups).join(', ')})` : ''}`);
      continue;
    }
    const profiles = host.profiles ?? group?.profiles ?? inventory.defaults?.profiles;
    if (!profiles) {
      at(['hosts', key], `host ${key} has no profiles: set profiles: on the host, its group or defaults:`, 'MISSING_KEY');
      continue;
    }
    const hostname = host.hostname ?? key;
    claim('hostname', hostname, key, ['hosts', key, ...(host.hostname ? ['hostname'] : [])]);
    const nics = Object.entries(host.nics ?? {}).map(([id, nic]) => ({ id, nic }));
    for (const { id, nic } of nics) {
      if ((nic.mac === undefined) === (nic.name === undefined)) at(['hosts', key, 'nics', id], `NIC ${id} needs exactly one of mac: or name:`, 'MISSING_KEY');
      if (nic.mac !== undefined) claim('mac', nic.mac, key, ['hosts', key, 'nics', id, 'mac']);
      (nic.addresses ?? []).forEach((a, i) => claim('address', a.split('/')[0]!.toLowerCase(), key, ['hosts', key, 'nics', id, 'addresses', i]));
      if (nic.gateway !== undefined && !nic.addresses?.length) at(['hosts', key, 'nics', id, 'gateway'], `NIC ${id} has a gateway but no addresses`);
    }
    const includes = [...(inventory.defaults?.include ?? []), ...(group?.include ?? []), ...(host.include ?? [])].map((f) => resolvePath(base, f));
    let cluster: PlannedHost['cluster'];
    if (host.cluster) {
      const c = host.cluster;
      const ip = c.address ?? nics.flatMap(({ nic }) => nic.addresses ?? [])[0]?.split('/')[0];
      if (ip === undefined) at(['hosts', key, 'cluster'], `cluster member ${key} needs an address: give cluster.address or a static address on one of its NICs`, 'MISSING_KEY');
      if (c.role === 'join' && c.token === undefined) at(['hosts', key, 'cluster'], `a joining member needs its join token by reference: cluster.token: {env: VARIABLE} or {file: /path} (from \`incus cluster add ${key}\` / \`lxc cluster add ${key}\`)`, 'MISSING_KEY');
      if (c.role === 'bootstrap' && c.token !== undefined) at(['hosts', key, 'cluster', 'token'], 'the bootstrapping member creates the cluster and needs no join token: remove cluster.token');
      const port = c.port ?? 8443;
      if (ip !== undefined) cluster = { role: c.role, address: ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`, ...(c.token ? { token: c.token } : {}) };
    }
    hosts.push({ key, hostname, profiles: profiles.map((p) => (p.endsWith('.yaml') ? resolvePath(base, p) : p)), includes, nics, ...(cluster ? { cluster } : {}) });
  }
  return bag.hasErrors ? undefined : hosts;
}
