import type { HostPlan, NicAddressing } from '../plan/model.ts';
import type { Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

/** netplan v2 data for the NICs that have addressing (the same shape NoCloud's network-config takes). */
export function buildNetplan(plan: HostPlan): Record<string, unknown> | undefined {
  if (plan.addressing.length === 0) return undefined;
  return { network: { version: 2, renderer: 'networkd', ethernets: netplanEthernets(plan.addressing) } };
}

/** The `ethernets:` map of netplan v2 for NICs with addressing (profiles and inventory hosts). */
export function netplanEthernets(nics: readonly NicAddressing[]): Record<string, unknown> {
  const ethernets: Record<string, unknown> = {};
  for (const nic of nics) {
    const entry: Record<string, unknown> = { match: 'mac' in nic.match ? { macaddress: nic.match.mac } : { name: nic.match.name } };
    if (nic.setName !== undefined) entry['set-name'] = nic.setName;
    entry.dhcp4 = nic.dhcp4;
    if (nic.addresses.length) entry.addresses = nic.addresses;
    if (nic.gateway !== undefined) entry.routes = [{ to: nic.gateway.includes(':') ? '::/0' : 'default', via: nic.gateway }];
    if (nic.nameservers.length) entry.nameservers = { addresses: nic.nameservers };
    ethernets[nic.id] = entry;
  }
  return ethernets;
}

/** `network/60-born-tuned.yaml`: copy to /etc/netplan/ (mode 0600) or use as NoCloud network-config. */
export function renderNetplan(header: string, netplan: Record<string, unknown>): Artifact {
  return {
    kind: 'netplan',
    path: 'network/60-born-tuned.yaml',
    mode: 0o600,
    purpose: 'host addressing (netplan v2): copy to /etc/netplan/ or use as NoCloud network-config',
    text: renderTemplate('netplan.yaml', { header, netplan }),
    format: 'yaml',
    data: netplan,
  };
}
