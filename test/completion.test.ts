import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, GEN, ROOT, run } from './helpers.ts';

/**
 * The completion scripts run in the real shells. bash: the script `gen completion bash` prints is
 * sourced, COMP_WORDS/COMP_CWORD are set as bash sets them for a command line, and the completion
 * function fills COMPREPLY, calling the gen on PATH for profile names as it does for a user. zsh:
 * the script must parse (zsh -n), register _gen for gen after compinit, and offer the right
 * matches when Tab is pressed in an interactive zsh (driven through zpty).
 */
const box = mkdtempSync(join(tmpdir(), 'born-tuned-completion-'));
const bin = join(box, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'gen'), `#!/bin/sh\nexec "${process.execPath}" "${GEN}" "$@"\n`);
chmodSync(join(bin, 'gen'), 0o755);
const mine = join(box, 'my-profiles');
mkdirSync(mine);
writeFileSync(join(mine, 'edge-host.yaml'), 'extends: lxd-small\n');
mkdirSync(join(box, 'seeds'));
writeFileSync(join(box, 'hosts.yaml'), 'hosts: {}\n');

const bashScript = gen(['completion', 'bash']).stdout;
const scriptFile = join(box, 'gen.bash');
writeFileSync(scriptFile, bashScript);

/** COMPREPLY for a command line whose last word is being completed (words as bash splits them). */
function complete(words: string[]): string[] {
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gen; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = run('bash', ['-c', program, 'bash', scriptFile, ...words], {
    cwd: box,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  assert.is(r.stderr, '', r.stderr);
  assert.is(r.status, 0);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('bash: the script is valid bash and registers _gen for gen', () => {
  assert.is(run('bash', ['-n', scriptFile]).status, 0);
  const r = run('bash', ['-c', 'source "$1"; complete -p gen', 'bash', scriptFile]);
  assert.is(r.stdout.trim(), 'complete -F _gen gen');
});

const cases: [string, string[], string[]][] = [
  ['commands', ['gen', 'ex'], ['explain']],
  ['a misspelt start offers nothing', ['gen', 'zz'], []],
  ['every command', ['gen', ''], ['completion', 'diff', 'explain', 'list', 'schema', 'verify']],
  ['options of gen itself', ['gen', '--pro'], ['--profile', '--profiles-dir']],
  ['options of a command', ['gen', 'list', '--'], ['--format', '--help', '--names', '--profiles-dir']],
  ['shipped profile names', ['gen', '-p', ''], ['10gbe', 'incus-dense', 'lxd-small']],
  ['profile names after a command', ['gen', 'explain', '--profile', 'inc'], ['incus-dense']],
  ['profile names from --profiles-dir', ['gen', '--profiles-dir', 'my-profiles', '-p', 'e'], ['edge-host']],
  [
    'profile names from --profiles-dir of a command',
    ['gen', 'verify', '--profiles-dir', 'my-profiles', '-p', ''],
    ['10gbe', 'edge-host', 'incus-dense', 'lxd-small'],
  ],
  ['a profile given as a path completes files', ['gen', '-p', './my-profiles/'], ['./my-profiles/edge-host.yaml']],
  ['a stack side of diff', ['gen', 'diff', 'incus-dense+1'], ['incus-dense+10gbe']],
  ['the second side of diff', ['gen', 'diff', 'lxd-small', 'l'], ['lxd-small']],
  ['nothing after the last argument of diff', ['gen', 'diff', 'lxd-small', 'lxd-small', ''], []],
  [
    'artifact kinds',
    ['gen', '-p', 'lxd-small', '--artifact', 'packer-'],
    ['packer-scripts', 'packer-seed', 'packer-template', 'packer-user-data'],
  ],
  ['encodings', ['gen', '--encoding', 'g'], ['gzip', 'gzip+base64']],
  ['--format=VALUE, split at = as bash does', ['gen', 'explain', '--format', '=', ''], ['json', 'text']],
  ['directories for --out', ['gen', '--out', 's'], ['seeds']],
  ['files for --inventory', ['gen', '--inventory', 'hosts'], ['hosts.yaml']],
  ['shells of gen completion', ['gen', 'completion', ''], ['bash', 'zsh']],
  ['documents of gen schema', ['gen', 'schema', ''], ['inventory', 'profile']],
  ['an option value is not taken for the command', ['gen', '-p', 'list', 'ex'], ['explain']],
];
for (const [name, words, expected] of cases) {
  test(`bash: ${name} (${words.join(' ')})`, () => {
    assert.equal(complete(words), expected);
  });
}

test('zsh: the script parses, and compinit plus the script register _gen for gen', () => {
  const file = join(box, '_gen');
  writeFileSync(file, gen(['completion', 'zsh']).stdout);
  const parsed = run('zsh', ['-n', file]);
  assert.is(parsed.status, 0, parsed.stderr);
  const r = run('zsh', [
    '-f',
    '-c',
    `autoload -Uz compinit && compinit -u -d "${box}/zcompdump" && source "${file}" && print -r -- \${_comps[gen]}`,
  ]);
  assert.is(r.stderr, '', r.stderr);
  assert.is(r.stdout.trim(), '_gen');
});

// Drives a real interactive zsh: compinit with _gen on fpath, compadd wrapped to record what
// each completion function offers, then the command line and a Tab. The markers are quoted
// (RE''ADY) so the terminal's echo of the command cannot match them, and the line is typed only
// once the prompt after READY shows that the line editor runs: input typed before it takes the
// terminal can be flushed, which a loaded machine showed as a missing match.
const CAPTURE = `zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT='ZP> ' fpath=(\${(q)1} \\$fpath); autoload -Uz compinit; compinit -u -d \${(q)1}/zcompdump"
zpty -w z "compadd() { local -a hits; builtin compadd -O hits \\"\\$@\\"; print -rl -- \\$hits >> \${(q)1}/matches; builtin compadd \\"\\$@\\" }"
zpty -w z "print -r -- RE''ADY"
zpty -r z line '*READY*'
zpty -r z line '*ZP> *'
zpty -w -n z "$2"$'\\t'
zpty -w z $'\\C-u'"print -r -- DO''NE"
zpty -r z line '*DONE*'
zpty -d z
`;
const zshDir = join(box, 'zsh');
mkdirSync(zshDir);
writeFileSync(join(zshDir, '_gen'), gen(['completion', 'zsh']).stdout);
writeFileSync(join(zshDir, 'capture.zsh'), CAPTURE);

/** What zsh offers on Tab at the end of `line` (deduplicated: _describe adds its matches twice). */
function zshComplete(line: string): string[] {
  rmSync(join(zshDir, 'matches'), { force: true });
  const r = run('timeout', ['60', 'zsh', '-f', join(zshDir, 'capture.zsh'), zshDir, line], {
    cwd: box,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  assert.is(r.status, 0, r.stderr);
  const found = existsSync(join(zshDir, 'matches')) ? readFileSync(join(zshDir, 'matches'), 'utf8') : '';
  return [...new Set(found.split('\n').filter(Boolean))].sort();
}

const zshCases: [string, string[]][] = [
  ['gen ex', ['explain']],
  ['gen -p inc', ['incus-dense']],
  ['gen explain --profile l', ['lxd-small']],
  ['gen --profiles-dir my-profiles -p e', ['edge-host']],
  ['gen verify --profiles-dir my-profiles -p ', ['10gbe', 'edge-host', 'incus-dense', 'lxd-small']],
  ['gen diff incus-dense+1', ['10gbe']],
  ['gen --artifact packer-', ['packer-scripts', 'packer-seed', 'packer-template', 'packer-user-data']],
  ['gen --encoding g', ['gzip', 'gzip+base64']],
  ['gen list --', ['--format', '--help', '--names', '--profiles-dir']],
  ['gen completion ', ['bash', 'zsh']],
];
for (const [line, expected] of zshCases) {
  test(`zsh: Tab after "${line}"`, () => {
    assert.equal(zshComplete(line), expected);
  });
}

test('gen completion: an unknown shell is a usage error', () => {
  const r = gen(['completion', 'fish']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /Allowed choices are bash, zsh/);
});

test('the scripts are the same bytes from any directory (no path of the checkout in them)', () => {
  assert.is(run(process.execPath, [GEN, 'completion', 'bash'], { cwd: box }).stdout, bashScript);
  assert.not.ok(bashScript.includes(ROOT));
});

test.run();
