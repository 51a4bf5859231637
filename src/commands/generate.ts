import { Option, type Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { displayText } from '../output/display-text.ts';
import { progressLine } from '../output/progress.ts';
import { yieldToSignals } from '../output/signals.ts';
import { TreeWriter } from '../output/write.ts';
import { renderHost, resolveStack, treeOf, type HostRequest } from '../pipeline.ts';
import { generateInventory } from '../inventory/generate.ts';
import { ARTIFACT_KINDS, ENCODINGS, type Artifact, type ArtifactKind, type Encoding } from '../render/artifact.ts';
import { collect, formatOption, reportDiagnostics, type CommandContext, type Format } from './context.ts';

/** The artifacts that carry the preseed, and so its secrets. */
const SECRET_CARRIERS: ReadonlySet<ArtifactKind> = new Set(['user-data', 'preseed', 'packer-user-data']);

interface GenerateOptions {
  profile: string[];
  inventory?: string;
  include: string[];
  mime?: boolean;
  encoding: Encoding;
  profilesDir?: string;
  artifact?: ArtifactKind;
  out?: string;
  force?: boolean;
  format: Format;
}

/** The main job: `gen --profile NAME…` prints user-data (or `--artifact KIND`), or writes `--out DIR`. */
export function registerGenerate(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .option('-p, --profile <name>', 'profile name or path to a .yaml file; repeat to stack overlays (later wins)', collect, [] as string[])
    .option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones')
    .addOption(new Option('--artifact <kind>', 'print one artifact instead of user-data').choices(ARTIFACT_KINDS))
    .option('-o, --out <dir>', 'write every artifact as a tree under DIR (atomically), with manifest.json')
    .option('--force', 'with --out: replace a non-empty directory that gen did not write')
    .option('--inventory <file>', 'render every host of an inventory (with --out): NoCloud seeds and preseeds')
    .option('--include <file>', 'fold an operator cloud-config file into user-data; repeatable', collect, [] as string[])
    .option('--mime', 'user-data as a multipart MIME document (one part per file) instead of one merged cloud-config')
    .addOption(new Option('--encoding <encoding>', 'user-data encoding').choices(ENCODINGS).default('plain'))
    .addOption(formatOption('diagnostics format (on stderr)'))
    .action(async (opts: GenerateOptions) => {
      ctx.format = opts.format;
      if (opts.out !== undefined && opts.artifact !== undefined) throw new UsageError('--out writes every artifact; --artifact prints one: use one of them');
      if (opts.force && opts.out === undefined) throw new UsageError('--force only applies to --out');
      if (opts.inventory !== undefined) return done(await runInventory(opts, ctx));
      if (opts.out !== undefined) return done(await writeStack(opts.out, opts, ctx));
      // Printing one host artifact needs neither the Packer files nor the manifest, and only the
      // artifacts that carry the preseed need the secrets it holds.
      const kind = opts.artifact ?? 'user-data';
      const { artifacts } = artifactsOfStack(opts, ctx, { packer: kind.startsWith('packer-'), secrets: SECRET_CARRIERS.has(kind) ? 'resolve' : 'withhold' });
      const chosen = artifacts.filter((a) => a.kind === kind);
      if (chosen.length === 0) throw new UsageError(`this stack has no ${kind} artifact (it has ${[...new Set(artifacts.map((a) => a.kind))].join(', ')})`);
      // Kinds with several files (packer-scripts) print each under a "==> path <==" line, like tail.
      if (chosen.length === 1) ctx.io.stdout(chosen[0]!.bytes ?? chosen[0]!.text);
      else ctx.io.stdout(chosen.map((a) => `==> ${a.path} <==\n${a.text}`).join('\n'));
      return done(ExitCode.ok);
    });
}

/** The artifacts of the stack named by `--profile`, with the includes, MIME and encoding asked
 * for; the stack's warnings are printed first. */
function artifactsOfStack(opts: GenerateOptions, ctx: CommandContext, scope: Pick<HostRequest, 'packer' | 'secrets'>): { artifacts: Artifact[]; stack: readonly string[] } {
  const stack = resolveStack({ profiles: opts.profile, profilesDir: opts.profilesDir });
  reportDiagnostics(ctx, stack.diagnostics);
  const { artifacts } = renderHost({ stack, includes: opts.include, mime: opts.mime ?? false, encoding: opts.encoding, ...scope });
  return { artifacts, stack: stack.plan.stack };
}

/** `gen --profile … --out DIR`: the stack's tree with its manifest. */
async function writeStack(out: string, opts: GenerateOptions, ctx: CommandContext): Promise<number> {
  // DIR is locked, and what an interrupted run left is recovered, before the profile is even read:
  // an invalid profile must not leave DIR half-swapped.
  const writer = TreeWriter.open(out, { force: opts.force });
  try {
    const { artifacts, stack } = artifactsOfStack(opts, ctx, { packer: true, secrets: 'resolve' });
    for (const a of treeOf(artifacts, stack)) writer.write(a);
    const written = await writer.commit();
    reportLeftAside(ctx, written.leftAside);
    ctx.io.stdout(`wrote ${written.files} files to ${displayText(out)}\n`);
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
async function runInventory(opts: GenerateOptions, ctx: CommandContext): Promise<number> {
  if (opts.out === undefined) throw new UsageError('--inventory writes one directory per host: add --out DIR');
  if (opts.profile.length > 0 || opts.artifact !== undefined || opts.include.length > 0) {
    throw new UsageError('--inventory takes profiles and includes from the inventory: drop --profile, --artifact and --include');
  }
  // A long run: the startup snapshot starts V8 without its optimizing compiler (--no-opt in
  // scripts/build.mjs), which suits a single render; thousands of hosts render 2.5x faster with it.
  setFlagsFromString('--opt');
  const progress = progressLine(ctx.io);
  const writer = TreeWriter.open(opts.out, { force: opts.force });
  const onHost = (done: number, total: number) => {
    progress.update(done, total);
    return done % HOSTS_BETWEEN_YIELDS === 0 ? yieldToSignals() : undefined;
  };
  let result;
  let written;
  try {
    result = await generateInventory(opts.inventory!, { profilesDir: opts.profilesDir, mime: opts.mime ?? false, encoding: opts.encoding, onHost }, (a) => writer.write(a));
    written = await writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    progress.end();
  }
  reportDiagnostics(ctx, result.warnings);
  reportLeftAside(ctx, written.leftAside);
  ctx.io.stdout(`wrote ${result.stats.hosts} hosts (${written.files} files) to ${displayText(opts.out)}\n`);
  return ExitCode.ok;
}

/** A warning when the old tree could not be removed after the swap (the next run removes it). */
function reportLeftAside(ctx: CommandContext, leftAside: string | undefined): void {
  if (leftAside === undefined) return;
  reportDiagnostics(ctx, [{ severity: 'warning', code: 'OUT_OLD_TREE_LEFT', message: `the new tree is in place, but the old one could not be removed: it is left at ${displayText(leftAside)} (the next run into this --out removes it, or remove it yourself)` }]);
}
