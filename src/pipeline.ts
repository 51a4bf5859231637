import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { checkArtifact } from './check/parse-back.ts';
import { foldIncludes, type IncludeCache } from './compose/fold-includes.ts';
import { DiagnosticBag, sortDiagnostics, type Diagnostic } from './diagnostics/diagnostic.ts';
import { errnoWords, ProfileError, UsageError } from './diagnostics/errors.ts';
import { renderManifest, type ManifestEntry } from './output/manifest.ts';
import { buildPlan } from './plan/build.ts';
import type { HostPlan, NicAddressing, SecretRef, TokenSource } from './plan/model.ts';
import { headerLine, type Artifact, type Encoding } from './render/artifact.ts';
import { encodeUserData } from './render/encode.ts';
import { renderHostFiles } from './render/host-files.ts';
import { renderSelfCheck } from './render/self-check.ts';
import { stringifyJsonYaml } from './render/json-yaml.ts';
import { buildMime, MIME_BOUNDARY } from './render/mime.ts';
import { buildNetplan, netplanEthernets, renderNetplan } from './render/netplan.ts';
import { renderPacker } from './render/packer.ts';
import { buildPreseed, memberPreseed, renderPreseed } from './render/preseed.ts';
import { buildCloudConfig, renderUserData, splitFinalCheck } from './render/user-data.ts';
import { payloadBytes, userDataSize, type UserDataSize } from './render/user-data-size.ts';

// The USER_DATA_SIZE warning, for the commands and the inventory: of the sizes a RenderedHost holds.
export { overSmallestLimit, userDataSizeWarning } from './render/user-data-size.ts';
import { linearize } from './resolve/inherit.ts';
import { mergeLayers, type Merged } from './resolve/merge.ts';
import { ProfileSchema, type Profile } from './schema/profile.ts';
import { salvage } from './schema/partial.ts';
import { checkRules } from './schema/rules.ts';
import { reportOverriddenInlineSecrets, validateProfile } from './schema/validate.ts';
import { resolveSecrets, secretValue, type SecretMode } from './secrets/resolve.ts';
import { locateProfile, PROFILE_NAME, type ProfileSearchPath } from './source/locate.ts';
import { shippedProfilesDir } from './source/package-root.ts';
import { GENERATOR_VERSION } from './version.ts';

// The one door: every file gen writes is rendered here and checked here (check/parse-back.ts),
// once. Commands and the inventory ask for a host (renderHost, hostRenderer) or a tree's listing
// (treeOf, treeManifest); nothing else calls a renderer or the check (test/layers.test.ts).

/** What the user asked for: a stack of profiles, and optionally their own profiles directory. */
interface StackRequest {
  profiles: string[];
  profilesDir?: string;
}

/** A validated stack: the profile, its merged data (for locating values) and the plan. */
export interface ResolvedStack {
  profile: Profile;
  merged: Merged;
  plan: HostPlan;
  /** Warnings; errors would have thrown. */
  diagnostics: Diagnostic[];
}

/** Every profile directory searched: directories of profiles given as paths, the user's, the shipped one. */
export function searchPath(profilesDir?: string, extraDirs: string[] = []): ProfileSearchPath {
  if (profilesDir !== undefined) checkProfilesDir(profilesDir);
  return { dirs: [...extraDirs, ...(profilesDir ? [profilesDir] : []), shippedProfilesDir()] };
}

/** `--profiles-dir` names a directory that exists: a typo must not silently fall back to the shipped profiles. */
function checkProfilesDir(dir: string): void {
  if (dir === '') throw new UsageError('--profiles-dir is empty: give the directory that holds your profiles');
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new UsageError(`--profiles-dir ${dir}: ${errnoWords(e as NodeJS.ErrnoException)}; give the directory that holds your profiles`);
  }
  if (!st.isDirectory()) throw new UsageError(`--profiles-dir ${dir} is not a directory: give the directory that holds your profiles`);
}

