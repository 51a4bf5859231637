import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and subnets as numbers, for the checks that text patterns cannot make: is this the
 * network or broadcast address, is the gateway inside the subnet, do two subnets overlap, are two
 * spellings of an IPv6 address the same address. Node's own parser (node:net) decides what is an
 * address; this module only does the arithmetic.
 */
interface Ip {
  family: 4 | 6;
  /** The address as a number (32 or 128 bits). */
  value: bigint;
}

/** An address with a prefix length, as written on an interface: 192.0.2.10/24. */
interface IpInterface extends Ip {
  prefix: number;
}

/** Parses an address without prefix, or undefined when node:net does not take it as one. */
export function parseIp(text: string): Ip | undefined {
  if (isIPv4(text)) return { family: 4, value: text.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n) };
  if (!isIPv6(text) || text.includes('%')) return undefined;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two 16-bit groups.
  let body = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4) {
    const n = parseIp(v4[1]!)!.value;
    body = `${body.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = body.includes('::') ? (body.split('::') as [string, string]) : [body, undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return { family: 6, value: all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** Parses `address/prefix`, or undefined when either part is not valid for its family. */
export function parseInterface(text: string): IpInterface | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0 || !/^(0|[1-9]\d{0,2})$/.test(text.slice(slash + 1))) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefix = Number(text.slice(slash + 1));
  if (!ip || prefix > bits(ip.family)) return undefined;
  return { ...ip, prefix };
}

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** The first address of the subnet of `i` (host bits cleared). */
export function networkOf(i: IpInterface): bigint {
  const hostBits = BigInt(bits(i.family) - i.prefix);
  return (i.value >> hostBits) << hostBits;
}

/** The last address of the subnet of `i` (host bits set): IPv4's broadcast address. */
export function lastOf(i: IpInterface): bigint {
  return networkOf(i) + (1n << BigInt(bits(i.family) - i.prefix)) - 1n;
}

/** True when `ip` is inside the subnet of `i`. */
export function contains(i: IpInterface, ip: Ip): boolean {
  return ip.family === i.family && ip.value >= networkOf(i) && ip.value <= lastOf(i);
}

/** True when the subnets of `a` and `b` share an address. */
export function overlaps(a: IpInterface, b: IpInterface): boolean {
  return a.family === b.family && networkOf(a) <= lastOf(b) && networkOf(b) <= lastOf(a);
}

/**
 * Why `i` cannot be a host's or a bridge's own address, or undefined when it can: the network
 * address or IPv4's broadcast address of its subnet (point-to-point /31 and single /32 subnets
 * have neither), or IPv6's all-zero host part (the subnet-router anycast address).
 */
export function notAHostAddress(i: IpInterface): string | undefined {
  const hostBits = bits(i.family) - i.prefix;
  if (i.family === 4 && hostBits < 2) return undefined;
  if (i.family === 6 && hostBits < 1) return undefined;
  if (i.value === networkOf(i))
    return i.family === 4 ? 'the network address of its subnet' : 'the subnet-router anycast address (all host bits zero)';
  if (i.family === 4 && i.value === lastOf(i)) return 'the broadcast address of its subnet';
  return undefined;
}

/** Addresses a subnet offers to hosts: IPv4 less its network and broadcast addresses. */
export function hostAddresses(i: IpInterface): bigint {
  const size = 1n << BigInt(bits(i.family) - i.prefix);
  return i.family === 4 && size > 2n ? size - 2n : size;
}

/** The one spelling of an address (IPv6 as RFC 5952 writes it), for finding the same address twice. */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, k) => Number((ip.value >> BigInt(112 - 16 * k)) & 0xffffn));
  // The longest run of two or more zero groups, the first of equal runs, becomes "::".
  let best = { at: -1, len: 1 };
  for (let k = 0; k < 8;) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let end = k;
    while (end < 8 && groups[end] === 0) end++;
    if (end - k > best.len) best = { at: k, len: end - k };
    k = end;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** An address written as `formatIp` writes it, `undefined` when it does not parse. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}
