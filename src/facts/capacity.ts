/**
 * Values that follow from the planned number of instances (KNOWLEDGE.md §3). Used by the plan when a
 * profile leaves a key out, and by the rules to say which number to use when an explicit value is
 * too small for the capacity.
 */

/** `kernel.keys.maxkeys` must be greater than the number of instances; 25% headroom, never below
 * the documents' 2000. */
export function derivedMaxKeys(instances: number): number {
  return Math.max(2000, Math.ceil(instances * 1.25));
}

/** Keyring bytes grow with the key count: the documents pair 2000 keys with 2000000 bytes. */
export function derivedMaxBytes(maxkeys: number): number {
  return Math.max(2_000_000, maxkeys * 1000);
}

/** Neighbour table hard limit: at least twice the instances (each has IPv4 and link-local
 * neighbours), rounded up to a power of two, never below the documents' 8192. */
export function derivedGcThresh3(instances: number): number {
  let v = 8192;
  while (v < instances * 2) v *= 2;
  return v;
}

/** IPv4 addresses the bridge's subnet must leave for instances: 10% over the count, because a
 * deleted instance's address stays leased until its DHCP lease ends (LXD and Incus:
 * ipv4.dhcp.expiry, 1h by default), so churn needs room beyond the instances that run. */
export function bridgeAddressesFor(instances: number): number {
  return Math.ceil(instances * 1.1);
}
