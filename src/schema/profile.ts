import * as z from 'zod';
import {
  bridgeAddressSchema,
  ifnameGlobSchema,
  ifnameSchema,
  interfaceAddressSchema,
  ipAddressSchema,
  listenAddressSchema,
  MAC,
  NIC_ADDRESSING,
} from './network-values.ts';
import { SYSCTL_FACTS, type SysctlMode } from '../facts/sysctl.ts';

/**
 * The profile format. Every object is strict: an unknown key is an error (reported with a
 * did-you-mean by the validator). Fields that a host needs but an overlay may leave out are
 * optional here and required by `rules.ts` for a whole stack.
 *
 * A key's `description` (the JSON Schema's, for editors) says what the key is; a key that has a
 * domain fact in `src/facts/` (why it is set, kernel default, source) has none here: the JSON
 * Schema takes that fact's words, the ones `gen explain` prints.
 */

const SAFE_INT_MESSAGE = 'must be a whole number no larger than 9007199254740991 (2^53-1)';
// The 2^53 bound comes first: the validator reports one problem per value, the first found.
const safeInt = () => z.number().max(Number.MAX_SAFE_INTEGER, { message: SAFE_INT_MESSAGE }).int({ message: 'must be a whole number' });
const txqueuelen = () =>
  safeInt()
    .min(1)
    .max(1_000_000, { message: 'txqueuelen above 1000000 is not a queue length any NIC uses; 10000 is the usual value for 10GbE' });

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A bond's or VLAN's key, which is also its interface name: lower case, 15 characters at most
 * (the kernel's IFNAMSIZ), a dot allowed for the usual VLAN names like bond0.100. */
const IFKEY = /^[a-z0-9][a-z0-9_.-]{0,14}$/;

/**
 * An interface MTU. 68 is the kernel's floor for Ethernet devices (ETH_MIN_MTU in
 * include/uapi/linux/if_ether.h, IPv4's minimum datagram of RFC 791); 9216 is the largest jumbo
 * frame common data-centre switches pass (their "jumbo" setting): an MTU above the switch's drops
 * every full-sized frame, while NIC drivers' own maxima (ixgbe 9710, mlx5 9978) are higher still.
 */
const mtu = () =>
  safeInt()
    .min(68, { message: 'must be at least 68, the smallest MTU the kernel accepts on Ethernet (ETH_MIN_MTU, the IPv4 minimum)' })
    .max(9216, {
      message: 'must be at most 9216, the largest jumbo frame common switches pass; 9000 is the usual jumbo MTU',
    })
    .meta({
      description:
        "The MTU in bytes, 68 to 9216 (9000 for jumbo frames, which every switch on the path must pass). Default: the device's own, 1500 on Ethernet.",
    });

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
  value: SysctlValueSchema.meta({ description: 'The value: a whole number, or words separated by single spaces.' }),
  mode: z.enum(['raise', 'exact', 'lower']).meta({
    description:
      "How first boot applies it against the host's own value: raise never lowers it (limits), exact sets it as written, lower never raises it (ceilings).",
  }),
});

/** A value gen cannot know: one number of another sysctl as the host has it, read by the apply
 * step at first boot (the bandwidth guides size netdev_max_backlog from the host's own tcp_mem). */
const SysctlFromHostSchema = z.strictObject({
  from_host: z.string().meta({
    description:
      'The sysctl whose value on the host gives this one, read at first boot after the literal values are applied (like net.ipv4.tcp_mem).',
  }),
  word: safeInt()
    .min(1, { message: 'must be 1 or more: words are counted from 1' })
    .max(16, { message: 'must be at most 16: no sysctl value gen knows has more words' })
    .meta({ description: 'Which number of that value, counted from 1 (1 is the minimum of tcp_mem).' }),
  mode: z
    .enum(['raise', 'exact', 'lower'])
    .meta({ description: "How the number read is applied against this key's own value on the host; default the key's mode." })
    .optional(),
});

/** `key: value`, `key: {value: V, mode: raise|exact|lower}` to choose the mode, or
 * `key: {from_host: KEY, word: N}` for a number read on the host. One flat union, so the validator
 * reports the form whose type the value has. */
