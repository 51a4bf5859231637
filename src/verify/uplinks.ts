import type { HostPlan, NicAddressing } from '../plan/model.ts';
import { listInRoot, readInRoot } from './root-fs.ts';
import type { VerifyRow } from './verify.ts';

/** What verify reads of one sysfs or procfs file: its text trimmed, or undefined. */
type Read = (path: string) => string | undefined;

/** Reads a small kernel file under `root` (sysfs and procfs values are a line or a few). */
function reader(root: string): Read {
  return (path) => {
    const r = readInRoot(root, path, { maxBytes: 64 * 1024, within: `/${path.split('/')[1]}` });
    return r.ok ? r.bytes.toString('utf8').trim() : undefined;
  };
}

/** The network devices of the host, or undefined when /sys/class/net cannot be listed (an image
 * that is not running has none). */
function netDevices(root: string): string[] | undefined {
  const listing = listInRoot(root, '/sys/class/net', '/sys');
  return listing.ok ? listing.names : undefined;
}

/** A shell-style glob (`*`, `?`, `[...]`) as a regular expression over a whole name. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/**
 * The devices a NIC match names. A bond takes a member's MAC and gives it to the other members,
 * so a MAC names the device whose own (permanent) address it is, which is the one udev and netplan
 * matched when it was added (netplan matches PermanentMACAddress=); a bond is never a MAC's NIC.
 */
export function devicesMatching(root: string, devices: readonly string[], match: NicAddressing['match']): string[] {
  const read = reader(root);
  return devices.filter((d) => {
    if (!('mac' in match)) return d !== 'lo' && globToRegExp(match.name).test(d);
    if (read(`/sys/class/net/${d}/bonding/mode`) !== undefined) return false;
    return (read(`/sys/class/net/${d}/bonding_slave/perm_hwaddr`) ?? read(`/sys/class/net/${d}/address`)) === match.mac;
  });
}

/**
 * Rows for the uplink netplan was asked for: each bond's mode, parameters and members (enslaved,
 * link up), each VLAN's id and link, the MTU of every interface that has one, and the bridge's MTU
 * when it follows them. A device that is missing is ABSENT where no kernel is running (an image:
 * /sys/class/net cannot be listed) and FAIL on a running host, except the bridge, which exists
 * only once the manager has started (`live`).
 */
export function verifyUplinks(plan: HostPlan, root: string, rows: VerifyRow[], live: boolean): void {
  if (plan.bonds.length === 0 && plan.vlans.length === 0 && plan.bridge.mtu === undefined && !plan.addressing.some((n) => n.mtu)) return;
  const read = reader(root);
  const devices = netDevices(root);
  const missing = (check: string, wanted: string, device: string, status: VerifyRow['status'] = 'FAIL') =>
    rows.push({
      check,
      status: devices === undefined ? 'ABSENT' : status,
      wanted,
      actual: '-',
      note: devices === undefined ? '/sys/class/net cannot be listed (no running kernel)' : `no device ${device}`,
    });
  const row = (check: string, wanted: string, actual: string | undefined, note?: string) =>
    rows.push({ check, status: actual === wanted ? 'PASS' : 'FAIL', wanted, actual: actual ?? '-', ...(note ? { note } : {}) });
  const nicById = new Map(plan.addressing.map((n) => [n.id, n]));

  for (const bond of plan.bonds) {
    const dir = `/sys/class/net/${bond.id}/bonding`;
    const mode = read(`${dir}/mode`);
    if (mode === undefined) {
      missing(`bond ${bond.id} mode`, bond.mode, bond.id);
      continue;
    }
    // The bonding driver prints a setting as "NAME NUMBER" (e.g. "active-backup 1").
    row(`bond ${bond.id} mode`, bond.mode, mode.split(' ')[0]);
    const p = bond.parameters;
    row(`bond ${bond.id} mii-monitor-interval`, String(p['mii-monitor-interval']), read(`${dir}/miimon`));
    if (p['lacp-rate']) row(`bond ${bond.id} lacp-rate`, p['lacp-rate'], read(`${dir}/lacp_rate`)?.split(' ')[0]);
    if (p['transmit-hash-policy'])
      row(`bond ${bond.id} transmit-hash-policy`, p['transmit-hash-policy'], read(`${dir}/xmit_hash_policy`)?.split(' ')[0]);
    const slaves = (read(`${dir}/slaves`) ?? '').split(/\s+/).filter(Boolean);
    for (const member of bond.interfaces) {
      const nic = nicById.get(member);
      const mine = nic ? devicesMatching(root, slaves, nic.match) : [];
      const up = mine.filter((d) => read(`/sys/class/net/${d}/bonding_slave/mii_status`) === 'up');
      rows.push({
        check: `bond ${bond.id} member ${member}`,
        status: mine.length > 0 && up.length === mine.length ? 'PASS' : 'FAIL',
        wanted: 'enslaved, link up',
        actual: mine.length
          ? mine.map((d) => `${d} ${up.includes(d) ? 'up' : 'down'}`).join(', ')
          : `not enslaved (slaves: ${slaves.join(' ') || 'none'})`,
      });
    }
    if (p.primary !== undefined) {
      const nic = nicById.get(p.primary);
      const primary = read(`${dir}/primary`);
      const ok = nic !== undefined && primary !== undefined && devicesMatching(root, [primary], nic.match).length === 1;
      rows.push({ check: `bond ${bond.id} primary`, status: ok ? 'PASS' : 'FAIL', wanted: p.primary, actual: primary || '-' });
    }
  }

  // /proc/net/vlan/config: "NAME | VID | LINK" per VLAN, after two header lines.
  const vlanConfig = new Map(
    (read('/proc/net/vlan/config') ?? '')
      .split('\n')
      .slice(2)
      .map((l) => l.split('|').map((f) => f.trim()))
      .filter((f) => f.length === 3)
      .map(([name, vid, link]) => [name!, `id ${vid} on ${link}`]),
  );
  for (const vlan of plan.vlans) {
    const got = vlanConfig.get(vlan.id);
    if (got === undefined) missing(`vlan ${vlan.id}`, `id ${vlan.vlanId} on ${vlan.link}`, vlan.id);
    else row(`vlan ${vlan.id}`, `id ${vlan.vlanId} on ${vlan.link}`, got);
  }

  const mtuRow = (check: string, wanted: number, names: string[], what: string, status?: VerifyRow['status']) => {
    if (names.length === 0) return missing(check, String(wanted), what, status);
    for (const d of names) row(`${check} (${d})`, String(wanted), read(`/sys/class/net/${d}/mtu`));
  };
  for (const n of plan.addressing)
    if (n.mtu !== undefined)
      mtuRow(`mtu nic ${n.id}`, n.mtu, devicesMatching(root, devices ?? [], n.match), 'mac' in n.match ? n.match.mac : n.match.name);
  for (const b of plan.bonds) if (b.mtu !== undefined) mtuRow(`mtu bond ${b.id}`, b.mtu, devices?.includes(b.id) ? [b.id] : [], b.id);
  for (const v of plan.vlans) {
    const mtu = v.mtu ?? plan.bonds.find((b) => b.id === v.link)?.mtu ?? nicById.get(v.link)?.mtu;
    if (mtu !== undefined) mtuRow(`mtu vlan ${v.id}`, mtu, devices?.includes(v.id) ? [v.id] : [], v.id);
  }
  const bridge = plan.bridge;
  if (bridge.mtu !== undefined)
    mtuRow('bridge.mtu', bridge.mtu, devices?.includes(bridge.name) ? [bridge.name] : [], bridge.name, live ? 'FAIL' : 'ABSENT');
}
