import { collectGarbage } from '../builtins.ts';
import { DiagnosticBag, sortDiagnostics } from '../diagnostics/diagnostic.ts';
import { ProfileError, UsageError } from '../diagnostics/errors.ts';
import { didYouMean } from '../diagnostics/suggest.ts';
import { displayText } from '../base/display-text.ts';
import { manifestEntry, type ManifestEntry } from '../output/manifest.ts';
import {
  hostRenderer,
  overSmallestLimit,
  renderSeed,
  resolveStack,
  treeManifest,
  userDataSizeWarning,
  type RenderedHost,
  type ResolvedStack,
} from '../pipeline.ts';
import { addressingOf, nicMatch } from '../plan/build.ts';
import type { HostPlan } from '../plan/model.ts';
import type { Artifact, Encoding } from '../render/artifact.ts';
import { loadSource } from '../source/load.ts';
import { trustPasswordInUserData } from '../secrets/exposure.ts';
import { resolveInventory, type StackFacts } from './resolve.ts';

/** Options of an inventory run. */
interface InventoryOptions {
  profilesDir?: string;
  /** Every host's user-data as multipart MIME. */
  mime: boolean;
  encoding: Encoding;
  /** Render only these hosts (by key), e.g. the bootstrap member before the others have join
   * tokens; the whole inventory is still validated. Empty or absent: every host. */
  hosts?: readonly string[];
  /** Called after each host, for a progress line; a promise it returns is awaited (the caller
   * yields to the event loop now and then, so that a signal can stop a long run). */
  onHost?: (done: number, total: number) => void | Promise<void>;
}

/**
 * Every host's NoCloud seed (user-data, meta-data, network-config when it has static addressing)
 * and preseed, each asked of the pipeline. Work shared by hosts is done once: each distinct stack is
 * resolved and planned once here, and rendered once by the pipeline's host renderer, which gives
 * hosts with the same stack and includes the same user-data; what is per host stays here: the
 * seed's meta-data and network-config, the paths, the progress, the manifest lines.
 */
export async function generateInventory(
  file: string,
  opts: InventoryOptions,
  emit: (artifact: Artifact) => void,
): Promise<{
  warnings: ReturnType<typeof sortDiagnostics>;
  stats: { hosts: number; of: number; stacks: number; userData: number; includes: number; files: number };
}> {
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
  const { hosts: all, display } = (() => {
    const source = loadSource('inventory', file, bag, 'inventory');
    return { hosts: source?.value ? resolveInventory(source, bag, stackFacts) : undefined, display: source?.display ?? file };
  })();
  collectGarbage();
  if (!all) throw new ProfileError(sortDiagnostics(bag.items));
  const hosts = opts.hosts?.length ? selectHosts(all, opts.hosts, display) : all;

  const render = hostRenderer();
  const warnings = new Map<string, ReturnType<typeof sortDiagnostics>[number]>();
  const warned = new Set<ResolvedStack>();
  // Files go out as they are made (a tree writer streams them to disk); only manifest lines stay.
  const entries: ManifestEntry[] = [];
  const hashes = new Map<string | Uint8Array, string>();
  // Seeds larger than a cloud takes: counted, and the largest (the first of equals) kept to say
  // what the fixes make of it: one warning for the run, whatever the number of hosts.
  let oversized = 0;
  let largest: { dir: string; size: RenderedHost['userDataSizes'][number] } | undefined;
  const out = (a: Artifact) => {
    emit(a);
    entries.push(manifestEntry(a, hashes));
  };
  for (const [i, host] of hosts.entries()) {
    const stack = resolvedStack(host.profiles);
    if (!warned.has(stack)) {
      warned.add(stack);
      for (const d of stack.diagnostics) warnings.set(JSON.stringify(d), d);
    }
    // A joining member's preseed holds only the join: the stack's trust password stays out of it.
    const exposed = [
      ...host.warnings,
      ...(host.cluster?.role !== 'join' && stack.plan.server.trustPassword ? trustPasswordInUserData(stack.merged) : []),
    ];
    for (const d of exposed) warnings.set(JSON.stringify(d), d);
    const c = host.cluster;
    const cluster = c && {
      role: c.role,
      serverName: host.key,
      address: c.address,
      ...(c.token ? { token: { ref: c.token, name: `hosts.${host.key}.cluster.token` } } : {}),
      ...(c.tokenFrom ? { tokenFrom: c.tokenFrom } : {}),
    };
    const { artifacts, header, userDataSizes } = render({
      stack,
      includes: host.includes,
      mime: opts.mime,
      encoding: opts.encoding,
      ...(cluster ? { cluster } : {}),
      packer: false,
      secrets: 'resolve',
    });
    const dir = host.key;
    out({ ...artifacts.find((a) => a.kind === 'user-data')!, path: `${dir}/seed/user-data` });
    const size = userDataSizes.find((s) => s.path === 'user-data')!;
    if (overSmallestLimit(size.payload)) {
      oversized++;
      if (largest === undefined || size.payload > largest.size.payload) largest = { dir, size };
    }
    // A NIC matched by MAC and given a name is renamed to it.
    const addressing = host.nics.flatMap(
      ({ id, nic }) => addressingOf(id, nicMatch(nic), nic, nic.mac !== undefined ? nic.name : undefined) ?? [],
    );
    // A stable instance-id per host: cloud-init runs first-boot modules once per instance, so
    // regenerating a seed must not make a running host redo its first boot.
    for (const seed of renderSeed({ dir, hostname: host.hostname, instanceId: `iid-${host.key}`, addressing }, header)) out(seed);
    out({ ...artifacts.find((a) => a.kind === 'preseed')!, path: preseedPath(dir, stack.plan) });
    await opts.onHost?.(i + 1, hosts.length);
  }
  if (largest) {
    const subject = `${oversized === 1 ? 'the user-data of 1 host' : `the user-data of ${oversized} hosts`} of ${hosts.length}: the largest, ${largest.dir}/seed/user-data,`;
    for (const d of userDataSizeWarning(subject, largest.size)) warnings.set(JSON.stringify(d), d);
  }
  emit(treeManifest(['inventory', display], entries));
  return {
    warnings: sortDiagnostics([...warnings.values()]),
    stats: { hosts: hosts.length, of: all.length, ...render.stats, files: entries.length + 1 },
  };
}

/** How many host keys an unknown --host's message lists before "and N more". */
const HOSTS_LISTED = 20;

/** The hosts named by --host, in the inventory's order; a name the inventory lacks is a usage error. */
function selectHosts<H extends { key: string }>(hosts: readonly H[], names: readonly string[], display: string): H[] {
  const keys = hosts.map((h) => h.key);
  const known = new Set(keys);
  for (const name of names) {
    if (known.has(name)) continue;
    const hint = didYouMean(name, keys);
    const listed = keys.slice(0, HOSTS_LISTED).join(', ') + (keys.length > HOSTS_LISTED ? `, and ${keys.length - HOSTS_LISTED} more` : '');
    throw new UsageError(
      `--host ${displayText(name)}: ${display} has no host ${displayText(name)}${hint ? ` (did you mean "${hint}"?)` : ''}; its hosts: ${listed}`,
    );
  }
  const wanted = new Set(names);
  return hosts.filter((h) => wanted.has(h.key));
}

/** Beside seed/, not in a directory of its own: one mkdir less per host counts at 10,000 hosts. */
function preseedPath(dir: string, plan: HostPlan): string {
  return `${dir}/preseed-${plan.manager.name}.yaml`;
}
