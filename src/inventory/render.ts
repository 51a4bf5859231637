import { collectGarbage } from '../builtins.ts';
import { DiagnosticBag, sortDiagnostics } from '../diagnostics/diagnostic.ts';
import { ProfileError } from '../diagnostics/errors.ts';
import { composeUserData, type ComposeOptions, type IncludeCache } from '../compose/user-data.ts';
import { manifestEntry, renderManifest, type ManifestEntry } from '../output/manifest.ts';
import { renderStack, resolveStack, type Generated, type ResolvedStack } from '../pipeline.ts';
import { checkArtifacts } from '../check/parse-back.ts';
import { memberPreseed, renderPreseed } from '../render/preseed.ts';
import { buildCloudConfig, renderUserData } from '../render/user-data.ts';
import { readSecret } from '../secrets/resolve.ts';
import type { Artifact } from '../render/artifact.ts';
import { expectJsonYaml, stringifyJsonYaml } from '../render/json-yaml.ts';
import { netplanEthernets } from '../render/netplan.ts';
import { addressingOf, nicMatch } from '../plan/build.ts';
import type { HostPlan } from '../plan/model.ts';
import { loadSource } from '../source/load.ts';
import { GENERATOR_VERSION } from '../version.ts';
import { resolveInventory, type PlannedHost, type StackFacts } from './resolve.ts';

/** Options of an inventory run. */
export interface InventoryOptions extends Omit<ComposeOptions, 'includes'> {
  profilesDir?: string;
  /** Called after each host, for a progress line; a promise it returns is awaited (the caller
   * yields to the event loop now and then, so that a signal can stop a long run). */
  onHost?: (done: number, total: number) => void | Promise<void>;
}

/**
 * Every host's NoCloud seed (user-data, meta-data, network-config when it has static addressing)
 * and preseed. Work shared by hosts is done once: each distinct stack is resolved, planned and
 * rendered once, and each distinct (stack, includes) user-data is composed once; per host only the
 * meta-data and network-config are rendered.
 */
export async function renderInventory(
  file: string,
  opts: InventoryOptions,
  emit: (artifact: Artifact) => void,
): Promise<{ warnings: ReturnType<typeof sortDiagnostics>; stats: { hosts: number; stacks: number; userData: number; includes: number; files: number } }> {
  const bag = new DiagnosticBag();
  // Each distinct stack is resolved once, for the inventory's checks (its manager and bridge) and
  // then for rendering; an invalid stack's own diagnostics are thrown when a host renders it.
  const resolved = new Map<string, ResolvedStack | ProfileError>();
  const resolvedStack = (profiles: readonly string[]): ResolvedStack => {
    const key = profiles.join('\0');
    if (!resolved.has(key)) {
      try {
        resolved.set(key, resolveStack({ profiles: [...profiles], profilesDir: opts.profilesDir }));
      } catch (e) {
        if (!(e instanceof ProfileError)) throw e;
        resolved.set(key, e);
      }
    }
    const r = resolved.get(key)!;
    if (r instanceof ProfileError) throw r;
    return r;
  };
  const stackFacts = (profiles: readonly string[]): StackFacts | undefined => {
    try {
      const { plan } = resolvedStack(profiles);
      return { manager: `${plan.manager.name} ${plan.manager.version}`, bridge: { ipv4: plan.bridge.ipv4, ipv6: plan.bridge.ipv6 } };
    } catch (e) {
      if (e instanceof ProfileError) return undefined;
      throw e;
    }
  };
  // Only the hosts outlive this block: the text, syntax tree and data of a 50,000-host inventory
  // are hundreds of MiB that the render loop does not need.
  const { hosts, display } = (() => {
    const source = loadSource('inventory', file, bag, 'inventory');
    return { hosts: source?.value ? resolveInventory(source, bag, stackFacts) : undefined, display: source?.display ?? file };
  })();
  collectGarbage();
  if (!hosts) throw new ProfileError(sortDiagnostics(bag.items));

  const stacks = new Map<string, Generated>();
  const userData = new Map<string, Artifact>();
  // How often the shared work was really done (the stats): once per distinct stack and user-data;
  // each include file is read once (the cache's size).
  const built = { stacks: 0, userData: 0 };
  const includeCache: IncludeCache = new Map();
  const warnings = new Map<string, ReturnType<typeof sortDiagnostics>[number]>();
  // Files go out as they are made (a tree writer streams them to disk); only manifest lines stay.
  const entries: ManifestEntry[] = [];
  const hashes = new Map<string | Uint8Array, string>();
  const out = (a: Artifact) => {
    emit(a);
    entries.push(manifestEntry(a, hashes));
  };
  for (const [i, host] of hosts.entries()) {
    const stackKey = host.profiles.join('\0');
    let generated = stacks.get(stackKey);
    if (!generated) {
      generated = renderStack(resolvedStack(host.profiles), { packer: false, secrets: 'resolve' });
      built.stacks++;
      stacks.set(stackKey, generated);
      for (const d of generated.stack.diagnostics) warnings.set(JSON.stringify(d), d);
    }
    const dir = host.key;
    const compose = { includes: host.includes, mime: opts.mime, encoding: opts.encoding };
    let ud: Artifact;
    let preseed = generated.artifacts.find((a) => a.kind === 'preseed')!;
    if (host.cluster) {
      // A cluster member's preseed (and so its user-data) is its own.
      const member = memberArtifacts(generated, host);
      preseed = member.preseed;
      ud = composeUserData(generated, compose, includeCache, member.userData);
    } else {
      const udKey = `${stackKey}\0\0${host.includes.join('\0')}`;
      let shared = userData.get(udKey);
      if (!shared) {
        shared = composeUserData(generated, compose, includeCache);
        built.userData++;
        userData.set(udKey, shared);
      }
      ud = shared;
    }
    out({ ...ud, path: `${dir}/seed/user-data` });
    out(metaData(host, dir, generated.header));
    const network = networkConfig(host, dir, generated.header);
    if (network) out(network);
    out({ ...preseed, path: preseedPath(dir, generated.stack.plan) });
    await opts.onHost?.(i + 1, hosts.length);
  }
  emit(renderManifest(['inventory', display], GENERATOR_VERSION, entries));
  return { warnings: sortDiagnostics([...warnings.values()]), stats: { hosts: hosts.length, ...built, includes: includeCache.size, files: entries.length + 1 } };
}