const SysctlSettingSchema = z.union([...sysctlValueForms, SysctlEntrySchema, SysctlFromHostSchema]);

const knownSysctl = Object.fromEntries(Object.keys(SYSCTL_FACTS).map((k) => [k, SysctlSettingSchema.optional()])) as Record<
  string,
  z.ZodOptional<typeof SysctlSettingSchema>
>;

const SysctlSchema = z.object(knownSysctl).catchall(
  SysctlSettingSchema.meta({
    description:
      'Any other sysctl, by its /proc/sys name in dots (like net.core.somaxconn; an interface name with dots in the slash form, net.ipv4.conf.eth0/100.rp_filter): a whole number or words separated by single spaces, or {value, mode} where mode is raise, exact (the default for keys gen does not know) or lower, or {from_host, word} for one number of another sysctl as the host has it at first boot.',
  }),
);

const ManagerSchema = z.strictObject({
  name: z.enum(['lxd', 'incus']).meta({ description: 'The container manager: lxd or incus.' }),
  version: z
    .string()
    .regex(/^\d+\.\d+$/, { message: 'must look like "5.21" or "6.0"' })
    .meta({
      description:
        "Its version, major.minor. Default: what the install method brings (the distribution package of the target, or the LXD snap's current LTS); with deb it must be that version.",
    })
    .optional(),
  install: z.enum(['snap', 'deb', 'present']).meta({
    description: "How it gets onto the host: deb (the distribution's package), snap (the LXD snap) or present (already installed).",
  }),
});

const TargetSchema = z
  .strictObject({
    distro: z.enum(['debian', 'ubuntu']).meta({ description: 'The distribution the host runs.' }),
    release: z.string().meta({ description: 'Its release, as a string: quote it ("12", not 12).' }),
  })
  .meta({
    description: 'The distribution and release of the host: they decide the systemd version and where the packages come from.',
  });

const CapacitySchema = z.strictObject({
  instances: safeInt()
    .min(1, { message: 'must be at least 1' })
    .max(100_000, { message: 'more than 100000 instances on one host is not a plan this tool can size' })
    .meta({ description: 'The number of instances planned on this host.' }),
});

const LimitsSchema = z
  .strictObject({
    nofile: safeInt().min(1024, { message: 'must be at least 1024 (below that, ordinary programs fail)' }).optional(),
    memlock: z.union([safeInt().min(64, { message: 'must be at least 64 (KiB)' }), z.literal('unlimited')]).optional(),
    nproc: z.union([safeInt().min(1024, { message: 'must be at least 1024' }), z.literal('unlimited')]).optional(),
  })
  .meta({ description: "Resource limits of logins ('*' and root) and of the manager's daemon (through its systemd drop-in)." });

const NicMatchSchema = z
  .strictObject({
    name: ifnameGlobSchema().meta({ description: 'An interface name, or a udev glob over names (like enp5s0* or en[ox]*).' }).optional(),
    mac: z
      .string()
      .regex(MAC, { message: 'must be a MAC address in lower case, like 52:54:00:12:34:56' })
      .meta({ description: 'A MAC address in lower case, like 52:54:00:12:34:56.' })
      .optional(),
  })
  .meta({ description: 'Which host NICs this entry is: exactly one of name and mac.' });

const hostAddress = interfaceAddressSchema('must be an address with prefix length, like 192.0.2.10/24 or 2001:db8::10/64');
const ipAddress = ipAddressSchema();

/** Host addressing, rendered as a netplan file: the same keys on a NIC, a bond and a VLAN. */
const addressing = {
  dhcp4: z.boolean().meta({ description: NIC_ADDRESSING.dhcp4 }).optional(),
  addresses: z.array(hostAddress).max(64).meta({ description: NIC_ADDRESSING.addresses }).optional(),
  gateway: ipAddress.meta({ description: NIC_ADDRESSING.gateway }).optional(),
  nameservers: z.array(ipAddress).max(8).meta({ description: NIC_ADDRESSING.nameservers }).optional(),
};

const NicSchema = z
  .strictObject({
    match: NicMatchSchema.optional(),
    txqueuelen: txqueuelen().optional(),
    mtu: mtu().optional(),
    ...addressing,
  })
  .meta({ description: 'One NIC entry, by an id of your choosing: which host NICs, their transmit queue, MTU and addressing.' });

