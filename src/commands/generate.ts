import { setFlagsFromString } from 'node:v8';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { trustPasswordInUserData } from '../secrets/exposure.ts';
import { displayText } from '../base/display-text.ts';
import { progressLine } from '../output/progress.ts';
import { yieldToSignals } from '../output/signals.ts';
import { TreeWriter } from '../output/write.ts';
import { renderHost, resolveStack, treeOf, userDataSizeWarning, type HostRequest } from '../pipeline.ts';
import { generateInventory } from '../inventory/generate.ts';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Artifact, ArtifactKind, Encoding } from '../render/artifact.ts';
import { reportDiagnostics, reportWarnings, type Io, type StackOptions } from './context.ts';

/** The artifacts that carry the preseed, and so its secrets. */
const SECRET_CARRIERS: ReadonlySet<ArtifactKind> = new Set(['user-data', 'preseed', 'packer-user-data']);

/** `gen` options: the stack or inventory, what to print or write, and how user-data is composed. */
interface GenerateOptions extends StackOptions {
  inventory?: string;
  /** With inventory: the hosts to render (all when empty). */
  host: string[];
  include: string[];
  mime: boolean;
  encoding: Encoding;
  artifact?: ArtifactKind;
  out?: string;
  force: boolean;
}

/** The main job: `gen --profile NAME…` prints user-data (or `--artifact KIND`), or writes `--out DIR`. */
export async function runGenerate(opts: GenerateOptions, io: Io): Promise<ExitCode> {
  if (opts.out !== undefined && opts.artifact !== undefined)
    throw new UsageError('--out writes every artifact; --artifact prints one: use one of them');
  if (opts.force && opts.out === undefined) throw new UsageError('--force only applies to --out');
  if (opts.host.length > 0 && opts.inventory === undefined)
    throw new UsageError('--host picks hosts of an inventory: add --inventory FILE');
  if (opts.inventory !== undefined) return runInventory(opts, io);
  if (opts.out !== undefined) return writeStack(opts.out, opts, io);
  // Printing one host artifact needs neither the Packer files nor the manifest, and only the
  // artifacts that carry the preseed need the secrets it holds.
  const kind = opts.artifact ?? 'user-data';
  const { artifacts, sizeWarnings } = artifactsOfStack(
    opts,
    io,
    { packer: kind.startsWith('packer-'), secrets: SECRET_CARRIERS.has(kind) ? 'resolve' : 'withhold' },
    kind === 'user-data' || kind === 'packer-user-data' ? [kind] : [],
  );
  const chosen = artifacts.filter((a) => a.kind === kind);
  if (chosen.length === 0)
    throw new UsageError(`this stack has no ${kind} artifact (it has ${[...new Set(artifacts.map((a) => a.kind))].join(', ')})`);
  // Kinds with several files (packer-scripts) print each under a "==> path <==" line, like tail.
  reportWarnings(io, opts, sizeWarnings);
  if (chosen.length === 1) io.stdout(chosen[0]!.bytes ?? chosen[0]!.text);
  else io.stdout(chosen.map((a) => `==> ${a.path} <==\n${a.text}`).join('\n'));
  return ExitCode.ok;
}

/** The artifacts of the stack named by `--profile`, with the includes, MIME and encoding asked
 * for; the stack's warnings are printed first, and a warning when a user-data that will be written
 * (`userData`) carries the trust password. Returned with them: the USER_DATA_SIZE warnings of those
 * user-data, for the caller to print (after the tree is in place, for --out). */
function artifactsOfStack(
  opts: GenerateOptions,
  io: Io,
  scope: Pick<HostRequest, 'packer' | 'secrets'>,
  userData: readonly ('user-data' | 'packer-user-data')[],
): { artifacts: Artifact[]; stack: readonly string[]; sizeWarnings: Diagnostic[] } {
  const stack = resolveStack({ profiles: opts.profile, profilesDir: opts.profilesDir });
  reportWarnings(io, opts, stack.diagnostics);
  const host = renderHost({ stack, includes: opts.include, mime: opts.mime, encoding: opts.encoding, ...scope });
  // Once the secret was read: a run that cannot read it says only that.
  if (scope.secrets === 'resolve' && userData.length > 0 && stack.plan.server.trustPassword)
    reportWarnings(io, opts, trustPasswordInUserData(stack.merged));
  const written = new Set(host.artifacts.filter((a) => (userData as readonly string[]).includes(a.kind)).map((a) => a.path));
  const sizeWarnings = host.userDataSizes.filter((s) => written.has(s.path)).flatMap((s) => userDataSizeWarning(s.path, s));
  // --strict: a warning stops the run here, before anything is printed or written.
  if (opts.strict) reportWarnings(io, opts, sizeWarnings);
  return { artifacts: host.artifacts, stack: stack.plan.stack, sizeWarnings };
}