/** `--profile ./my/host.yaml`: a path, told apart from a name by a "/" or a ".yaml" suffix. */
function isProfilePath(arg: string): boolean {
  return arg.includes('/') || arg.endsWith('.yaml');
}

function requestedFile(arg: string): { name: string; file: string } {
  if (!arg.endsWith('.yaml')) throw new UsageError(`"${arg}" is neither a profile name nor a path to a .yaml profile file`);
  const file = resolve(arg);
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `profile file ${arg} does not exist`
        : `profile file ${arg}: ${errnoWords(e as NodeJS.ErrnoException)}`,
    );
  }
  if (!st.isFile()) throw new UsageError(`${arg} is not a regular file: give a .yaml profile file`);
  const name = basename(file, '.yaml');
  if (!PROFILE_NAME.test(name))
    throw new UsageError(`profile file names use a-z, 0-9, ".", "_" and "-" (they appear in every generated header): rename ${arg}`);
  return { name, file };
}

/**
 * locate → load → resolve → validate → rules → plan. Throws UsageError for an unknown requested
 * profile, ProfileError with every diagnostic for an invalid stack.
 */
export function resolveStack(req: StackRequest): ResolvedStack {
  if (req.profiles.length === 0) throw new UsageError('no profile given: use --profile NAME (see gen list)');
  const requested = req.profiles.map((arg) => (isProfilePath(arg) ? requestedFile(arg) : arg));
  // A profile given as a path may extend its siblings, then the user's directory, then shipped ones.
  const pathDirs = requested.flatMap((r) => (typeof r === 'string' ? [] : [dirname(r.file)]));
  const search = searchPath(req.profilesDir, [...new Set(pathDirs)]);
  const files = requested.map((r) => {
    if (typeof r !== 'string') return r;
    const located = locateProfile(r, search);
    if (!located.ok) throw new UsageError(located.reason);
    return { name: r, file: located.file };
  });
  const bag = new DiagnosticBag();
  const { layers } = linearize(files, search, bag);
  const merged: Merged = mergeLayers(layers);
  const hostLayers = layers.filter((l) => l.value.overlay !== true);
  merged.fallback = hostLayers[0]?.source ?? layers[0]?.source;
  if (!bag.hasErrors && layers.length > 0 && hostLayers.length === 0) {
    const names = layers.map((l) => l.source.name).join(', ');
    bag.error(
      'OVERLAY_ALONE',
      `${names} ${layers.length === 1 ? 'is an overlay' : 'are overlays'}: stack it on a host profile, e.g. --profile incus-dense --profile ${layers.at(-1)!.source.name}`,
      { file: layers[0]!.source.display, line: 1, col: 1 },
    );
  }
  // A file that could not be read, or an overlay alone, leaves the stack incomplete: judging it
  // would report what the missing part may well set. Errors after this do not stop the checks.
  const incomplete = bag.hasErrors;
  reportOverriddenInlineSecrets(layers, merged, bag);
  const profile = incomplete ? undefined : validateProfile(merged, bag);
  // The rules also judge what the schema accepted of an invalid stack, so one run reports every
  // problem; a rule that reads a refused value is skipped (schema/partial.ts).
  const checkable = profile ? { data: profile, broken: [] } : incomplete ? undefined : salvage(ProfileSchema, merged.value);
  if (checkable) checkRules(checkable.data, merged, bag, checkable.broken);
  const diagnostics = sortDiagnostics(bag.items);
  if (!profile || bag.hasErrors) throw new ProfileError(diagnostics);
  const plan = buildPlan(
    profile,
    files.map((f) => f.name),
    layers.map((l) => l.source.name),
  );
  return { profile, merged, plan, diagnostics };
}

/** A cluster member's place, for `gen --inventory`: bootstrap the cluster, or join it with a token. */
interface ClusterMembership {
  role: 'bootstrap' | 'join';
  /** The member's name in the cluster (the inventory's host key). */
  serverName: string;
  /** This member's own address:port. */
  address: string;
  /** The join token's reference (join only), and how errors name it. */
  token?: { ref: SecretRef; name: string };
  /** Where the member fetches its join token at first boot instead (join only, never with token). */
  tokenFrom?: TokenSource;
}

