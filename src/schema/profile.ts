import * as z from 'zod';
import {
  bridgeAddressSchema,
  ifnameGlobSchema,
  ifnameSchema,
  interfaceAddressSchema,
  ipAddressSchema,
  listenAddressSchema,
  MAC,
} from './network-values.ts';
import { SYSCTL_FACTS } from '../facts/sysctl.ts';

/**
 * The profile format. Every object is strict: an unknown key is an error (reported with a
 * did-you-mean by the validator). Fields that a host needs but an overlay may leave out are
 * optional here and required by `rules.ts` for a whole stack.
 */

const SAFE_INT_MESSAGE = 'must be a whole number no larger than 9007199254740991 (2^53-1)';
// The 2^53 bound comes first: the validator reports one problem per value, the first found.
const safeInt = () => z.number().max(Number.MAX_SAFE_INTEGER, { message: SAFE_INT_MESSAGE }).int({ message: 'must be a whole number' });
const txqueuelen = () =>
  safeInt()
    .min(1)
    .max(1_000_000, { message: 'txqueuelen above 1000000 is not a queue length any NIC uses; 10000 is the usual value for 10GbE' });

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A sysctl value: a whole number, or whitespace-free tokens separated by single spaces. */
const SYSCTL_WORD = '[!"$-:<>-~]+';
const SYSCTL_STRING = new RegExp(`^${SYSCTL_WORD}( ${SYSCTL_WORD})*$`);
const sysctlValueForms = [
  safeInt().min(0, { message: 'must not be negative' }),
  z.string().regex(SYSCTL_STRING, {
    message: 'must be a number or printable words separated by single spaces (no "=", ";", "#" or line breaks)',
  }),
] as const;
const SysctlValueSchema = z.union(sysctlValueForms);

/** The long form of a sysctl entry: its value and how it is applied against the host's own value. */
const SysctlEntrySchema = z.strictObject({
  value: SysctlValueSchema,
  mode: z.enum(['raise', 'exact', 'lower']),
});

/** `key: value`, or `key: {value: V, mode: raise|exact|lower}` to choose the mode. One flat union,
 * so the validator reports the form whose type the value has. */
const SysctlSettingSchema = z.union([...sysctlValueForms, SysctlEntrySchema]);

const knownSysctl = Object.fromEntries(Object.keys(SYSCTL_FACTS).map((k) => [k, SysctlSettingSchema.optional()])) as Record<
  string,
  z.ZodOptional<typeof SysctlSettingSchema>
>;

const SysctlSchema = z.object(knownSysctl).catchall(SysctlSettingSchema);

const ManagerSchema = z.strictObject({
  name: z.enum(['lxd', 'incus']),
  version: z
    .string()
    .regex(/^\d+\.\d+$/, { message: 'must look like "5.21" or "6.0"' })
    .optional(),
  install: z.enum(['snap', 'deb', 'present']),
});

const TargetSchema = z.strictObject({
  distro: z.enum(['debian', 'ubuntu']),
  release: z.string(),
});

const CapacitySchema = z.strictObject({
  instances: safeInt()
    .min(1, { message: 'must be at least 1' })
    .max(100_000, { message: 'more than 100000 instances on one host is not a plan this tool can size' }),
});

const LimitsSchema = z.strictObject({
  nofile: safeInt().min(1024, { message: 'must be at least 1024 (below that, ordinary programs fail)' }).optional(),
  memlock: z.union([safeInt().min(64, { message: 'must be at least 64 (KiB)' }), z.literal('unlimited')]).optional(),
  nproc: z.union([safeInt().min(1024, { message: 'must be at least 1024' }), z.literal('unlimited')]).optional(),
});

const NicMatchSchema = z.strictObject({
  name: ifnameGlobSchema().optional(),
  mac: z.string().regex(MAC, { message: 'must be a MAC address in lower case, like 52:54:00:12:34:56' }).optional(),
});

const hostAddress = interfaceAddressSchema('must be an address with prefix length, like 192.0.2.10/24 or 2001:db8::10/64');
const ipAddress = ipAddressSchema();

const NicSchema = z.strictObject({
  match: NicMatchSchema.optional(),
  txqueuelen: txqueuelen().optional(),
  /** Host addressing, rendered as a netplan file. */
  dhcp4: z.boolean().optional(),
  addresses: z.array(hostAddress).max(64).optional(),
  gateway: ipAddress.optional(),
  nameservers: z.array(ipAddress).max(8).optional(),
});

const BridgeSchema = z.strictObject({
  name: ifnameSchema().optional(),
  ipv4: bridgeAddressSchema(4).optional(),
  ipv6: bridgeAddressSchema(6).optional(),
  nat: z.boolean().optional(),
  txqueuelen: txqueuelen().optional(),
});

const InstancesSchema = z.strictObject({
  idmap_isolated: z.boolean().optional(),
  nesting: z.boolean().optional(),
  nic_txqueuelen: txqueuelen().optional(),
  storage_pool: z.string().regex(NAME, { message: 'must name a pool of storage_pools' }).optional(),
});

const StoragePoolSchema = z.strictObject({
  driver: z.enum(['dir', 'btrfs', 'lvm', 'zfs', 'ceph']),
  source: z
    .string()
    .regex(/^\/[A-Za-z0-9_.\/-]*$|^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, {
      message: 'must be an absolute path, a device or a pool/volume-group name',
    })
    .optional(),
  size: z
    .string()
    .regex(/^[1-9]\d*(MiB|GiB|TiB|MB|GB|TB)$/, { message: 'must be a size like 15GiB' })
    .optional(),
});

/** A secret is never written in a profile or an inventory: they name where to read it at render
 * time. `example` is the variable name the message suggests. */
export const secretRefSchema = (example: string) =>
  z.union([
    z.strictObject({
      env: z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, { message: `must be an environment variable name like ${example}` }),
    }),
    z.strictObject({ file: z.string().regex(/^\/[^\0\n]*$/, { message: 'must be an absolute path' }) }),
  ]);
const SecretRefSchema = secretRefSchema('LXD_TRUST_PASSWORD');

const ServerSchema = z.strictObject({
  trust_password: SecretRefSchema.optional(),
  https_address: listenAddressSchema().optional(),
  images_auto_update_interval: safeInt().min(0).max(8760, { message: 'must be hours between 0 and 8760' }).optional(),
});

export const ProfileSchema = z.strictObject({
  description: z.string().max(200).optional(),
  overlay: z.boolean().optional(),
  manager: ManagerSchema.optional(),
  target: TargetSchema.optional(),
  capacity: CapacitySchema.optional(),
  limits: LimitsSchema.optional(),
  sysctl: SysctlSchema.optional(),
  hide_instance_names: z.boolean().optional(),
  dmesg_restrict: z.boolean().optional(),
  nics: z.record(z.string().regex(NAME, { message: 'NIC ids are lower-case names like "uplink"' }), NicSchema).optional(),
  bridge: BridgeSchema.optional(),
  instances: InstancesSchema.optional(),
  storage_pools: z
    .record(z.string().regex(NAME, { message: 'pool names are lower-case names like "default"' }), StoragePoolSchema)
    .optional(),
  server: ServerSchema.optional(),
});

export type Profile = z.infer<typeof ProfileSchema>;
type SysctlValue = z.infer<typeof SysctlValueSchema>;
type SysctlSetting = z.infer<typeof SysctlSettingSchema>;

/** The value of a sysctl entry, short or long form (undefined only for a catalogue key left out). */
export function sysctlValueOf(setting: SysctlSetting | undefined): SysctlValue | undefined {
  return typeof setting === 'object' ? setting.value : setting;
}
