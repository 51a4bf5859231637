import * as z from 'zod';
import { ifnameSchema, interfaceAddressSchema, ipAddressSchema, MAC, NIC_ADDRESSING } from '../schema/network-values.ts';
import { secretRefSchema } from '../schema/profile.ts';

/**
 * The inventory format: hosts, optionally grouped, each with the profile stack it runs, its
 * hostname, NIC matches with static addressing, and operators' own cloud-config to fold in.
 * Settings resolve host over group over defaults; `include` lists are concatenated in that order.
 * Each key's `description` is what the JSON Schema gives editors (`gen schema inventory`).
 */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const FQDN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ProfileRef = z
  .string()
  .regex(/^([a-z0-9][a-z0-9._-]*|[^\0\n]*\.yaml)$/, { message: 'must be a profile name or a path to a .yaml file' });
const IncludeRef = z.string().regex(/^[^\0\n]+$/, { message: 'must be a path to a cloud-config file' });

const ipAddress = ipAddressSchema('must be an IP address, like 192.0.2.1 or 2001:db8::1');

const HostNicSchema = z
  .strictObject({
    mac: z
      .string()
      .regex(MAC, { message: 'must be a MAC address in lower case, like 52:54:00:12:34:56' })
      .meta({ description: "The NIC's MAC address in lower case, like 52:54:00:12:34:56." })
      .optional(),
    name: ifnameSchema(
      'must be an exact interface name of up to 15 characters from A-Z a-z 0-9 _ . - (no wildcards: one NIC per host entry)',
    )
      .meta({ description: "The NIC's exact interface name (no glob: one NIC per entry), when it is not matched by mac." })
      .optional(),
    dhcp4: z.boolean().meta({ description: NIC_ADDRESSING.dhcp4 }).optional(),
    addresses: z
      .array(interfaceAddressSchema('must be an address with prefix length, like 10.0.0.11/24'))
      .max(64)
      .meta({ description: NIC_ADDRESSING.addresses })
      .optional(),
    gateway: ipAddress.meta({ description: NIC_ADDRESSING.gateway }).optional(),
    nameservers: z.array(ipAddress).max(8).meta({ description: NIC_ADDRESSING.nameservers }).optional(),
  })
  .meta({ description: "One NIC of the host, by the id its stack's profiles give it (like uplink): which NIC, and its addressing." });

/** A secret by reference, as in profiles: never the value itself. */
const SecretRef = secretRefSchema('NODE02_JOIN_TOKEN');

/** How long first boot waits for a join token fetched there. */
const TokenWait = z
  .number()
  .int()
  .min(1)
  .max(86400, { message: 'must be seconds between 1 and 86400 (a day)' })
  .meta({ description: 'How long first boot waits for the token, in seconds (it tries every 5 s). Default: 600.' })
  .optional();

/** Where a joining member fetches its join token at first boot: the token never rides in user-data. */
const TokenFromSchema = z
  .union([
    z.strictObject({
      file: z
        .string()
        .regex(/^\/[^\0\n]*$/, { message: 'must be an absolute path on the host' })
        .meta({ description: "A file on the host that the operator's provisioning drops the token into (its last non-blank line)." }),
      wait: TokenWait,
    }),
    z.strictObject({
      command: z
        .string()
        .regex(/^[^\0\n]*\S[^\0\n]*$/, { message: 'must be one line of shell' })
        .max(4096)
        .meta({
          description:
            'A shell command run as root at first boot that prints the token (its last non-blank line), e.g. `ssh node1 incus cluster add node2`. It is retried until it succeeds or the wait ends.',
        }),
      wait: TokenWait,
    }),
  ])
  .meta({
    description:
      'Where a joining member fetches its join token at first boot instead of gen reading it: {file: /path} or {command: "..."}, and optionally wait: seconds. Whoever can write that file or answer that command can join a host to the cluster.',
  });

/** The host's role in a cluster of its manager: the first member bootstraps it, the others join
 * with a token (`lxc cluster add` / `incus cluster add` prints one per member). */
const ClusterSchema = z
  .strictObject({
    role: z
      .enum(['bootstrap', 'join'])
      .meta({ description: 'bootstrap: this member creates the cluster (one per cluster); join: it joins with a token.' }),
    address: ipAddress
      .meta({ description: "The member's own address in the cluster. Default: the first static address of its NICs." })
      .optional(),
    port: z.number().int().min(1).max(65535).meta({ description: 'The port of the cluster address. Default: 8443.' }).optional(),
    token: SecretRef.meta({
      description:
        "A joining member's join token (printed by `incus cluster add NAME` or `lxc cluster add NAME`), by reference: read when gen runs, it rides in the host's user-data. Give this or token_from.",
    }).optional(),
    token_from: TokenFromSchema.optional(),
  })
  .meta({ description: "The host's role in a cluster of its manager." });

const Settings = {
  profiles: z
    .array(ProfileRef)
    .min(1, { message: 'needs at least one profile' })
    .meta({
      description:
        "The profile stack, in order: names, or paths to .yaml files relative to the inventory. The host's wins over its group's, the group's over defaults'.",
    })
    .optional(),
  include: z
    .array(IncludeRef)
    .meta({
      description:
        "Operators' cloud-config files to fold into the user-data, relative to the inventory; the lists of defaults, group and host add up, in that order.",
    })
    .optional(),
};

const GroupSchema = z.strictObject(Settings);

const HostSchema = z
  .strictObject({
    ...Settings,
    group: z
      .string()
      .regex(LABEL, { message: 'must name a group of groups:' })
      .meta({ description: 'The group under groups: whose settings the host takes.' })
      .optional(),
    hostname: z
      .string()
      .regex(FQDN, { message: 'must be a host name or FQDN in lower case, like node01 or node01.example.net' })
      .meta({ description: "The host's name or FQDN in lower case. Default: its key." })
      .optional(),
    nics: z
      .record(z.string().regex(LABEL, { message: 'NIC ids are lower-case names like "uplink"' }), HostNicSchema)
      .meta({ description: "The host's own NICs and static addressing, rendered as its network-config." })
      .optional(),
    cluster: ClusterSchema.optional(),
  })
  .meta({ description: 'One host, by a key that is also its hostname unless hostname says otherwise.' });

export const InventorySchema = z.strictObject({
  defaults: GroupSchema.meta({ description: 'Settings every host takes unless its group or the host itself sets them.' }).optional(),
  groups: z
    .record(
      z.string().regex(LABEL, { message: 'group names are lower-case labels like "edge"' }),
      GroupSchema.meta({ description: 'One group of hosts, by its name: the settings its hosts share.' }),
    )
    .meta({ description: 'Named groups of hosts that share settings.' })
    .optional(),
  hosts: z
    .record(z.string().regex(LABEL, { message: 'host keys are lower-case labels like node01' }), HostSchema)
    .meta({ description: 'The hosts, by key (a lower-case label).' }),
});

export type HostNic = z.infer<typeof HostNicSchema>;