/** Beside seed/, not in a directory of its own: one mkdir less per host counts at 10,000 hosts. */
function preseedPath(dir: string, plan: HostPlan): string {
  return `${dir}/preseed-${plan.manager.name}.yaml`;
}

/** The preseed and user-data of a cluster member, checked like every artifact. */
function memberArtifacts(generated: Generated, host: PlannedHost): { preseed: Artifact; userData: { artifact: Artifact; cloudConfig: Record<string, unknown> } } {
  const { plan } = generated.stack;
  const c = host.cluster!;
  const token = c.token ? readSecret(`hosts.${host.key}.cluster.token`, c.token) : undefined;
  const data = memberPreseed(generated.preseed, plan, { role: c.role, serverName: host.key, address: c.address, ...(token !== undefined ? { token } : {}) });
  // Paths of this host, so a failed check names it.
  const preseed = { ...renderPreseed(plan, generated.header, data), path: preseedPath(host.key, plan) };
  const cloudConfig = buildCloudConfig(plan, generated.artifacts, preseed.text);
  const artifact = { ...renderUserData(generated.header, cloudConfig), path: `${host.key}/seed/user-data` };
  checkArtifacts([preseed, artifact], plan, { cloudConfig, preseed: data, netplan: undefined });
  return { preseed, userData: { artifact, cloudConfig } };
}

function metaData(host: PlannedHost, dir: string, header: string): Artifact {
  // A stable instance-id per host: cloud-init runs first-boot modules once per instance, so
  // regenerating a seed must not make a running host redo its first boot.
  const data = { 'instance-id': `iid-${host.key}`, 'local-hostname': host.hostname };
  const artifact: Artifact = { kind: 'meta-data', path: `${dir}/seed/meta-data`, mode: 0o644, purpose: `NoCloud meta-data of ${host.hostname}`, text: stringifyJsonYaml(header, data) };
  expectJsonYaml(artifact.path, artifact.text, data);
  return artifact;
}

function networkConfig(host: PlannedHost, dir: string, header: string): Artifact | undefined {
  // A NIC matched by MAC and given a name is renamed to it.
  const addressed = host.nics.flatMap(({ id, nic }) => addressingOf(id, nicMatch(nic), nic, nic.mac !== undefined ? nic.name : undefined) ?? []);
  if (addressed.length === 0) return undefined;
  const data = { network: { version: 2, ethernets: netplanEthernets(addressed) } };
  const artifact: Artifact = { kind: 'network-config', path: `${dir}/seed/network-config`, mode: 0o600, purpose: `NoCloud network-config (netplan v2) of ${host.hostname}`, text: stringifyJsonYaml(header, data) };
  expectJsonYaml(artifact.path, artifact.text, data);
  return artifact;
}
