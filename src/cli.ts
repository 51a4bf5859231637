import { Command, CommanderError } from 'commander';
import { ARTIFACT_KINDS } from './render/artifact.ts';
import { reportDiagnostics, type CommandContext, type Io } from './commands/context.ts';
import { registerDiff } from './commands/diff.ts';
import { registerExplain } from './commands/explain.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerList } from './commands/list.ts';
import { registerSchema } from './commands/schema.ts';
import { registerVerify } from './commands/verify.ts';
import { diagnosticsToJson } from './diagnostics/format.ts';
import { errnoWords, ExitCode, InternalError, isErrnoException, ProfileError, UsageError } from './diagnostics/errors.ts';
import { displayJson, displayReport } from './output/display-text.ts';
import { GENERATOR_VERSION } from './version.ts';

export type { Io } from './commands/context.ts';

/**
 * The process's own streams. isTTY is read when asked, not at import: a startup snapshot is
 * built without a terminal. A write error arrives as an event after the write returned: a reader
 * that went away (`gen --help | head -1`, EPIPE) ends the output quietly; any other (a full disk
 * behind `> user-data`) is kept for main() to report, so a truncated file never looks written.
 */
export const processIo: Io = {
  stdout: (t) => {
    watchStreams();
    if (!streamErrors.has('stdout')) process.stdout.write(t);
  },
  stderr: (t) => {
    watchStreams();
    if (!streamErrors.has('stderr')) process.stderr.write(t);
  },
  get isTTY() {
    return process.stderr.isTTY === true;
  },
  outputFailure: async () => {
    // Stream errors are emitted on the next tick after the write that failed.
    await new Promise((done) => setImmediate(done));
    const e = streamErrors.get('stdout');
    return e && e.code !== 'EPIPE' ? e : undefined;
  },
};

const streamErrors = new Map<'stdout' | 'stderr', NodeJS.ErrnoException>();
let watching = false;
function watchStreams(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => void (streamErrors.has('stdout') || streamErrors.set('stdout', e)));
  process.stderr.on('error', (e: NodeJS.ErrnoException) => void (streamErrors.has('stderr') || streamErrors.set('stderr', e)));
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. Never exits itself. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  // Everything on stderr is gen's own report (diagnostics, usage errors, progress), and it may
  // quote users' text: what a terminal would act on is escaped here, once, for every command.
  const ctx: CommandContext = { io: { ...io, stderr: (t) => io.stderr(ctx.format === 'json' ? displayJson(t) : displayReport(t)) }, format: 'text' };
  let code: number = ExitCode.ok;
  const done = (c: number) => {
    code = c;
  };
  const program = new Command('gen')
    .description('Generate cloud-init user-data and host files that make LXD and Incus hosts born tuned.')
    .version(GENERATOR_VERSION, '-V, --version')
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .addHelpText('after', `\nArtifact kinds (--artifact): ${ARTIFACT_KINDS.join(', ')}\n\nExit codes: 0 ok, 1 invalid profile (verify: a check failed; diff: different), 2 usage error, 3 internal error (a bug in gen).\n\nExamples:\n  gen --profile incus-dense --profile 10gbe > user-data\n  gen --profile incus-dense --profile 10gbe --out out/incus-dense\n  gen explain --profile incus-dense fs.inotify.max_user_watches\n  gen diff lxd-small incus-dense+10gbe\n  gen verify --profile incus-dense`);
  registerGenerate(program, ctx, done);
  for (const register of [registerExplain, registerDiff, registerVerify, registerList, registerSchema]) register(program, ctx, done);
  // Every command throws instead of exiting and prints nothing itself: handleError reports.
  for (const c of [program, ...program.commands]) c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: () => undefined, outputError: () => undefined }).showSuggestionAfterError(true);

  // Early so that a usage error raised before an action runs still honours --format json.
  if (argv.includes('--format=json') || argv.some((a, i) => a === '--format' && argv[i + 1] === 'json')) ctx.format = 'json';
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    code = handleError(e, ctx);
  }
  const failure = await io.outputFailure?.();
  if (failure) return usage(ctx, `cannot write to standard output: ${errnoWords(failure)}; nothing gen printed there can be used`);
  return code;
}

function handleError(e: unknown, ctx: CommandContext): number {
  if (e instanceof CommanderError) {
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(e.code)) return ExitCode.ok;
    return usage(ctx, e.message.replace(/^error: /, ''));
  }
  if (e instanceof UsageError) return usage(ctx, e.message);
  // The machine, not the input nor gen: a full disk, a read-only file system, a denied permission.
  if (isErrnoException(e)) return usage(ctx, `${e.syscall ? `cannot ${e.syscall}` : 'cannot work'}${e.path ? ` ${e.path}` : ''}: ${errnoWords(e)}`);
  if (e instanceof ProfileError) {
    reportDiagnostics(ctx, e.diagnostics);
    return ExitCode.invalidProfile;
  }
  const detail = e instanceof InternalError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  ctx.io.stderr(`gen: internal error: ${detail}\nThis is a bug in gen, not in your profile; please report it with the command you ran.\n`);
  return ExitCode.internal;
}

function usage(ctx: CommandContext, message: string): number {
  if (ctx.format === 'json') ctx.io.stderr(`${diagnosticsToJson([{ severity: 'error', code: 'USAGE', message }])}\n`);
  else ctx.io.stderr(`gen: ${message}\n`);
  return ExitCode.usage;
}