const nicRef = (what: string) => z.string().regex(NAME, { message: `must be the id of a NIC under nics: (${what})` });

/** netplan's bond parameters that born-tuned takes, by netplan's names. */
const BondParametersSchema = z
  .strictObject({
    'mii-monitor-interval': safeInt()
      .min(1, { message: 'must be at least 1 (milliseconds): 0 turns link monitoring off and the bond never leaves a dead member' })
      .meta({ description: "How often each member's link is checked, in milliseconds (MIIMonitorSec). Default: 100." })
      .optional(),
    'lacp-rate': z
      .enum(['slow', 'fast'])
      .meta({ description: '802.3ad only: LACPDUs every 30 s (slow, the kernel default) or every second (fast).' })
      .optional(),
    'transmit-hash-policy': z
      .enum(['layer2', 'layer2+3', 'layer3+4', 'encap2+3', 'encap3+4'])
      .meta({ description: '802.3ad only: what spreads flows over the members. Kernel default layer2 (MAC addresses).' })
      .optional(),
    primary: nicRef('a member of this bond')
      .meta({ description: 'active-backup only: the member that carries the traffic whenever its link is up.' })
      .optional(),
  })
  .meta({ description: "The bond's parameters, by netplan's names." });

const BondSchema = z
  .strictObject({
    interfaces: z
      .array(nicRef('a NIC this bond takes as a member'))
      .min(1, { message: 'must list at least one NIC' })
      .max(32)
      .meta({ description: 'The member NICs, by their ids under nics:. They carry no addressing of their own.' }),
    mode: z.enum(['802.3ad', 'active-backup']).meta({
      description:
        '802.3ad: LACP link aggregation (the switch ports must form a LAG); active-backup: one member carries the traffic, another takes over when its link fails (no switch support needed).',
    }),
    parameters: BondParametersSchema.optional(),
    mtu: mtu().optional(),
    txqueuelen: txqueuelen().optional(),
    ...addressing,
  })
  .meta({ description: 'One bond, by its interface name (like bond0): its member NICs, mode, MTU and addressing.' });

const VlanSchema = z
  .strictObject({
    id: safeInt()
      .min(1, { message: 'must be a VLAN id from 1 to 4094 (802.1Q: 0 tags no VLAN, 4095 is reserved)' })
      .max(4094, { message: 'must be a VLAN id from 1 to 4094 (802.1Q: 0 tags no VLAN, 4095 is reserved)' })
      .meta({ description: 'The 802.1Q VLAN id, 1 to 4094.' }),
    link: z
      .string()
      .regex(IFKEY, { message: 'must be the id of a NIC under nics: or a bond under bonds:' })
      .meta({ description: 'The NIC (by its id under nics:) or bond (by its name) the VLAN is tagged on.' }),
    mtu: mtu().optional(),
    txqueuelen: txqueuelen().optional(),
    ...addressing,
  })
  .meta({ description: 'One VLAN, by its interface name (like vlan100 or bond0.100): its id, the link it rides on, MTU and addressing.' });

const BridgeSchema = z.strictObject({
  name: ifnameSchema().meta({ description: "The bridge's name. Default: lxdbr0 or incusbr0, after the manager." }).optional(),
  ipv4: bridgeAddressSchema(4)
    .meta({
      description: "The bridge's own IPv4 address with prefix length (its subnet is the instances'), or none; needed when a bridge is set.",
    })
    .optional(),
  ipv6: bridgeAddressSchema(6)
    .meta({ description: "The bridge's own IPv6 address with prefix length, or none. Default: none." })
    .optional(),
  nat: z.boolean().meta({ description: "NAT for the instances' traffic leaving the bridge. Default: true." }).optional(),
  txqueuelen: txqueuelen().optional(),
});