/** `gen --profile … --out DIR`: the stack's tree with its manifest. */
async function writeStack(out: string, opts: GenerateOptions, io: Io): Promise<ExitCode> {
  // DIR is locked, and what an interrupted run left is recovered, before the profile is even read:
  // an invalid profile must not leave DIR half-swapped.
  const writer = TreeWriter.open(out, { force: opts.force });
  try {
    const { artifacts, stack, sizeWarnings } = artifactsOfStack(opts, io, { packer: true, secrets: 'resolve' }, [
      'user-data',
      'packer-user-data',
    ]);
    for (const a of treeOf(artifacts, stack)) writer.write(a);
    const written = await writer.commit();
    // Once the tree is in place: a run that failed to write says only that.
    reportWarnings(io, opts, sizeWarnings);
    reportLeftAside(io, opts, written.leftAside);
    io.stdout(`wrote ${written.files} files to ${displayText(out)}\n`);
    return ExitCode.ok;
  } catch (e) {
    writer.abort();
    throw e;
  }
}

// How many hosts an inventory renders between two turns of the event loop: a turn costs a few
// microseconds, 25 hosts take ~15 ms, so SIGINT or SIGTERM stops a run within that.
const HOSTS_BETWEEN_YIELDS = 25;

/** `gen --inventory FILE --out DIR`: one seed directory per host, written atomically. */
async function runInventory(opts: GenerateOptions, io: Io): Promise<ExitCode> {
  if (opts.out === undefined) throw new UsageError('--inventory writes one directory per host: add --out DIR');
  if (opts.profile.length > 0 || opts.artifact !== undefined || opts.include.length > 0) {
    throw new UsageError('--inventory takes profiles and includes from the inventory: drop --profile, --artifact and --include');
  }
  // A long run: the startup snapshot starts V8 without its optimizing compiler (--no-opt in
  // scripts/build.mjs), which suits a single render; thousands of hosts render 2.5x faster with it.
  setFlagsFromString('--opt');
  const progress = progressLine(io);
  const writer = TreeWriter.open(opts.out, { force: opts.force });
  const onHost = (done: number, total: number) => {
    progress.update(done, total);
    return done % HOSTS_BETWEEN_YIELDS === 0 ? yieldToSignals() : undefined;
  };
  let result;
  let written;
  try {
    result = await generateInventory(
      opts.inventory!,
      { profilesDir: opts.profilesDir, mime: opts.mime, encoding: opts.encoding, hosts: opts.host, onHost },
      (a) => writer.write(a),
    );
    // --strict: a warning stops the run here, before the tree replaces DIR (the warnings are
    // otherwise printed below, after the progress line has ended).
    if (opts.strict) reportWarnings(io, opts, result.warnings);
    written = await writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    progress.end();
  }
  reportWarnings(io, opts, result.warnings);
  reportLeftAside(io, opts, written.leftAside);
  const { hosts, of } = result.stats;
  io.stdout(`wrote ${hosts === of ? hosts : `${hosts} of ${of}`} hosts (${written.files} files) to ${displayText(opts.out)}\n`);
  return ExitCode.ok;
}

/** A warning when the old tree could not be removed after the swap (the next run removes it). */
function reportLeftAside(io: Io, opts: GenerateOptions, leftAside: string | undefined): void {
  if (leftAside === undefined) return;
  // After the swap: the tree is in place, so even --strict only reports this.
  reportDiagnostics(io, opts.format, [
    {
      severity: 'warning',
      code: 'OUT_OLD_TREE_LEFT',
      message: `the new tree is in place, but the old one could not be removed: it is left at ${displayText(leftAside)} (the next run into this --out removes it, or remove it yourself)`,
    },
  ]);
}
