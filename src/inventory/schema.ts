import * as z from 'zod';
import { ifnameSchema, interfaceAddressSchema, ipAddressSchema, MAC } from '../schema/network-values.ts';
import { secretRefSchema } from '../schema/profile.ts';

/**
 * The inventory format: hosts, optionally grouped, each with the profile stack it runs, its
 * hostname, NIC matches with static addressing, and operators' own cloud-config to fold in.
 * Settings resolve host over group over defaults; `include` lists are concatenated in that order.
 */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const FQDN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ProfileRef = z
  .string()
  .regex(/^([a-z0-9][a-z0-9._-]*|[^\0\n]*\.yaml)$/, { message: 'must be a profile name or a path to a .yaml file' });
const IncludeRef = z.string().regex(/^[^\0\n]+$/, { message: 'must be a path to a cloud-config file' });

const ipAddress = ipAddressSchema('must be an IP address, like 192.0.2.1 or 2001:db8::1');

const HostNicSchema = z.strictObject({
  mac: z.string().regex(MAC, { message: 'must be a MAC address in lower case, like 52:54:00:12:34:56' }).optional(),
  name: ifnameSchema(
    'must be an exact interface name of up to 15 characters from A-Z a-z 0-9 _ . - (no wildcards: one NIC per host entry)',
  ).optional(),
  dhcp4: z.boolean().optional(),
  addresses: z.array(interfaceAddressSchema('must be an address with prefix length, like 10.0.0.11/24')).max(64).optional(),
  gateway: ipAddress.optional(),
  nameservers: z.array(ipAddress).max(8).optional(),
});

/** A secret by reference, as in profiles: never the value itself. */
const SecretRef = secretRefSchema('NODE02_JOIN_TOKEN');

/** The host's role in a cluster of its manager: the first member bootstraps it, the others join
 * with a token (`lxc cluster add` / `incus cluster add` prints one per member). */
const ClusterSchema = z.strictObject({
  role: z.enum(['bootstrap', 'join']),
  /** The member's own address; default the first static address of its NICs. */
  address: ipAddress.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  token: SecretRef.optional(),
});

const Settings = {
  profiles: z.array(ProfileRef).min(1, { message: 'needs at least one profile' }).optional(),
  include: z.array(IncludeRef).optional(),
};

const GroupSchema = z.strictObject(Settings);

const HostSchema = z.strictObject({
  ...Settings,
  group: z.string().regex(LABEL, { message: 'must name a group of groups:' }).optional(),
  hostname: z.string().regex(FQDN, { message: 'must be a host name or FQDN in lower case, like node01 or node01.example.net' }).optional(),
  nics: z.record(z.string().regex(LABEL, { message: 'NIC ids are lower-case names like "uplink"' }), HostNicSchema).optional(),
  cluster: ClusterSchema.optional(),
});

export const InventorySchema = z.strictObject({
  defaults: GroupSchema.optional(),
  groups: z.record(z.string().regex(LABEL, { message: 'group names are lower-case labels like "edge"' }), GroupSchema).optional(),
  hosts: z.record(z.string().regex(LABEL, { message: 'host keys are lower-case labels like node01' }), HostSchema),
});

export type HostNic = z.infer<typeof HostNicSchema>;
