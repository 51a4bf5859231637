import { Argument, Command, CommanderError, Option } from 'commander';
import { ARTIFACT_KINDS, ENCODINGS, type ArtifactKind, type Encoding } from './render/artifact.ts';
import { runCompletion, SHELLS, type CompletionSpec, type ValueKind } from './commands/completion.ts';
import { FORMATS, reportDiagnostics, type Format, type Io } from './commands/context.ts';
import { runDiff } from './commands/diff.ts';
import { runExplain } from './commands/explain.ts';
import { runGenerate } from './commands/generate.ts';
import { runList } from './commands/list.ts';
import { runSchema, SCHEMA_DOCUMENTS } from './commands/schema.ts';
import { runVerify } from './commands/verify.ts';
import { diagnosticsToJson } from './diagnostics/format.ts';
import { errnoWords, ExitCode, InternalError, isErrnoException, ProfileError, UsageError } from './diagnostics/errors.ts';
import { didYouMean } from './diagnostics/suggest.ts';
import { displayJson, displayReport } from './base/display-text.ts';
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
  get env() {
    return process.env;
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

// ---- The option table: each option once, with what a shell should complete for its value. ----

/** Collects repeated values (`--profile`, `--include`). */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const OPTIONS = {
  profile: () =>
    new Option('-p, --profile <name>', 'profile name or path to a .yaml file; repeat to stack overlays (later wins)')
      .argParser(collect)
      .default([]),
  profilesDir: () => new Option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones'),
  strict: () => new Option('--strict', 'treat warnings as errors (exit 1, nothing printed or written)').default(false),
  format: (what = 'output format') => new Option('--format <format>', what).choices(FORMATS).default('text'),
  artifact: () => new Option('--artifact <kind>', 'print one artifact instead of user-data').choices(ARTIFACT_KINDS),
  out: () => new Option('-o, --out <dir>', 'write every artifact as a tree under DIR (atomically), with manifest.json'),
  force: () => new Option('--force', 'with --out: replace a non-empty directory that gen did not write').default(false),
  inventory: () => new Option('--inventory <file>', 'render every host of an inventory (with --out): NoCloud seeds and preseeds'),
  host: () =>
    new Option('--host <name>', 'with --inventory: render only this host (repeatable), e.g. the bootstrap member alone')
      .argParser(collect)
      .default([]),
  include: () =>
    new Option('--include <file>', 'fold an operator cloud-config file into user-data; repeatable').argParser(collect).default([]),
  mime: () =>
    new Option('--mime', 'user-data as a multipart MIME document (one part per file) instead of one merged cloud-config').default(false),
  encoding: () => new Option('--encoding <encoding>', 'user-data encoding').choices(ENCODINGS).default('plain'),
  root: () => new Option('--root <dir>', 'read a mounted image or fixture tree instead of /').default('/'),
  names: () => new Option('--names', 'print only the profile names, one a line (for scripts and shell completion)').default(false),
} as const;

/** What a shell completes for each option's value; options not listed take none or their choices. */
const VALUE_KINDS: Readonly<Record<string, ValueKind>> = {
  '--profile': 'profile',
  '--profiles-dir': 'dir',
  '--out': 'dir',
  '--root': 'dir',
  '--inventory': 'file',
  '--include': 'file',
};

type Opts = Record<string, unknown>;

/** One subcommand: its commander definition, and the plain function that runs it. */
interface CommandEntry {
  name: string;
  define: (c: Command) => Command;
  run: (args: string[], opts: Opts, io: Io, spec: CompletionSpec) => Promise<ExitCode>;
  /** Exit code of an invalid profile; diff answers 1 for "different", so its trouble is 2, like diff(1). */
  profileErrorExit?: ExitCode;
  /** What a shell completes for its positional arguments, in order. */
  args?: ValueKind[];
}

const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'explain',
    define: (c) =>
      c
        .description('show every setting the stack produces: value, where it came from, kernel default, why, and the source')
        .argument('[key]', 'narrow to one setting (e.g. fs.inotify.max_user_watches, limits, txqueuelen)')
        .addOption(OPTIONS.profile())
        .addOption(OPTIONS.profilesDir())
        .addOption(OPTIONS.format())
        .addOption(OPTIONS.strict()),
    run: ([key], o, io) => runExplain({ ...stackOptions(o), key }, io),
  },
  {
    name: 'diff',
    define: (c) =>
      c
        .description('compare two profiles or stacks (a stack is written a+b): settings, derived values and changed artifacts')
        .argument('<a>', 'profile or stack, e.g. lxd-small or incus-dense+10gbe')
        .argument('<b>', 'profile or stack')
        .addOption(OPTIONS.profilesDir())
        .addOption(OPTIONS.format())
        .addOption(OPTIONS.strict()),
    run: ([a, b], o, io) => runDiff({ ...stackOptions(o), a: a!, b: b! }, io),
    profileErrorExit: ExitCode.usage,
    args: ['stack', 'stack'],
  },
  {
    name: 'verify',
    define: (c) =>
      c
        .description(
          'check a host (or a mounted image with --root) against the profile: sysctl, daemon limits, txqueuelen, hidden names, files, manager state',
        )
        .addOption(OPTIONS.profile())
        .addOption(OPTIONS.profilesDir())
        .addOption(OPTIONS.root())
        .addOption(OPTIONS.format())
        .addOption(OPTIONS.strict()),
    run: (_, o, io) => runVerify({ ...stackOptions(o), root: o.root as string }, io),
  },
  {
    name: 'list',
    define: (c) =>
      c
        .description('list the profiles (shipped, and those in --profiles-dir), marking overlays')
        .addOption(OPTIONS.profilesDir())
        .addOption(OPTIONS.format())
        .addOption(OPTIONS.names()),
    run: (_, o, io) =>
      runList({ profilesDir: o.profilesDir as string | undefined, format: o.format as Format, names: o.names as boolean }, io),
  },
  {
    name: 'schema',
    define: (c) =>
      c
        .description('print the JSON Schema of a profile file or of an inventory (copies are in schema/)')
        .addArgument(new Argument('[document]', 'profile or inventory').choices(SCHEMA_DOCUMENTS).default('profile')),
    run: ([document], _, io) => runSchema({ document: document as (typeof SCHEMA_DOCUMENTS)[number] }, io),
    args: [{ choices: [...SCHEMA_DOCUMENTS] }],
  },
  {
    name: 'completion',
    define: (c) =>
      c
        .description('print the shell completion script for bash or zsh (see the README for installing it)')
        .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS)),
    run: ([shell], _, io, spec) => runCompletion({ shell: shell as (typeof SHELLS)[number], spec }, io),
    args: ['shell'],
  },
];

