import * as z from 'zod';
import { parseInterface, parseIp } from './ip.ts';

/**
 * The network values of profiles and inventories, defined once. Each is a text pattern (which the
 * JSON Schema carries to editors) and a check by a real parser (node:net through ./ip.ts): a
 * pattern alone accepts `:::::` as an IPv6 address or port 99999.
 */

/** Interface names as the kernel takes them (dev_valid_name): 1 to 15 characters, no "/", ":" or
 * whitespace, not "." or "..". */
const IFNAME = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,15}$/;
/** An interface name or a udev glob over names (`*`, `?`, `[...]`). */
const IFNAME_GLOB = /^(?!\.\.?$)[A-Za-z0-9_.*?[\]!-]{1,15}$/;
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = '\\d{1,3}(\\.\\d{1,3}){3}';
const IPV6 = '[0-9a-fA-F:.]{2,45}';
/** A port from 1 to 65535, leading zeros allowed, five digits at most. */
const PORT = '(?=\\d{1,5}$)0*([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
/** host:port or [v6]:port, the port optional: the host's shape, and a port in range. */
const LISTEN_ADDRESS = new RegExp(`^(?:\\[([0-9a-fA-F:.]+)\\]|([A-Za-z0-9.-]*))(?::${PORT})?$`);

/** The MTU of an Ethernet device (NIC or bond) that sets none: what the kernel gives it
 * (ETH_DATA_LEN); a VLAN that sets none takes its link's. */
export const ETHERNET_MTU = 1500;

/** What the addressing keys of a NIC mean, in profiles and inventories alike (the JSON Schema's
 * descriptions). */
export const NIC_ADDRESSING = {
  dhcp4: 'Ask DHCP for an IPv4 address on this NIC.',
  addresses: 'Static addresses with prefix length, like 192.0.2.10/24 or 2001:db8::10/64.',
  gateway: 'The default gateway, inside the subnet of one of the addresses.',
  nameservers: 'DNS servers, as IP addresses.',
} as const;

/** An IPv4 or IPv6 address without prefix. */
export const ipAddressSchema = (message = 'must be an IPv4 or IPv6 address without prefix, like 192.0.2.1 or 2001:db8::1') =>
  z
    .string()
    .regex(new RegExp(`^(${IPV4}|${IPV6})$`), { message })
    .refine((s) => parseIp(s) !== undefined, { message });

/** An address with its prefix length, as an interface has it; `family` narrows it to one. */
export const interfaceAddressSchema = (message: string, family?: 4 | 6) =>
  z
    .string()
    .regex(new RegExp(`^(${family === 6 ? IPV6 : IPV4}${family === undefined ? `|${IPV6}` : ''})/\\d{1,3}$`), { message })
    .refine(
      (s) => {
        const i = parseInterface(s);
        return i !== undefined && (family === undefined || i.family === family);
      },
      { message },
    );

/** A bridge's own address with prefix, or "none" for no address of that family. */
export const bridgeAddressSchema = (family: 4 | 6) => {
  const message = `must be "none" or an IPv${family} address with prefix length, like ${family === 4 ? '10.10.0.1/24' : 'fd42:1::1/64'}`;
  return z
    .string()
    .regex(new RegExp(`^(none|${family === 4 ? IPV4 : IPV6}/\\d{1,3})$`), { message })
    .refine((s) => s === 'none' || parseInterface(s)?.family === family, { message });
};

/** An exact interface name. */
export const ifnameSchema = (message = 'must be an interface name of up to 15 characters from A-Z a-z 0-9 _ . - (not "." or "..")') =>
  z.string().regex(IFNAME, { message });

/** An interface name or a glob that udev can match (brackets balanced and not empty). */
export const ifnameGlobSchema = () =>
  z
    .string()
    .regex(IFNAME_GLOB, {
      message: 'must be an interface name or glob of up to 15 characters from A-Z a-z 0-9 _ . - * ? [ ] (not "." or "..")',
    })
    .refine(isValidGlob, {
      message:
        'is not a valid glob: every "[" needs a closing "]" with at least one character between them, and a range like [0-9] must go upwards',
    });

/** True for an fnmatch(3) pattern whose bracket expressions are complete and whose ranges ascend. */
function isValidGlob(glob: string): boolean {
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === ']') return false;
    if (c !== '[') continue;
    let j = i + 1;
    if (glob[j] === '!') j++;
    const start = j;
    // A "]" right after "[" or "[!" is a member, as fnmatch reads it.
    if (glob[j] === ']') j++;
    while (j < glob.length && glob[j] !== ']') {
      if (glob[j] === '[') return false;
      if (glob[j + 1] === '-' && glob[j + 2] !== undefined && glob[j + 2] !== ']' && glob[j]! > glob[j + 2]!) return false;
      j++;
    }
    if (j >= glob.length || j === start) return false;
    i = j;
  }
  return true;
}

/** host:port or [v6]:port, as LXD's core.https_address takes it: the port from 1 to 65535. The
 * pattern (which editors get) gives the shape; the addresses are then read by a real parser. */
export const listenAddressSchema = () => {
  const message = 'must be an address and port like "[::]:8443" or "192.0.2.10:8443" (port 1 to 65535)';
  return z.string().regex(LISTEN_ADDRESS, { message }).refine(isListenAddress, { message });
};

function isListenAddress(s: string): boolean {
  const m = LISTEN_ADDRESS.exec(s);
  if (!m) return false;
  const [, v6, host] = m;
  if (v6 !== undefined) return parseIp(v6)?.family === 6;
  // A name or an IPv4 address; digits and dots alone must be a valid IPv4 address.
  if (/^[\d.]+$/.test(host!)) return parseIp(host!)?.family === 4;
  return host === '' || /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host!);
}
