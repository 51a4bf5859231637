import type { PathSegment } from '../source/position.ts';
import type { ManagerPlan } from './manager.ts';
import type { SysctlMode } from '../facts/sysctl.ts';

/** Where a planned value came from: a path in the profile stack, or a derivation with its reason. */
export type Provenance = { path: PathSegment[] } | { derived: string };

/** One sysctl the host gets, and how its value meets the host's (see SysctlMode). */
export interface SysctlSetting {
  /** The dotted spelling (`net.ipv4.conf.eth0/100.rp_filter`), as sysctl.d and the apply step read it. */
  key: string;
  /** The value as written; for a value read on the host (`fromHost`), how it is read, in words. */
  value: string;
  /** Set when the value is one word of another sysctl as the host has it, read by the apply step at
   * first boot: gen cannot know it (tcp_mem is sized from the host's RAM). */
  fromHost?: { key: string; word: number };
  mode: SysctlMode;
  /** Why this mode: the profile chose it, the catalogue says so, or the default for other keys. */
  modeFrom: string;
  from: Provenance;
}

/** A udev match that gives matching interfaces a transmit queue length. */
export interface TxqueuelenRule {
  id: string;
  kind: 'nic' | 'bridge';
  match: { name: string } | { mac: string };
  txqueuelen: number;
}

/** Where a secret is read at render time; the plan never holds a secret's value. */
export type SecretRef = { env: string } | { file: string };

/** Where a joining cluster member fetches its join token at first boot (inventory
 * `cluster.token_from`): a file on the host, or a command run there; waited for up to `wait` seconds. */
export type TokenSource = ({ file: string } | { command: string }) & { wait?: number };

/** Host addressing of one NIC (rendered as netplan). */
export interface NicAddressing {
  id: string;
  match: { name: string } | { mac: string };
  /** Rename the matched NIC (inventory hosts matched by MAC and given a name). */
  setName?: string;
  dhcp4: boolean;
  addresses: string[];
  gateway?: string;
  nameservers: string[];
}

/** Everything the renderers need, fully defaulted and derived; no renderer makes a decision. */
export interface HostPlan {
  /** The profile names as requested, in order. */
  stack: string[];
  /** Every file merged, parents first. */
  layers: string[];
  manager: ManagerPlan;
  target: { distro: 'debian' | 'ubuntu'; release: string; label: string; codename: string; systemd: number; bootProven: boolean };
  capacity: { instances: number };
  /** The ids root's first range in /etc/subuid and /etc/subgid must hold, and why; absent when the
   * daemon does not read those files (the LXD snap maps ids without them). */
  subordinateIds?: { ids: number; from: Provenance };
  /** Kernel modules loaded at every boot (modules-load.d) and at first boot before the sysctls,
   * because a sysctl of theirs exists only once they are loaded. */
  modules: { name: string; why: string }[];
  sysctl: SysctlSetting[];
  limits: { nofile: number; memlock: string; nproc?: string };
  hideInstanceNames: boolean;
  /** Run born-tuned-verify on a systemd timer (profile `verify.timer`): every `interval`, writing
   * Prometheus metrics to `textfile` when set. Undefined: the verifier is installed but not timed. */
  verifyTimer?: { interval: string; textfile?: string };
  txqueuelen: TxqueuelenRule[];
  /** NICs with addressing; empty when the profile leaves host networking to the platform. */
  addressing: NicAddressing[];
  bridge: { name: string; ipv4: string; ipv6: string; nat: boolean; txqueuelen?: number };
  /** The nftables fence of the bridge's instances; off only with the profile's reason. */
  fence: { enabled: true } | { enabled: false; reason: string };
  instances: { idmapIsolated: boolean; nesting: boolean; nicTxqueuelen?: number; storagePool: string };
  storagePools: { name: string; driver: string; source?: string; size?: string }[];
  server: { httpsAddress?: string; imagesAutoUpdateInterval?: number; trustPassword?: SecretRef };
}