const FenceSchema = z
  .strictObject({
    enabled: z.boolean().meta({
      description:
        "true (the default): instances on the bridge reach neither the cloud's metadata service (169.254.169.254, fd00:ec2::254) nor any host address but the bridge's DNS, DHCP, IPv6 neighbour discovery and ping. false turns the fence off, and needs a reason.",
    }),
    reason: z
      .string()
      .regex(/^[^\x00-\x20\x7f][^\x00-\x1f\x7f]{0,199}$/, {
        message: 'must be one line of up to 200 printable characters, starting with a non-space',
      })
      .meta({ description: 'Why the fence is off: shown by gen explain. Required with enabled: false.' })
      .optional(),
  })
  .meta({
    description:
      "The fence between the instances on the manager's bridge and the host: an nftables table (/etc/born-tuned/fence.nft) loaded at every boot before the manager starts.",
  });

const InstancesSchema = z
  .strictObject({
    idmap_isolated: z.boolean().optional(),
    nesting: z.boolean().optional(),
    nic_txqueuelen: txqueuelen().optional(),
    storage_pool: z
      .string()
      .regex(NAME, { message: 'must name a pool of storage_pools' })
      .meta({ description: 'The pool of the root disk, a name under storage_pools. Default: the first pool.' })
      .optional(),
  })
  .meta({ description: "The manager's default profile, which every instance starts from." });

const StoragePoolSchema = z
  .strictObject({
    driver: z.enum(['dir', 'btrfs', 'lvm', 'zfs', 'ceph']).meta({ description: 'The storage driver of the pool.' }),
    source: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\/-]*$|^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, {
        message: 'must be an absolute path, a device or a pool/volume-group name',
      })
      .nullable()
      .meta({
        description:
          'Where the pool lives: a disk or partition by a stable /dev/disk/by-id/ path (checked at first boot, see wipe), a directory (dir), or an existing volume group or zpool by name. Without it, btrfs, lvm and zfs make a loop file (testing only). null in an overlay removes the source a parent set (e.g. driver: dir on a host without a spare disk).',
      })
      .optional(),
    size: z
      .string()
      .regex(/^[1-9]\d*(MiB|GiB|TiB|MB|GB|TB)$/, { message: 'must be a size like 15GiB' })
      .meta({ description: 'The size of a loop-backed pool, like 15GiB (not for dir, nor for a pool on a device).' })
      .optional(),
    wipe: z
      .boolean()
      .meta({
        description:
          'Erase the source device (wipefs -a) at first boot when it holds a file system or partition table. Default: false, and first boot refuses such a device. Never done once the manager has the pool.',
      })
      .optional(),
  })
  .meta({ description: 'One storage pool, by its name.' });

const ZfsSchema = z
  .strictObject({
    arc_max: z
      .string()
      .regex(/^[1-9]\d*(MiB|GiB|TiB)$/, { message: 'must be a size like 8GiB (MiB, GiB or TiB)' })
      .meta({
        description:
          "The ZFS ARC's ceiling (module option zfs_arc_max, in /etc/modprobe.d). Default: OpenZFS's, the larger of RAM - 1 GiB and 5/8 of RAM, which leaves instances little.",
      })
      .optional(),
  })
  .meta({ description: 'The ZFS kernel module, host-wide (every zfs pool shares one ARC).' });

/** A secret is never written in a profile or an inventory: they name where to read it at render
 * time. `example` is the variable name the message suggests. */
export const secretRefSchema = (example: string) =>
  z.union([
    z.strictObject({
      env: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, { message: `must be an environment variable name like ${example}` })
        .meta({ description: 'The environment variable that holds the secret when gen runs.' }),
    }),
    z.strictObject({
      file: z
        .string()
        .regex(/^\/[^\0\n]*$/, { message: 'must be an absolute path' })
        .meta({ description: 'The file (an absolute path) that holds the secret when gen runs.' }),
    }),
  ]);
const SecretRefSchema = secretRefSchema('LXD_TRUST_PASSWORD');

const ServerSchema = z
  .strictObject({
    trust_password: SecretRefSchema.meta({
      description: 'core.trust_password (LXD before 6.1 only), by reference: read when gen runs, never written in the file.',
    }).optional(),
    https_address: listenAddressSchema()
      .meta({ description: 'core.https_address: where the manager serves its API, host:port or [v6]:port.' })
      .optional(),
    images_auto_update_interval: safeInt()
      .min(0)
      .max(8760, { message: 'must be hours between 0 and 8760' })
      .meta({ description: 'images.auto_update_interval: hours between updates of cached images; 0 turns them off.' })
      .optional(),
  })
  .meta({ description: "The manager's server configuration." });