/** Everything about one host that its files depend on. */
export interface HostRequest {
  stack: ResolvedStack;
  /** Operators' cloud-config files folded into user-data, in order. */
  includes?: readonly string[];
  /** user-data as multipart MIME instead of one merged document. */
  mime?: boolean;
  encoding?: Encoding;
  /** The host's place in its manager's cluster (an inventory host with `cluster:`). */
  cluster?: ClusterMembership;
  /** The Packer template, scripts and seed; skipped when only host artifacts are needed. */
  packer: boolean;
  /** Read the secrets the stack references (only a command that writes them does), or withhold them. */
  secrets: SecretMode;
}

/** A host's files, rendered and checked, in the order of an output tree. */
export interface RenderedHost {
  stack: ResolvedStack;
  artifacts: Artifact[];
  /** The comment line every file starts with. */
  header: string;
  /** The size of each user-data among the artifacts (user-data, and packer/user-data when
   * rendered), for the USER_DATA_SIZE warning (render/user-data-size.ts). */
  userDataSizes: UserDataSize[];
}

/**
 * Whether packer/user-data, the first boot of a host made from the baked image, gets the operators'
 * includes (and MIME and encoding) like user-data: yes, since the users, SSH keys and packages they
 * hold are wanted on every host, baked or not (README, Operators' cloud-config).
 */
const PACKER_USER_DATA_TAKES_INCLUDES = true;

/** What a host request shares with others of the same stack: rendered and checked once. */
interface StackWork {
  header: string;
  hostFiles: Artifact[];
  /** The stack's preseed as data (a cluster member's starts from it) and as a file. */
  preseedData: Record<string, unknown>;
  preseed: Artifact;
  netplan: Artifact[];
  /** True when the preseed carries a secret, and so every user-data that carries the preseed. */
  holdsSecret: boolean;
}

/** Renders hosts one request at a time; see hostRenderer. */
interface HostRenderer {
  (req: HostRequest): RenderedHost;
  /** How often the shared work was really done: stacks rendered, user-data of hosts outside a
   * cluster rendered, include files read. */
  readonly stats: { stacks: number; userData: number; includes: number };
}

/**
 * A renderer of hosts that shares work between requests (`gen --inventory`): each stack's host
 * files and preseed are rendered and checked once, each include file is read and checked once, and
 * hosts outside a cluster with the same stack, includes and delivery get the same RenderedHost.
 * Steps, in order: preseed (the stack's or the member's) → cloud-config → fold includes → render
 * user-data once → encode → check each artifact once.
 */
export function hostRenderer(): HostRenderer {
  const stackIds = new WeakMap<ResolvedStack, number>();
  const stacks = new Map<string, StackWork>();
  const hosts = new Map<string, RenderedHost>();
  const includes: IncludeCache = new Map();
  const checked = new WeakSet<Artifact>();
  const stats = { stacks: 0, userData: 0, includes: 0 };
  let lastId = 0;
  const idOf = (stack: ResolvedStack): number => {
    let id = stackIds.get(stack);
    if (id === undefined) stackIds.set(stack, (id = ++lastId));
    return id;
  };
  const checkOnce = (artifacts: readonly Artifact[]) => {
    for (const a of artifacts) {
      if (checked.has(a)) continue;
      checkArtifact(a);
      checked.add(a);
    }
  };
  const render = (req: HostRequest): RenderedHost => {
    const stackKey = `${idOf(req.stack)}\0${req.secrets}`;
    // Hosts outside a cluster differ only in what the inventory adds per host (seed, paths).
    const hostKey =
      req.cluster === undefined
        ? `${stackKey}\0${req.packer}\0${req.mime ?? false}\0${req.encoding ?? 'plain'}\0${(req.includes ?? []).join('\0')}`
        : undefined;
    const done = hostKey !== undefined ? hosts.get(hostKey) : undefined;
    if (done) return done;
    let work = stacks.get(stackKey);
    if (!work) {
      work = renderStackWork(req.stack.plan, req.secrets);
      checkOnce([...work.hostFiles, work.preseed, ...work.netplan]);
      stats.stacks++;
      stacks.set(stackKey, work);
    }
    const host = renderOne(req, work, includes);
    checkOnce(host.artifacts);
    stats.includes = includes.size;
    if (hostKey !== undefined) {
      stats.userData++;
      hosts.set(hostKey, host);
    }
    return host;
  };
  return Object.assign(render, { stats });
}

