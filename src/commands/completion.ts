import { ExitCode } from '../diagnostics/errors.ts';
import type { Io } from './context.ts';

/** Shells `gen completion` writes a script for. */
export const SHELLS = ['bash', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

/** What a shell offers for a value: profile names (or a .yaml path), a stack `a+b`, a directory,
 * a file, fixed choices, or nothing it could know (`word`). */
export type ValueKind = 'profile' | 'stack' | 'dir' | 'file' | 'word' | 'shell' | { choices: string[] };

/** One option of a command as completion sees it. */
interface OptionSpec {
  flags: string[];
  description: string;
  /** What its value is; undefined for a flag without one. */
  value: ValueKind | undefined;
}

/** gen's options and commands, read from the commander table (cli.ts). */
export interface CompletionSpec {
  options: OptionSpec[];
  commands: { name: string; description: string; options: OptionSpec[]; args: ValueKind[] }[];
}

/** `gen completion bash|zsh`: the completion script for that shell, on stdout. */
export async function runCompletion(opts: { shell: Shell; spec: CompletionSpec }, io: Io): Promise<ExitCode> {
  io.stdout(opts.shell === 'bash' ? bashScript(opts.spec) : zshScript(opts.spec));
  return ExitCode.ok;
}

// Every word written into a script comes from gen's own table (flags, command names, choices):
// none is user input, and each is checked to be a plain word before it is written.
function word(w: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$|^--?[A-Za-z0-9][A-Za-z0-9-]*$/.test(w))
    throw new Error(`not a plain word for a completion script: ${JSON.stringify(w)}`);
  return w;
}

function valueOptions(options: readonly OptionSpec[]): OptionSpec[] {
  return options.filter((o) => o.value !== undefined);
}

/** The bash `case` branch that completes a value of `kind` into COMPREPLY. */
function bashValue(kind: ValueKind): string {
  if (typeof kind === 'object') return `COMPREPLY=($(compgen -W '${kind.choices.map(word).join(' ')}' -- "$cur"))`;
  switch (kind) {
    case 'profile':
      return '_gen_profile "$cur" ""';
    case 'stack':
      return '_gen_profile "${cur##*+}" "$( [[ $cur == *+* ]] && printf %s "${cur%+*}+")"';
    case 'dir':
      return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))';
    case 'file':
      return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))';
    case 'shell':
      return `COMPREPLY=($(compgen -W '${SHELLS.join(' ')}' -- "$cur"))`;
    case 'word':
      return 'COMPREPLY=()';
  }
}

/** A bash `case` on "$scope $opt" for every option of every scope that takes a value. */
function bashOptionValues(spec: CompletionSpec): string {
  const branches: string[] = [];
  const add = (scope: string, options: readonly OptionSpec[]) => {
    for (const o of valueOptions(options))
      branches.push(`    '${scope} '${o.flags.map(word).join(`|'${scope} '`)}) ${bashValue(o.value!)}; return 0 ;;`);
  };
  add('', spec.options);
  for (const c of spec.commands) add(word(c.name), c.options);
  return branches.join('\n');
}

function bashScript(spec: CompletionSpec): string {
  const takesValue = (options: readonly OptionSpec[]) =>
    valueOptions(options)
      .flatMap((o) => o.flags)
      .map(word)
      .join('|');
  const commandNames = spec.commands.map((c) => word(c.name));
  return `# bash completion for gen (born-tuned), written by \`gen completion bash\`.
# Load it in the current shell:   source <(gen completion bash)
# or for every shell:             gen completion bash > /etc/bash_completion.d/gen

# Profile names from gen itself (shipped, and those in the --profiles-dir of the command line),
# after the prefix $2 (a stack a+b); a word with a / or . start is a path to a .yaml file.
_gen_profile() {
  local cur=$1 prefix=$2 dir="" i gen=\${COMP_WORDS[0]/#\\~/$HOME}
  if [[ $cur == */* || $cur == .* || $cur == \\~* ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --profiles-dir) dir=\${COMP_WORDS[i + 1]} ;;
      --profiles-dir=*) dir=\${COMP_WORDS[i]#--profiles-dir=} ;;
    esac
  done
  dir=\${dir/#\\~/$HOME}
  local names
  if [[ -n $dir ]]; then names=$("$gen" list --names --profiles-dir "$dir" 2>/dev/null); else names=$("$gen" list --names 2>/dev/null); fi
  COMPREPLY=($(compgen -P "$prefix" -W "$names" -- "$cur"))
}

_gen() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]} cmd="" i w npos=0
  # "--opt=value": bash splits at "=", so the value's option is two words back.
  if [[ $prev == = && $COMP_CWORD -ge 2 ]]; then prev=\${COMP_WORDS[COMP_CWORD - 2]}; fi
  if [[ $cur == = ]]; then cur=""; fi
  # The command is the first word that is not an option or an option's value; words after it
  # that are neither are its arguments.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -z $cmd ]]; then
      case $w in
        ${takesValue(spec.options)}) ((i++)) ;;
        -*) ;;
        *) cmd=$w ;;
      esac
    else
      case "$cmd $w" in
${spec.commands
  .filter((c) => valueOptions(c.options).length > 0)
  .map(
    (c) =>
      `        '${word(c.name)} '${valueOptions(c.options)
        .flatMap((o) => o.flags)
        .map(word)
        .join(`|'${c.name} '`)}) ((i++)) ;;`,
  )
  .join('\n')}
        *' '-*) ;;
        *) ((npos++)) ;;
      esac
    fi
  done
  case "$cmd $prev" in
${bashOptionValues(spec)}
  esac
  if [[ $cur == -* ]]; then
    case $cmd in
      '') COMPREPLY=($(compgen -W '${spec.options
        .flatMap((o) => o.flags)
        .map(word)
        .join(' ')}' -- "$cur")) ;;
${spec.commands
  .map(
    (c) =>
      `      ${word(c.name)}) COMPREPLY=($(compgen -W '${c.options
        .flatMap((o) => o.flags)
        .map(word)
        .join(' ')}' -- "$cur")) ;;`,
  )
  .join('\n')}
    esac
    return 0
  fi
  case "$cmd $npos" in
    ' 0') COMPREPLY=($(compgen -W '${commandNames.join(' ')}' -- "$cur")) ;;