const VerifySchema = z
  .strictObject({
    timer: z
      .boolean()
      .meta({
        description: 'Run born-tuned-verify on a systemd timer; a host that drifted logs its FAIL rows and fails the unit. Default false.',
      })
      .optional(),
    interval: z
      .string()
      .regex(/^[1-9][0-9]{0,5}(s|min|h|d)$/, { message: 'must be a time span like 30min, 1h or 1d' })
      .meta({ description: 'How often the timer runs it, like 30min, 1h or 1d. Default 1h.' })
      .optional(),
    textfile: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_-]\.prom$/, { message: 'must be an absolute path ending in .prom' })
      .meta({
        description:
          "Where the timed run writes Prometheus textfile metrics, in node_exporter's textfile directory (Debian's: /var/lib/prometheus/node-exporter/born-tuned.prom).",
      })
      .optional(),
  })
  .meta({ description: 'The verifier installed on the host (/usr/local/sbin/born-tuned-verify): whether a timer runs it.' });

export const ProfileSchema = z.strictObject({
  description: z.string().max(200).meta({ description: 'One line about the profile, shown by gen list.' }).optional(),
  overlay: z
    .boolean()
    .meta({ description: 'Marks a profile that only adds to a host profile (like 10gbe): it is stacked on one, never used alone.' })
    .optional(),
  manager: ManagerSchema.optional(),
  target: TargetSchema.optional(),
  capacity: CapacitySchema.optional(),
  limits: LimitsSchema.optional(),
  sysctl: SysctlSchema.meta({
    description:
      'Kernel parameters by their /proc/sys name in dots. Known keys are typed and range-checked; first boot raises a limit and never lowers a higher value the host already has.',
  }).optional(),
  hide_instance_names: z.boolean().optional(),
  dmesg_restrict: z.boolean().optional(),
  nics: z
    .record(z.string().regex(NAME, { message: 'NIC ids are lower-case names like "uplink"' }), NicSchema)
    .meta({ description: 'Host NICs by an id of your choosing (the shipped profiles call the uplink "uplink").' })
    .optional(),
  bonds: z
    .record(
      z.string().regex(IFKEY, { message: 'bond names are interface names: up to 15 characters from a-z 0-9 _ . -, like bond0' }),
      BondSchema,
    )
    .optional(),
  vlans: z
    .record(
      z.string().regex(IFKEY, { message: 'VLAN names are interface names: up to 15 characters from a-z 0-9 _ . -, like vlan100' }),
      VlanSchema,
    )
    .optional(),
  bridge: BridgeSchema.optional(),
  fence: FenceSchema.optional(),
  instances: InstancesSchema.optional(),
  storage_pools: z
    .record(z.string().regex(NAME, { message: 'pool names are lower-case names like "default"' }), StoragePoolSchema)
    .optional(),
  zfs: ZfsSchema.optional(),
  server: ServerSchema.optional(),
  verify: VerifySchema.optional(),
});

export type Profile = z.infer<typeof ProfileSchema>;
type SysctlValue = z.infer<typeof SysctlValueSchema>;
type SysctlSetting = z.infer<typeof SysctlSettingSchema>;

/** The value of a sysctl entry, short or long form; undefined for a catalogue key left out and for
 * a value read on the host (`from_host`), which gen does not know. */
export function sysctlValueOf(setting: SysctlSetting | undefined): SysctlValue | undefined {
  if (typeof setting !== 'object') return setting;
  return 'value' in setting ? setting.value : undefined;
}

/** Where a `from_host` entry reads its value on the host, or undefined for a literal value. */
export function sysctlFromHostOf(setting: SysctlSetting | undefined): { key: string; word: number } | undefined {
  return typeof setting === 'object' && 'from_host' in setting ? { key: setting.from_host, word: setting.word } : undefined;
}

/** The mode an entry chooses (long forms only). */
export function sysctlModeOf(setting: SysctlSetting | undefined): SysctlMode | undefined {
  return typeof setting === 'object' ? setting.mode : undefined;
}