/** One host, rendered and checked: what `gen --profile` writes. */
export function renderHost(req: HostRequest): RenderedHost {
  return hostRenderer()(req);
}

/** The files every host of a stack shares, rendered (not yet checked). */
function renderStackWork(plan: HostPlan, secrets: SecretMode): StackWork {
  const header = headerLine(plan.stack, GENERATOR_VERSION);
  const otherHostFiles = renderHostFiles(plan, header);
  const preseedData = buildPreseed(plan, resolveSecrets({ trustPassword: plan.server.trustPassword }, secrets));
  const holdsSecret = plan.server.trustPassword !== undefined;
  const preseed = { ...renderPreseed(plan, header, preseedData), ...(holdsSecret ? { holdsSecret } : {}) };
  const netplanData = buildNetplan(plan);
  // The verifier holds the hash of every other installed file, so it is rendered after them.
  const hostFiles = [...otherHostFiles, renderSelfCheck(plan, header, otherHostFiles, preseed)];
  return { header, hostFiles, preseedData, preseed, netplan: netplanData ? [renderNetplan(header, netplanData)] : [], holdsSecret };
}

function renderOne(req: HostRequest, work: StackWork, includeCache: IncludeCache): RenderedHost {
  const { plan } = req.stack;
  const { header, hostFiles } = work;
  let preseed = work.preseed;
  let holdsSecret = work.holdsSecret;
  const tokenFrom = req.cluster?.tokenFrom;
  if (req.cluster) {
    // A cluster member's preseed (and so its user-data) is its own.
    const c = req.cluster;
    const token = c.token ? secretValue(c.token.name, c.token.ref, req.secrets) : undefined;
    const data = memberPreseed(work.preseedData, plan, {
      role: c.role,
      serverName: c.serverName,
      address: c.address,
      ...(token !== undefined ? { token } : {}),
    });
    holdsSecret ||= token !== undefined;
    preseed = { ...renderPreseed(plan, header, data), ...(holdsSecret ? { holdsSecret } : {}) };
  }
  const secret = holdsSecret ? { holdsSecret } : {};
  const userData = {
    ...composeUserData(req, header, buildCloudConfig(plan, hostFiles, preseed.text, tokenFrom ? { tokenFrom } : {}), includeCache),
    ...secret,
  };
  // Rendered for the Packer files, or only when user-data is too large, to say what it would be.
  let bakedUserData: Artifact | undefined;
  const baked = (): Artifact => {
    if (bakedUserData) return bakedUserData;
    const config = buildCloudConfig(plan, hostFiles, preseed.text, { baked: true, ...(tokenFrom ? { tokenFrom } : {}) });
    return (bakedUserData = {
      ...(PACKER_USER_DATA_TAKES_INCLUDES ? composeUserData(req, header, config, includeCache) : renderUserData(header, config)),
      ...secret,
      kind: 'packer-user-data',
      path: 'packer/user-data',
      purpose: 'first-boot user-data for hosts made from the baked image: runtime steps and preseed only',
    });
  };
  const packer = req.packer ? [baked(), ...renderPacker(plan, header, hostFiles, baked())] : [];
  const userDataSizes = [userDataSize(userData, () => payloadBytes(baked())), ...(req.packer ? [userDataSize(baked())] : [])];
  return { stack: req.stack, artifacts: [userData, ...hostFiles, ...work.netplan, preseed, ...packer], header, userDataSizes };
}

/**
 * A user-data of `config` as the request asks: operators' includes folded in (merged, or as MIME
 * parts), rendered once, then encoded.
 */