function stackOptions(o: Opts) {
  return {
    profile: (o.profile as string[] | undefined) ?? [],
    profilesDir: o.profilesDir as string | undefined,
    format: o.format as Format,
    strict: o.strict as boolean,
  };
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. Never exits itself. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const state: { format: Format; profileErrorExit: ExitCode } = { format: 'text', profileErrorExit: ExitCode.invalidProfile };
  let code: number = ExitCode.ok;
  const program = new Command('gen')
    .description('Generate cloud-init user-data and host files that make LXD and Incus hosts born tuned.')
    .version(GENERATOR_VERSION, '-V, --version')
    .enablePositionalOptions()
    // A stray word is an unknown command (with a did-you-mean), reported by the action below.
    .allowExcessArguments(true)
    .addHelpText(
      'after',
      `\nArtifact kinds (--artifact): ${ARTIFACT_KINDS.join(', ')}\n\nExit codes: 0 ok, 1 invalid profile (verify: a check failed; diff: different), 2 usage error, 3 internal error (a bug in gen).\n\nExamples:\n  gen --profile incus-dense --profile 10gbe > user-data\n  gen --profile incus-dense --profile 10gbe --out out/incus-dense\n  gen explain --profile incus-dense fs.inotify.max_user_watches\n  gen diff lxd-small incus-dense+10gbe\n  gen verify --profile incus-dense\n  gen completion bash`,
    );
  for (const key of [
    'profile',
    'profilesDir',
    'artifact',
    'out',
    'force',
    'inventory',
    'host',
    'include',
    'mime',
    'encoding',
    'strict',
  ] as const)
    program.addOption(OPTIONS[key]());
  program.addOption(OPTIONS.format('diagnostics format (on stderr)'));
  const spec = (): CompletionSpec => completionSpec(program);
  program.action(async (opts: Opts) => {
    state.format = opts.format as Format;
    if (program.args.length > 0) throw unknownCommand(program.args[0]!);
    code = await runGenerate(
      {
        ...stackOptions(opts),
        inventory: opts.inventory as string | undefined,
        host: opts.host as string[],
        include: opts.include as string[],
        mime: opts.mime as boolean,
        encoding: opts.encoding as Encoding,
        artifact: opts.artifact as ArtifactKind | undefined,
        out: opts.out as string | undefined,
        force: opts.force as boolean,
      },
      io,
    );
  });
  for (const entry of COMMANDS) {
    const command = entry.define(program.command(entry.name));
    command.action(async (...params: unknown[]) => {
      const opts = hoistProgramOptions(program, command);
      state.format = (opts.format as Format | undefined) ?? state.format;
      if (entry.profileErrorExit !== undefined) state.profileErrorExit = entry.profileErrorExit;
      code = await entry.run(params.slice(0, command.registeredArguments.length) as string[], opts, io, spec());
    });
  }
  // Every command throws instead of exiting and prints nothing itself: handleError reports.
  for (const c of [program, ...program.commands])
    c.exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: () => undefined, outputError: () => undefined })
      .showSuggestionAfterError(true);

  // Early so that a usage error raised before an action runs still honours --format json.
  if (argv.includes('--format=json') || argv.some((a, i) => a === '--format' && argv[i + 1] === 'json')) state.format = 'json';
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    code = handleError(e, io, state);
  }
  const failure = await io.outputFailure?.();
  if (failure)
    return usage(io, state.format, `cannot write to standard output: ${errnoWords(failure)}; nothing gen printed there can be used`);
  return code;
}

