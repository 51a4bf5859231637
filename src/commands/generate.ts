import { Option, type Command } from 'commander';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { writeTree } from '../output/write.ts';
import { generate } from '../pipeline.ts';
import { ARTIFACT_KINDS } from './artifact-kinds.ts';
import { collect, reportDiagnostics, type CommandContext, type Format } from './context.ts';

interface GenerateOptions {
  profile: string[];
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
    .addOption(new Option('--format <format>', 'diagnostics format (on stderr)').choices(['text', 'json']).default('text'))
    .action((opts: GenerateOptions) => {
      ctx.format = opts.format;
      if (opts.out !== undefined && opts.artifact !== undefined) throw new UsageError('--out writes every artifact; --artifact prints one: use one of them');
      if (opts.force && opts.out === undefined) throw new UsageError('--force only applies to --out');
      const result = generate({ profiles: opts.profile, profilesDir: opts.profilesDir });
      reportDiagnostics(ctx, result.stack.diagnostics);
      if (opts.out !== undefined) {
        writeTree(opts.out, result.tree, { force: opts.force });
        ctx.io.stdout(`wrote ${result.tree.length} files to ${opts.out}\n`);
        return done(ExitCode.ok);
      }
      const kind = opts.artifact ?? 'user-data';
      const artifacts = result.artifacts.filter((a) => a.kind === kind);
      if (artifacts.length === 0) throw new UsageError(`this stack has no ${kind} artifact (it has ${[...new Set(result.artifacts.map((a) => a.kind))].join(', ')})`);
      // Kinds with several files (packer-scripts) print each under a "==> path <==" line, like tail.
      ctx.io.stdout(artifacts.length === 1 ? artifacts[0]!.text : artifacts.map((a) => `==> ${a.path} <==\n${a.text}`).join('\n'));
      return done(ExitCode.ok);
    });
}