function composeUserData(req: HostRequest, header: string, config: Record<string, unknown>, includeCache: IncludeCache): Artifact {
  const files = req.includes ?? [];
  const encoding = req.encoding ?? 'plain';
  let artifact: Artifact;
  if (files.length === 0 && !req.mime) {
    artifact = renderUserData(header, config);
  } else {
    const label = `the generated user-data (profile ${req.stack.plan.stack.join(' + ')})`;
    const folded = foldIncludes(
      splitFinalCheck(config),
      label,
      files,
      req.mime ? { mime: true, boundary: MIME_BOUNDARY } : { mime: false },
      includeCache,
    );
    if (!folded.mime) {
      artifact = renderUserData(header, folded.config, folded.names);
    } else {
      const ours = renderUserData(header, folded.steps);
      const parts = [
        { filename: 'born-tuned.cfg', text: ours.text, cloudConfig: folded.steps },
        // Each include goes as it is written: cloud-init reads exactly the file the checks read.
        ...folded.includes.map((inc) => ({ filename: inc.name, text: inc.text })),
        { filename: 'born-tuned-check.cfg', text: renderUserData(header, folded.check).text, cloudConfig: folded.check },
      ];
      const text = buildMime(parts.map((p) => ({ filename: p.filename, contentType: 'text/cloud-config', text: p.text })));
      artifact = { ...ours, text, format: 'mime', data: parts };
    }
  }
  return encoding === 'plain' ? artifact : { ...artifact, bytes: encodeUserData(artifact.text, encoding), encoding };
}

/** The per-host files of a NoCloud seed that no other host shares. */
interface HostSeed {
  /** Directory of the host in the tree. */
  dir: string;
  hostname: string;
  /** cloud-init's instance-id: stable per host, so regenerating a seed does not redo a first boot. */
  instanceId: string;
  /** NICs with static addressing (network-config), none for DHCP-only hosts. */
  addressing: readonly NicAddressing[];
}

/**
 * A host's `seed/meta-data` and, when it has static addressing, `seed/network-config`, checked:
 * indented JSON under a comment line (render/json-yaml.ts says why).
 */
export function renderSeed(seed: HostSeed, header: string): Artifact[] {
  const meta = { 'instance-id': seed.instanceId, 'local-hostname': seed.hostname };
  const files: Artifact[] = [
    {
      kind: 'meta-data',
      path: `${seed.dir}/seed/meta-data`,
      mode: 0o644,
      purpose: `NoCloud meta-data of ${seed.hostname}`,
      text: stringifyJsonYaml(header, meta),
      format: 'json-yaml',
      data: meta,
    },
  ];
  if (seed.addressing.length > 0) {
    const network = { network: { version: 2, ethernets: netplanEthernets(seed.addressing) } };
    files.push({
      kind: 'network-config',
      path: `${seed.dir}/seed/network-config`,
      mode: 0o600,
      purpose: `NoCloud network-config (netplan v2) of ${seed.hostname}`,
      text: stringifyJsonYaml(header, network),
      format: 'json-yaml',
      data: network,
    });
  }
  for (const f of files) checkArtifact(f);
  return files;
}

/** The stack's files plus manifest.json: the tree `--out DIR` writes. */
export function treeOf(artifacts: readonly Artifact[], stack: readonly string[]): Artifact[] {
  return [...artifacts, treeManifest(stack, artifacts)];
}

/** manifest.json of a tree of `files` (artifacts, or the manifest lines of files already written), checked. */
export function treeManifest(stack: readonly string[], files: readonly (Artifact | ManifestEntry)[]): Artifact {
  const manifest = renderManifest(stack, GENERATOR_VERSION, files);
  checkArtifact(manifest);
  return manifest;
}

/** resolve + render, the whole job for one stack without includes. */
export function generate(req: StackRequest, scope: { packer: boolean; secrets: SecretMode }): RenderedHost {
  return renderHost({ stack: resolveStack(req), ...scope });
}
