import { dirname, resolve as resolvePath } from 'node:path';
import { DiagnosticBag, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { joinTokenInUserData } from '../secrets/exposure.ts';
import { own } from '../base/data.ts';
import type { Merged } from '../resolve/merge.ts';
import { validateWith, reportAt } from '../schema/validate.ts';
import type { Source } from '../source/load.ts';
import { addressingProblems } from '../schema/addressing.ts';
import { canonicalIp, overlaps, parseInterface } from '../schema/ip.ts';
import { InventorySchema, type HostNic } from './schema.ts';
import type { SecretRef, TokenSource } from '../plan/model.ts';

/** One host of an inventory with everything resolved: its stack, its includes, its network. */
interface PlannedHost {
  key: string;
  hostname: string;
  profiles: string[];
  /** Absolute paths of cloud-config files to fold in, defaults first, host last. */
  includes: string[];
  nics: { id: string; nic: HostNic }[];
  /** Warnings about this host alone (a join token in its user-data), reported when it is rendered. */
  warnings: Diagnostic[];
  /** Cluster membership, with the member's address resolved. */
  cluster?: { role: 'bootstrap' | 'join'; address: string; token?: SecretRef; tokenFrom?: TokenSource };
}

/**
 * Validates an inventory and resolves each host's settings (host over group over defaults).
 * Duplicate hostnames, MAC addresses and IP addresses are errors reported at the second use.
 */
/** What the inventory's checks need from a host's stack (undefined when the stack is invalid: its
 * own diagnostics are reported when it is rendered). */
export interface StackFacts {
  /** Manager name and version, which every member of one cluster must share. */
  manager: string;
  /** The bridge's IPv4 and IPv6 subnets ("none" for none), which must not overlap the host's NICs. */
  bridge: { ipv4: string; ipv6: string };
}

export function resolveInventory(
  source: Source,
  bag: DiagnosticBag,
  stackFacts: (profiles: readonly string[]) => StackFacts | undefined = () => undefined,
): PlannedHost[] | undefined {
  const merged: Merged = { value: source.value ?? {}, origins: new Map(), fallback: source };
  const inventory = validateWith(InventorySchema, merged, bag);
  if (!inventory) return undefined;
  const base = dirname(source.file);
  const at = (path: (string | number)[], message: string, code: 'INVALID_VALUE' | 'MISSING_KEY' = 'INVALID_VALUE') =>
    reportAt(bag, merged, 'error', code, path, message);
  const seen = {
    hostname: new Map<string, string>(),
    mac: new Map<string, string>(),
    address: new Map<string, string>(),
    'cluster address': new Map<string, string>(),
  };
  const claim = (kind: keyof typeof seen, value: string, owner: string, path: (string | number)[]) => {
    const first = seen[kind].get(value);
    if (first !== undefined) at(path, `${kind} ${value} is already used by host ${first}: every host needs its own`);
    else seen[kind].set(value, owner);
  };
  const hosts: PlannedHost[] = [];
  let bootstrap: string | undefined;
  let clusterManager: { manager: string; host: string } | undefined;
  if (Object.keys(inventory.hosts).length === 0) at(['hosts'], 'the inventory lists no hosts', 'MISSING_KEY');
  for (const [key, host] of Object.entries(inventory.hosts)) {
    const group = host.group !== undefined ? own(inventory.groups, host.group) : undefined;
    if (host.group !== undefined && !group) {
      at(
        ['hosts', key, 'group'],
        `group "${host.group}" is not defined under groups:${inventory.groups ? ` (groups: ${Object.keys(inventory.groups).join(', ')})` : ''}`,
      );
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
      if ((nic.mac === undefined) === (nic.name === undefined))
        at(['hosts', key, 'nics', id], `NIC ${id} needs exactly one of mac: or name:`, 'MISSING_KEY');
      if (nic.mac !== undefined) claim('mac', nic.mac, key, ['hosts', key, 'nics', id, 'mac']);
      // One address written two ways (2001:db8::1 and 2001:DB8:0::1) is one address.
      (nic.addresses ?? []).forEach((a, i) =>
        claim('address', canonicalIp(a.split('/')[0]!)!, key, ['hosts', key, 'nics', id, 'addresses', i]),
      );
      if (nic.gateway !== undefined && !nic.addresses?.length)
        at(['hosts', key, 'nics', id, 'gateway'], `NIC ${id} has a gateway but no addresses`);
      for (const problem of addressingProblems(nic)) at(['hosts', key, 'nics', id, ...problem.path], problem.message);
    }
    const includes = [...(inventory.defaults?.include ?? []), ...(group?.include ?? []), ...(host.include ?? [])].map((f) =>
      resolvePath(base, f),
    );
    const facts = stackFacts(profiles);
    if (facts) checkBridgeClear(facts, nics, key, at);
    let cluster: PlannedHost['cluster'];
    if (host.cluster) {
      const c = host.cluster;
      const ownAddresses = nics.flatMap(({ nic }) => nic.addresses ?? []).map((a) => canonicalIp(a.split('/')[0]!)!);
      if (c.address !== undefined && ownAddresses.length > 0 && !ownAddresses.includes(canonicalIp(c.address)!)) {
        at(
          ['hosts', key, 'cluster', 'address'],
          `cluster.address ${c.address} is not one of host ${key}'s addresses (${ownAddresses.join(', ')}): the other members could not reach it there`,
        );
      }
      if (c.role === 'bootstrap') {
        if (bootstrap !== undefined)
          at(
            ['hosts', key, 'cluster', 'role'],
            `host ${bootstrap} already bootstraps the cluster: a cluster has one bootstrap member, the others join`,
          );
        else bootstrap = key;
      }
      if (facts) {
        if (clusterManager === undefined) clusterManager = { manager: facts.manager, host: key };
        else if (clusterManager.manager !== facts.manager)
          at(
            ['hosts', key, 'profiles'],
            `host ${key} runs ${facts.manager} but cluster member ${clusterManager.host} runs ${clusterManager.manager}: every member of a cluster runs the same manager and version`,
          );
      }
      const ip = c.address ?? ownAddresses[0];
      if (ip === undefined)
        at(
          ['hosts', key, 'cluster'],
          `cluster member ${key} needs an address: give cluster.address or a static address on one of its NICs`,
          'MISSING_KEY',
        );
      if (c.role === 'join' && c.token === undefined && c.token_from === undefined)
        at(
          ['hosts', key, 'cluster'],
          `a joining member needs its join token (from \`incus cluster add ${key}\` / \`lxc cluster add ${key}\`): cluster.token: {env: VARIABLE} or {file: /path} read by gen, or cluster.token_from: {file: /path/on/host} or {command: "..."} fetched at first boot`,
          'MISSING_KEY',
        );
      if (c.role === 'join' && c.token !== undefined && c.token_from !== undefined)
        at(
          ['hosts', key, 'cluster', 'token_from'],
          'a joining member takes its token one way: cluster.token (read by gen, carried in user-data) or cluster.token_from (fetched at first boot), not both',
        );
      for (const field of ['token', 'token_from'] as const)
        if (c.role === 'bootstrap' && c[field] !== undefined)
          at(
            ['hosts', key, 'cluster', field],
            `the bootstrapping member creates the cluster and needs no join token: remove cluster.${field}`,
          );
      const port = c.port ?? 8443;
      if (ip !== undefined) {
        const address = ip.includes(':') ? `[${canonicalIp(ip)}]:${port}` : `${ip}:${port}`;
        claim('cluster address', address, key, ['hosts', key, 'cluster', ...(c.address !== undefined ? ['address'] : [])]);
        cluster = {
          role: c.role,
          address,
          ...(c.token ? { token: c.token } : {}),
          ...(c.token_from ? { tokenFrom: c.token_from } : {}),
        };
      }
    }
    hosts.push({
      key,
      hostname,
      warnings: host.cluster?.role === 'join' && host.cluster.token !== undefined ? joinTokenInUserData(merged, key) : [],
      profiles: profiles.map((p) => (p.endsWith('.yaml') ? resolvePath(base, p) : p)),
      includes,
      nics,
      ...(cluster ? { cluster } : {}),
    });
  }
  return bag.hasErrors ? undefined : hosts;
}

/** A host's NICs and its stack's bridge must be on different subnets: the host could not tell its
 * own network from its instances'. */
function checkBridgeClear(
  facts: StackFacts,
  nics: { id: string; nic: HostNic }[],
  key: string,
  at: (path: (string | number)[], message: string) => void,
): void {
  for (const family of ['ipv4', 'ipv6'] as const) {
    const bridge = facts.bridge[family] === 'none' ? undefined : parseInterface(facts.bridge[family]);
    if (!bridge) continue;
    for (const { id, nic } of nics) {
      (nic.addresses ?? []).forEach((a, i) => {
        if (overlaps(parseInterface(a)!, bridge))
          at(
            ['hosts', key, 'nics', id, 'addresses', i],
            `${a} overlaps the subnet of the stack's bridge (bridge.${family} ${facts.bridge[family]}): give the host an address outside it, or the stack another bridge subnet`,
          );
      });
    }
  }
}