${spec.commands.flatMap((c) => c.args.map((kind, n) => `    '${word(c.name)} ${n}') ${bashValue(kind)} ;;`)).join('\n')}
    *) COMPREPLY=() ;;
  esac
  return 0
}

complete -F _gen gen
`;
}

/** Text inside an _arguments [description] or a _describe entry: its special characters escaped. */
function zshText(text: string): string {
  return text.replace(/[\\[\]:']/g, (c) => (c === "'" ? "'\\''" : `\\${c}`));
}

function zshAction(kind: ValueKind | undefined): string {
  if (kind === undefined) return '';
  if (typeof kind === 'object') return `:value:(${kind.choices.map(word).join(' ')})`;
  return {
    profile: ':profile:_gen_profiles',
    stack: ':stack:_gen_stacks',
    dir: ':directory:_files -/',
    file: ':file:_files',
    word: ':value: ',
    shell: `:shell:(${SHELLS.join(' ')})`,
  }[kind];
}

/** `_arguments` specs of options: exclusive groups for -p/--profile pairs, `*` for repeatable ones. */
function zshOptions(options: readonly OptionSpec[]): string[] {
  return options.map((o) => {
    const desc = `[${zshText(o.description)}]${zshAction(o.value)}`;
    const repeat = o.flags.includes('--profile') || o.flags.includes('--include') ? '*' : '';
    if (o.flags.length === 1) return `'${repeat}${word(o.flags[0]!)}${desc}'`;
    // -p and --profile are one option: once either is given, neither is offered (unless repeatable).
    const group = repeat || `(${o.flags.map(word).join(' ')})`;
    return `'${group}'{${o.flags.map(word).join(',')}}'${desc}'`;
  });
}

function zshScript(spec: CompletionSpec): string {
  const indent = (lines: string[], n: number) => lines.map((l) => `${' '.repeat(n)}${l} \\`).join('\n');
  return `#compdef gen
# zsh completion for gen (born-tuned), written by \`gen completion zsh\`.
# Install: gen completion zsh > "\${fpath[1]}/_gen" (then start a new shell),
# or, after compinit in ~/.zshrc: source <(gen completion zsh)

# Profile names from gen itself (shipped, and those in the --profiles-dir of the command line).
_gen_profile_names() {
  local dir=\${opt_args[--profiles-dir]:-\${_gen_profiles_dir}}
  local -a args=(list --names)
  [[ -n $dir ]] && args+=(--profiles-dir \${~dir})
  reply=(\${(f)"$(\${~_gen_command:-gen} $args 2>/dev/null)"})
}

_gen_profiles() {
  if [[ $PREFIX == */* || $PREFIX == .* || $PREFIX == \\~* ]]; then
    _files -g '*.yaml(-.)'
    return
  fi
  local -a reply
  _gen_profile_names
  compadd -a reply
}

# A side of gen diff: a profile or a stack a+b.
_gen_stacks() {
  local -a reply
  _gen_profile_names
  compset -P '*+'
  compadd -S '' -a reply
}

_gen() {
  # The gen being completed (its words shift once a command is found).
  local curcontext=$curcontext state line ret=1 _gen_command=\${words[1]}
  typeset -A opt_args
  _arguments -C \\
${indent(zshOptions(spec.options.filter((o) => !o.flags.includes('--help'))), 4)}
    '(-h --help)'{-h,--help}'[show help]' \\
    '1:command:->command' \\
    '*::argument:->argument' && ret=0
  case $state in
    command)
      local -a commands=(
${spec.commands.map((c) => `        '${word(c.name)}:${zshText(c.description)}'`).join('\n')}
      )
      _describe -t commands 'gen command' commands && ret=0
      ;;
    argument)
      local _gen_profiles_dir=\${opt_args[--profiles-dir]}
      curcontext=\${curcontext%:*:*}:gen-$words[1]:
      case $words[1] in
${spec.commands
  .map(
    (c) => `        ${word(c.name)})
          _arguments \\
${indent([...zshOptions(c.options.filter((o) => !o.flags.includes('--help'))), `'(-h --help)'{-h,--help}'[show help]'`, ...c.args.map((kind, n) => `'${n + 1}${zshAction(kind)}'`)], 12)}
            && ret=0
          ;;`,
  )
  .join('\n')}
      esac
      ;;
  esac
  return ret
}

if [[ $funcstack[1] == _gen ]]; then
  _gen "$@"
else
  compdef _gen gen
fi
`;
}
