import type { HostPlan } from '../plan/model.ts';
import type { Secrets } from '../secrets/resolve.ts';
import type { Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

/** The preseed as data, in the shape of the manager's InitPreseed struct (only keys its version accepts). */
export function buildPreseed(plan: HostPlan, secrets: Secrets): Record<string, unknown> {
  const config: Record<string, string> = {};
  if (secrets.trustPassword !== undefined) config['core.trust_password'] = secrets.trustPassword;
  if (plan.server.httpsAddress !== undefined) config['core.https_address'] = plan.server.httpsAddress;
  if (plan.server.imagesAutoUpdateInterval !== undefined)
    config['images.auto_update_interval'] = String(plan.server.imagesAutoUpdateInterval);

  const bridge = plan.bridge;
  const networkConfig: Record<string, string> = { 'ipv4.address': bridge.ipv4 };
  if (bridge.ipv4 !== 'none') networkConfig['ipv4.nat'] = String(bridge.nat);
  networkConfig['ipv6.address'] = bridge.ipv6;
  if (bridge.ipv6 !== 'none') networkConfig['ipv6.nat'] = String(bridge.nat);
  // Only when the profile sets an MTU on the host's interfaces (the plan says which it follows).
  if (bridge.mtu !== undefined) networkConfig['bridge.mtu'] = String(bridge.mtu);

  const profileConfig: Record<string, string> = {};
  if (plan.instances.idmapIsolated) profileConfig['security.idmap.isolated'] = 'true';
  if (plan.instances.nesting) profileConfig['security.nesting'] = 'true';

  const nic: Record<string, string> = { name: 'eth0', network: bridge.name, type: 'nic' };
  if (plan.instances.nicTxqueuelen !== undefined) nic['queue.tx.length'] = String(plan.instances.nicTxqueuelen);

  const preseed: Record<string, unknown> = {};
  if (Object.keys(config).length > 0) preseed.config = config;
  preseed.networks = [{ name: bridge.name, type: 'bridge', config: networkConfig }];
  preseed.storage_pools = plan.storagePools.map((p) => {
    const poolConfig: Record<string, string> = {};
    if (p.source !== undefined) poolConfig.source = p.source;
    if (p.size !== undefined) poolConfig.size = p.size;
    // Thin provisioning is both managers' default; said explicitly, with the pool's name, so the
    // host's `lvs` shows what the profile asked for whatever the version.
    if (p.lvmThinpool !== undefined) {
      poolConfig['lvm.thinpool_name'] = p.lvmThinpool;
      poolConfig['lvm.use_thinpool'] = 'true';
    }
    return { name: p.name, driver: p.driver, ...(Object.keys(poolConfig).length ? { config: poolConfig } : {}) };
  });
  preseed.profiles = [
    {
      name: 'default',
      ...(Object.keys(profileConfig).length ? { config: profileConfig } : {}),
      devices: {
        root: { path: '/', pool: plan.instances.storagePool, type: 'disk' },
        eth0: nic,
      },
    },
  ];
  return preseed;
}

/** The preseed file applied with `lxd init --preseed` / `incus admin init --preseed`. */
export function renderPreseed(plan: HostPlan, header: string, preseed: Record<string, unknown>): Artifact {
  return {
    kind: 'preseed',
    path: `preseed/${plan.manager.name}.yaml`,
    mode: 0o600,
    purpose: `${plan.manager.name} ${plan.manager.version} init preseed: storage pool, bridge, default profile`,
    text: renderTemplate('preseed.yaml', { header, preseed }),
    format: 'preseed',
    data: preseed,
    manager: { name: plan.manager.name, version: plan.manager.version },
  };
}

/** A cluster member's place: bootstrap the cluster, or join it with a token. */
interface ClusterMember {
  role: 'bootstrap' | 'join';
  serverName: string;
  /** This member's own address:port (core.https_address, cluster server_address). */
  address: string;
  /** The join token's value (join only); read at render time from its reference. Absent for a
   * member that fetches it at first boot, which puts it first under cluster:. */
  token?: string;
}

/**
 * The preseed of one cluster member. The bootstrapping member creates everything the stack's
 * preseed has, listening on its address with clustering on. A joining member gets pools, networks
 * and profiles from the cluster, so its preseed holds only the join and the member-specific pool
 * sources (a preseed copied from another member would fail: canonical/lxd#10478).
 */
export function memberPreseed(stackPreseed: Record<string, unknown>, plan: HostPlan, member: ClusterMember): Record<string, unknown> {
  if (member.role === 'bootstrap') {
    return {
      ...stackPreseed,
      config: { ...((stackPreseed.config as Record<string, string> | undefined) ?? {}), 'core.https_address': member.address },
      cluster: { server_name: member.serverName, enabled: true },
    };
  }
  const memberConfig = plan.storagePools
    .filter((p) => p.source !== undefined)
    .map((p) => ({ entity: 'storage-pool', name: p.name, key: 'source', value: p.source! }));
  return {
    config: { 'core.https_address': member.address },
    cluster: {
      server_name: member.serverName,
      enabled: true,
      server_address: member.address,
      ...(member.token !== undefined ? { cluster_token: member.token } : {}),
      ...(memberConfig.length ? { member_config: memberConfig } : {}),
    },
  };
}
