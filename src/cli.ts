import { Command, CommanderError, Option } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diagnosticsToJson, formatDiagnostics } from './diagnostics/format.ts';
import { ExitCode, InternalError, ProfileError, UsageError } from './diagnostics/errors.ts';
import type { Diagnostic } from './diagnostics/diagnostic.ts';
import { generate } from './pipeline.ts';
import { GENERATOR_VERSION } from './version.ts';
import { ARTIFACT_KINDS } from './commands/artifact-kinds.ts';
import { writeTree } from './output/write.ts';

/** Where the CLI writes; tests pass their own. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

type Format = 'text' | 'json';

/** Runs the CLI with `argv` (without node and script) and returns the exit code. Never exits itself. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let format: Format = argv.includes('--format=json') || argv.join(' ').includes('--format json') ? 'json' : 'text';
  const program = new Command('gen')
    .description('Generate cloud-init user-data and host files that make LXD and Incus hosts born tuned.')
    .version(GENERATOR_VERSION, '-V, --version')
    .option('-p, --profile <name>', 'profile to use; repeat to stack overlays (later wins)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones')
    .addOption(new Option('--artifact <kind>', 'print one artifact instead of user-data').choices(ARTIFACT_KINDS))
    .option('-o, --out <dir>', 'write every artifact as a tree under DIR (atomically), with manifest.json')
    .option('--force', 'with --out: replace a non-empty directory that gen did not write')
    .addOption(new Option('--format <format>', 'diagnostics format').choices(['text', 'json']).default('text'))
    .addHelpText('after', `\nArtifact kinds: ${ARTIFACT_KINDS.join(', ')}\n\nExit codes: 0 ok, 1 invalid profile, 2 usage error, 3 internal error (a bug in gen).\n\nExamples:\n  gen --profile incus-dense --profile 10gbe > user-data\n  gen --profile incus-dense --profile 10gbe --out out/incus-dense`)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: () => undefined, outputError: () => undefined })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);

  try {
    program.parse(argv, { from: 'user' });
    const opts = program.opts<{ profile: string[]; profilesDir?: string; artifact?: string; out?: string; force?: boolean; format: Format }>();
    format = opts.format;
    if (opts.out !== undefined && opts.artifact !== undefined) throw new UsageError('--out writes every artifact; --artifact prints one: use one of them');
    if (opts.force && opts.out === undefined) throw new UsageError('--force only applies to --out');
    const result = generate({ profiles: opts.profile, profilesDir: opts.profilesDir });
    report(io, format, result.stack.diagnostics);
    if (opts.out !== undefined) {
      writeTree(opts.out, result.tree, { force: opts.force });
      io.stdout(`wrote ${result.tree.length} files to ${opts.out}\n`);
      return ExitCode.ok;
    }
    const kind = opts.artifact ?? 'user-data';
    const artifact = result.artifacts.find((a) => a.kind === kind);
    if (!artifact) throw new UsageError(`this stack has no ${kind} artifact (it has ${result.artifacts.map((a) => a.kind).join(', ')})`);
    io.stdout(artifact.text);
    return ExitCode.ok;
  } catch (e) {
    return handleError(e, io, format);
  }
}

function report(io: Io, format: Format, diagnostics: Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  io.stderr(`${format === 'json' ? diagnosticsToJson(diagnostics) : formatDiagnostics(diagnostics)}\n`);
}

function handleError(e: unknown, io: Io, format: Format): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
    io.stderr(`gen: ${e.message.replace(/^error: /, '')}\n`);
    return ExitCode.usage;
  }
  if (e instanceof UsageError) {
    if (format === 'json') io.stderr(`${diagnosticsToJson([{ severity: 'error', code: 'UNKNOWN_PROFILE', message: e.message }])}\n`);
    else io.stderr(`gen: ${e.message}\n`);
    return ExitCode.usage;
  }
  if (e instanceof ProfileError) {
    report(io, format, e.diagnostics);
    return ExitCode.invalidProfile;
  }
  const detail = e instanceof InternalError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  io.stderr(`gen: internal error: ${detail}\nThis is a bug in gen, not in your profile; please report it with the command you ran.\n`);
  return ExitCode.internal;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
