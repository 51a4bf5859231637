import { Option, type Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { displayText } from '../output/display-text.ts';
import { progressLine } from '../output/progress.ts';
import { TreeWriter, writeTree } from '../output/write.ts';
import { generate, treeOf } from '../pipeline.ts';
import { composeUserData } from '../compose/user-data.ts';
import { ENCODINGS, type Encoding } from '../compose/encode.ts';
import { renderInventory } from '../inventory/render.ts';
import { ARTIFACT_KINDS } from './artifact-kinds.ts';
import { collect, formatOption, reportDiagnostics, type CommandContext, type Format } from './context.ts';

/** The artifacts that carry the preseed, and so its secrets. */
const SECRET_CARRIERS: ReadonlySet<string> = new Set(['user-data', 'preseed', 'packer-user-data']);

interface GenerateOptions {
  profile: string[];
  inventory?: string;
  include: string[];
  mime?: boolean;
  encoding: Encoding;
  profilesDir?: string;
  artifact?: string;
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
    .action((opts: GenerateOptions) => {
      ctx.format = opts.format;
      if (opts.out !== undefined && opts.artifact !== undefined) throw new UsageError('--out writes every artifact; --artifact prints one: use one of them');
      if (opts.force && opts.out === undefined) throw new UsageError('--force only applies to --out');
      if (opts.inventory !== undefined) return done(runInventory(opts, ctx));
      // Printing one host artifact needs neither the Packer files nor the manifest, and only the
      // artifacts that carry the preseed need the secrets it holds.
      const needsPacker = opts.out !== undefined || (opts.artifact ?? '').startsWith('packer-');
      const writesSecrets = opts.out !== undefined || SECRET_CARRIERS.has(opts.artifact ?? 'user-data');
      const result = generate({ profiles: opts.profile, profilesDir: opts.profilesDir }, { packer: needsPacker, secrets: writesSecrets ? 'resolve' : 'withhold' });
      reportDiagnostics(ctx, result.stack.diagnostics);
      const userData = composeUserData(result, { includes: opts.include, mime: opts.mime ?? false, encoding: opts.encoding });
      result.artifacts = result.artifacts.map((a) => (a.kind === 'user-data' ? userData : a));
      if (opts.out !== undefined) {
        const tree = treeOf(result.artifacts, result.stack.plan.stack);
        writeTree(opts.out, tree, { force: opts.force });
        ctx.io.stdout(`wrote ${tree.length} files to ${displayText(opts.out)}\n`);
        return done(ExitCode.ok);
      }
      const kind = opts.artifact ?? 'user-data';
      const artifacts = result.artifacts.filter((a) => a.kind === kind);
      if (artifacts.length === 0) throw new UsageError(`this stack has no ${kind} artifact (it has ${[...new Set(result.artifacts.map((a) => a.kind))].join(', ')})`);
      // Kinds with several files (packer-scripts) print each under a "==> path <==" line, like tail.
      if (artifacts.length === 1) ctx.io.stdout(artifacts[0]!.bytes ?? artifacts[0]!.text);
      else ctx.io.stdout(artifacts.map((a) => `==> ${a.path} <==\n${a.text}`).join('\n'));
      return done(ExitCode.ok);
    });
}

/** `gen --inventory FILE --out DIR`: one seed directory per host, written atomically. */
function runInventory(opts: GenerateOptions, ctx: CommandContext): number {
  if (opts.out === undefined) throw new UsageError('--inventory writes one directory per host: add --out DIR');
  if (opts.profile.length > 0 || opts.artifact !== undefined || opts.include.length > 0) {
    throw new UsageError('--inventory takes profiles and includes from the inventory: drop --profile, --artifact and --include');
  }
  // A long run: the startup snapshot starts V8 without its optimizing compiler (--no-opt in
  // scripts/build.mjs), which suits a single render; thousands of hosts render 2.5x faster with it.
  setFlagsFromString('--opt');
  const progress = progressLine(ctx.io);
  const writer = TreeWriter.open(opts.out, { force: opts.force });
  let result;
  try {
    result = renderInventory(opts.inventory!, { profilesDir: opts.profilesDir, mime: opts.mime ?? false, encoding: opts.encoding, onHost: progress.update }, (a) => writer.write(a));
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    progress.end();
  }
  reportDiagnostics(ctx, result.warnings);
  ctx.io.stdout(`wrote ${result.stats.hosts} hosts (${result.stats.files} files) to ${displayText(opts.out!)}\n`);
  return ExitCode.ok;
}
