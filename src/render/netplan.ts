import type { Addressing, BondPlan, HostPlan, NicAddressing, VlanPlan } from '../plan/model.ts';
import type { Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

/** netplan v2 data for the NICs, bonds and VLANs netplan configures (the same shape NoCloud's
 * network-config takes). */
export function buildNetplan(plan: HostPlan): Record<string, unknown> | undefined {
  if (plan.addressing.length === 0 && plan.bonds.length === 0 && plan.vlans.length === 0) return undefined;
  const network: Record<string, unknown> = { version: 2, renderer: 'networkd', ethernets: netplanEthernets(plan.addressing) };
  if (plan.bonds.length > 0) network.bonds = netplanBonds(plan.bonds);
  if (plan.vlans.length > 0) network.vlans = netplanVlans(plan.vlans);
  return { network };
}

function netplanBonds(bonds: readonly BondPlan[]): Record<string, unknown> {
  return Object.fromEntries(
    bonds.map((b) => [
      b.id,
      {
        interfaces: b.interfaces,
        ...(b.mtu !== undefined ? { mtu: b.mtu } : {}),
        parameters: { mode: b.mode, ...b.parameters },
        ...netplanAddressing(b),
      },
    ]),
  );
}

function netplanVlans(vlans: readonly VlanPlan[]): Record<string, unknown> {
  return Object.fromEntries(
    vlans.map((v) => [v.id, { id: v.vlanId, link: v.link, ...(v.mtu !== undefined ? { mtu: v.mtu } : {}), ...netplanAddressing(v) }]),
  );
}

/** The addressing keys of one netplan interface, in the order netplan's own examples write them. */
function netplanAddressing(i: Addressing): Record<string, unknown> {
  const entry: Record<string, unknown> = { dhcp4: i.dhcp4 };
  if (i.addresses.length) entry.addresses = i.addresses;
  if (i.gateway !== undefined) entry.routes = [{ to: i.gateway.includes(':') ? '::/0' : 'default', via: i.gateway }];
  if (i.nameservers.length) entry.nameservers = { addresses: i.nameservers };
  return entry;
}

/** The `ethernets:` map of netplan v2 for the NICs netplan configures (profiles and inventory hosts). */
export function netplanEthernets(nics: readonly NicAddressing[]): Record<string, unknown> {
  const ethernets: Record<string, unknown> = {};
  for (const nic of nics) {
    const entry: Record<string, unknown> = { match: 'mac' in nic.match ? { macaddress: nic.match.mac } : { name: nic.match.name } };
    if (nic.setName !== undefined) entry['set-name'] = nic.setName;
    if (nic.mtu !== undefined) entry.mtu = nic.mtu;
    ethernets[nic.id] = { ...entry, ...netplanAddressing(nic) };
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