/**
 * Options written before the command name (`gen --profiles-dir DIR list`, `gen -p X explain`) are
 * parsed by gen itself; they count for the command when it takes them, and are a usage error when
 * it does not, never silently dropped. Repeatable ones add up, gen's first.
 */
function hoistProgramOptions(program: Command, command: Command): Opts {
  const opts: Opts = { ...command.opts() };
  for (const option of program.options) {
    const key = option.attributeName();
    if (program.getOptionValueSource(key) !== 'cli') continue;
    const own = command.options.find((o) => o.long === option.long);
    const flag = option.long!;
    if (!own) {
      const takes = command.options.map((o) => o.long).join(', ');
      throw new UsageError(
        `${flag} does not apply to gen ${command.name()} (${takes ? `its options: ${takes}` : 'it takes no options'}): remove it`,
      );
    }
    const value = program.getOptionValue(key);
    if (Array.isArray(value)) opts[key] = [...value, ...((opts[key] as unknown[]) ?? [])];
    else if (command.getOptionValueSource(key) === 'cli' && command.getOptionValue(key) !== value)
      throw new UsageError(`${flag} is given twice, before and after "${command.name()}", with different values: give it once`);
    else opts[key] = value;
  }
  return opts;
}

/** A word where a command belongs: `gen explan` gets "did you mean explain?". */
function unknownCommand(word: string): UsageError {
  const names = COMMANDS.map((c) => c.name);
  const hint = didYouMean(word, names);
  return new UsageError(
    `unknown command "${word}"${hint ? ` (did you mean "${hint}"?)` : ''}; the commands are ${names.join(', ')}, and gen alone takes --profile NAME`,
  );
}

/** What the completion scripts offer, read from the commander table itself so they never drift. */
function completionSpec(program: Command): CompletionSpec {
  const optionsOf = (c: Command) =>
    c.options.map((o) => ({
      flags: [o.short, o.long].filter((f): f is string => f !== undefined),
      description: o.description,
      value: o.required || o.optional ? (o.argChoices ? { choices: [...o.argChoices] } : (VALUE_KINDS[o.long!] ?? 'word')) : undefined,
    }));
  return {
    options: [...optionsOf(program), { flags: ['-h', '--help'], description: 'show help', value: undefined }],
    commands: COMMANDS.map((entry) => {
      const c = program.commands.find((x) => x.name() === entry.name)!;
      return {
        name: entry.name,
        description: c.description(),
        options: [...optionsOf(c), { flags: ['-h', '--help'], description: 'show help', value: undefined }],
        args: (entry.args ?? []).map((kind) => (kind === 'shell' ? { choices: [...SHELLS] } : kind)),
      };
    }),
  };
}

/** The only place errors become exit codes. */
function handleError(e: unknown, io: Io, state: { format: Format; profileErrorExit: ExitCode }): number {
  if (e instanceof CommanderError) {
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(e.code)) return ExitCode.ok;
    return usage(io, state.format, e.message.replace(/^error: /, ''));
  }
  if (e instanceof UsageError) return usage(io, state.format, e.message);
  // The machine, not the input nor gen: a full disk, a read-only file system, a denied permission.
  if (isErrnoException(e))
    return usage(io, state.format, `${e.syscall ? `cannot ${e.syscall}` : 'cannot work'}${e.path ? ` ${e.path}` : ''}: ${errnoWords(e)}`);
  if (e instanceof ProfileError) {
    reportDiagnostics(io, state.format, e.diagnostics);
    return state.profileErrorExit;
  }
  const detail = e instanceof InternalError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  io.stderr(
    displayReport(
      `gen: internal error: ${detail}\nThis is a bug in gen, not in your profile; please report it with the command you ran.\n`,
    ),
  );
  return ExitCode.internal;
}

function usage(io: Io, format: Format, message: string): number {
  if (format === 'json') io.stderr(`${displayJson(diagnosticsToJson([{ severity: 'error', code: 'USAGE', message }]))}\n`);
  else io.stderr(displayReport(`gen: ${message}\n`));
  return ExitCode.usage;
}
