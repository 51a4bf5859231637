import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { checkArtifacts } from './check/parse-back.ts';
import { DiagnosticBag, sortDiagnostics, type Diagnostic } from './diagnostics/diagnostic.ts';
import { errnoWords, ProfileError, UsageError } from './diagnostics/errors.ts';
import { buildPlan } from './plan/build.ts';
import type { HostPlan } from './plan/model.ts';
import { headerLine, type Artifact } from './render/artifact.ts';
import { renderHostFiles } from './render/host-files.ts';
import { renderPacker } from './render/packer.ts';
import { resolveSecrets, type SecretMode } from './secrets/resolve.ts';
import { buildNetplan, renderNetplan } from './render/netplan.ts';
import { renderManifest } from './output/manifest.ts';
import { buildPreseed, renderPreseed } from './render/preseed.ts';
import { buildCloudConfig, renderUserData } from './render/user-data.ts';
import { linearize } from './resolve/inherit.ts';
import { mergeLayers, type Merged } from './resolve/merge.ts';
import { ProfileSchema, type Profile } from './schema/profile.ts';
import { salvage } from './schema/partial.ts';
import { checkRules } from './schema/rules.ts';
import { reportOverriddenInlineSecrets, validateProfile } from './schema/validate.ts';
import { locateProfile, PROFILE_NAME, type ProfileSearchPath } from './source/locate.ts';
import { shippedProfilesDir } from './source/package-root.ts';
import { GENERATOR_VERSION } from './version.ts';

/** What the user asked for: a stack of profiles, and optionally their own profiles directory. */
export interface StackRequest {
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
export function isProfilePath(arg: string): boolean {
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
    throw new UsageError(code === 'ENOENT' || code === 'ENOTDIR' ? `profile file ${arg} does not exist` : `profile file ${arg}: ${errnoWords(e as NodeJS.ErrnoException)}`);
  }
  if (!st.isFile()) throw new UsageError(`${arg} is not a regular file: give a .yaml profile file`);
  const name = basename(file, '.yaml');
  if (!PROFILE_NAME.test(name)) throw new UsageError(`profile file names use a-z, 0-9, ".", "_" and "-" (they appear in every generated header): rename ${arg}`);
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
    bag.error('OVERLAY_ALONE', `${names} ${layers.length === 1 ? 'is an overlay' : 'are overlays'}: stack it on a host profile, e.g. --profile incus-dense --profile ${layers.at(-1)!.source.name}`, { file: layers[0]!.source.display, line: 1, col: 1 });
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
  const plan = buildPlan(profile, files.map((f) => f.name), layers.map((l) => l.source.name));
  return { profile, merged, plan, diagnostics };
}

/** Every artifact of a stack, rendered and checked. */
export interface Generated {
  stack: ResolvedStack;
  artifacts: Artifact[];
  /** The cloud-config of user-data as data, and the header line of every file. */
  cloudConfig: Record<string, unknown>;
  /** The preseed as data (per-host variants start from it). */
  preseed: Record<string, unknown>;
  header: string;
}

/** What to render: everything (`--out`, diff) or only the host's own files (user-data, verify). */
export interface RenderScope {
  /** The Packer template, scripts and seed; skipped when only host artifacts are needed. */
  packer: boolean;
  /** Read the secrets the stack references (only a command that writes them does), or withhold them. */
  secrets: SecretMode;
}

/** Renders the artifacts of a resolved stack and parses each back (InternalError on mismatch). */
export function renderStack(stack: ResolvedStack, scope: RenderScope): Generated {
  const { plan } = stack;
  const header = headerLine(plan.stack, GENERATOR_VERSION);
  const hostFiles = renderHostFiles(plan, header);
  const preseedData = buildPreseed(plan, resolveSecrets({ trustPassword: plan.server.trustPassword }, scope.secrets));
  // The preseed carries the trust password, and every user-data carries the preseed.
  const holdsSecret: { holdsSecret?: true } = plan.server.trustPassword !== undefined ? { holdsSecret: true } : {};
  const preseed = { ...renderPreseed(plan, header, preseedData), ...holdsSecret };
  const cloudConfig = buildCloudConfig(plan, hostFiles, preseed.text);
  const userData = { ...renderUserData(header, cloudConfig), ...holdsSecret };
  const bakedConfig = scope.packer ? buildCloudConfig(plan, hostFiles, preseed.text, { baked: true }) : undefined;
  const packer = bakedConfig ? packerArtifacts(plan, header, hostFiles, bakedConfig, holdsSecret) : [];
  const netplanData = buildNetplan(plan);
  const netplan = netplanData ? [renderNetplan(header, netplanData)] : [];
  const artifacts = [userData, ...hostFiles, ...netplan, preseed, ...packer];
  checkArtifacts(artifacts, plan, { cloudConfig, bakedConfig, preseed: preseedData, netplan: netplanData });
  return { stack, artifacts, cloudConfig, preseed: preseedData, header };
}

/** The golden-image files: the slim first-boot user-data, the Packer template, scripts and seed. */
function packerArtifacts(plan: HostPlan, header: string, hostFiles: Artifact[], bakedConfig: Record<string, unknown>, holdsSecret: { holdsSecret?: true }): Artifact[] {
  const bakedUserData = {
    ...renderUserData(header, bakedConfig),
    ...holdsSecret,
    kind: 'packer-user-data',
    path: 'packer/user-data',
    purpose: 'first-boot user-data for hosts made from the baked image: runtime steps and preseed only',
  };
  return [bakedUserData, ...renderPacker(plan, header, hostFiles, bakedUserData)];
}

/** resolve + render, the whole job. */
export function generate(req: StackRequest, scope: RenderScope): Generated {
  return renderStack(resolveStack(req), scope);
}

/** The artifacts plus manifest.json: the tree `--out DIR` writes. */
export function treeOf(artifacts: readonly Artifact[], stack: readonly string[]): Artifact[] {
  return [...artifacts, renderManifest(stack, GENERATOR_VERSION, artifacts)];
}
