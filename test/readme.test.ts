import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goodHost } from './host-tree.ts';
import { gen, GEN, ROOT, run } from './helpers.ts';

/**
 * The README's examples are run, as butane runs its docs' examples. A code block with `$ ` lines is
 * a transcript: each command runs in bash (one shell per block, so `echo $?` sees the command
 * before it), in a fresh copy of the checkout (clone() below) holding every file the README shows
 * as a ```yaml block whose first line is `# PATH.yaml`, with `gen` on PATH. What it prints (stdout and stderr, as a
 * terminal shows them) must be the lines under the command, exactly; a transcript that ends with
 * a `...` line is cut, and its lines need only begin the real ones (a table cut at the right).
 * A command that needs a machine state the README describes in words gets it from SETUPS.
 */
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  lang: m[1]!,
  text: m[2]!,
  line: readme.slice(0, m.index).split('\n').length,
}));

/** The files the README shows: ```yaml blocks that start with `# PATH.yaml`. */
const FILES = blocks.flatMap((b) => {
  const name = /^# ([\w./-]+\.yaml)\n/.exec(b.text);
  return b.lang === 'yaml' && name ? [{ path: name[1]!, text: b.text }] : [];
});

interface Step {
  command: string;
  expected: string[];
}
const transcripts = blocks
  .filter((b) => /^\$ /m.test(b.text))
  .map((b) => {
    const steps: Step[] = [];
    for (const line of b.text.replace(/\n$/, '').split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
      else steps.at(-1)!.expected.push(line);
    }
    return { line: b.line, steps };
  });

/** States the README describes in words ("a tree where two settings are wrong"), by command. */
const SETUPS: Record<string, (dir: string) => void> = {
  'gen -p incus-dense --out out/dense': (dir) => {
    // "not exactly the tree gen wrote there": one file added, one changed, one removed.
    assert.is(gen(['-p', 'incus-dense', '--out', join(dir, 'out/dense')]).status, 0);
    writeFileSync(join(dir, 'out/dense/notes.txt'), 'mine\n');
    writeFileSync(join(dir, 'out/dense/born-tuned/sysctl.wanted'), 'raise vm.max_map_count = 1\n');
    rmSync(join(dir, 'out/dense/preseed/incus.yaml'));
  },
  'gen verify -p incus-dense -p 10gbe --root host': (dir) => {
    // "a tree where two settings are wrong": inotify watches left at the kernel default, and the
    // bridge's queue at its default.
    renameSync(goodHost(dir, ['incus-dense', '10gbe']), join(dir, 'host'));
    writeFileSync(join(dir, 'host/proc/sys/fs/inotify/max_user_watches'), '8192\n');
    writeFileSync(join(dir, 'host/sys/class/net/incusbr0/tx_queue_len'), '1000\n');
  },
};

const SETUP_HOST = SETUPS['gen verify -p incus-dense -p 10gbe --root host']!;
// The same tree, read by the host's own verifier, and a directory for its metrics.
SETUPS['sh host/usr/local/sbin/born-tuned-verify --root host --textfile metrics/born-tuned.prom >rows.txt; echo $?'] = (dir) => {
  SETUP_HOST(dir);
  mkdirSync(join(dir, 'metrics'));
};

const box = mkdtempSync(join(tmpdir(), 'born-tuned-readme-'));

/**
 * A directory that looks like a clone of this repository, where the README's commands are typed:
 * the shipped profiles and templates (links), package.json, and a copy of the built CLI, so that
 * gen finds its package root here and names shipped profiles `profiles/NAME.yaml` as the README does.
 */
function clone(): string {
  const dir = mkdtempSync(join(box, 'example-'));
  for (const d of ['profiles', 'templates']) symlinkSync(join(ROOT, d), join(dir, d));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, 'dist'));
  copyFileSync(GEN, join(dir, 'dist', 'gen.js'));
  mkdirSync(join(dir, '.bin'));
  writeFileSync(join(dir, '.bin', 'gen'), `#!/bin/sh\nexec "${process.execPath}" "${join(dir, 'dist', 'gen.js')}" "$@"\n`);
  chmodSync(join(dir, '.bin', 'gen'), 0o755);
  return dir;
}

test('the README has transcripts and files to run them with', () => {
  assert.ok(transcripts.length >= 8, `${transcripts.length} transcripts`);
  assert.ok(FILES.length >= 2, `${FILES.length} files`);
});

for (const t of transcripts) {
  test(`README.md:${t.line}: ${t.steps.map((s) => s.command.replace(/\s+#.*/, '')).join('; ')}`, () => {
    const dir = clone();
    for (const f of FILES) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.text);
    }
    for (const s of t.steps) SETUPS[s.command.replace(/\s+#.*/, '')]?.(dir);
    // One shell for the block; a marker line before each command splits what each printed.
    const marker = `--- README step ${process.pid} ---`;
    // stderr joins stdout as on a terminal; the marker keeps $? for a following `echo $?`.
    const script = `exec 2>&1\n${t.steps.map((s) => `status=$?; echo '${marker}'; (exit $status)\n${s.command}`).join('\n')}`;
    const r = run('bash', ['-c', script], {
      cwd: dir,
      env: { ...process.env, PATH: `${join(dir, '.bin')}:${process.env.PATH}`, NO_COLOR: '1', COLUMNS: '100' },
    });
    const outputs = r.stdout
      .split(`${marker}\n`)
      .slice(1)
      .map((o) => o.replace(/\n$/, '').split('\n'));
    assert.is(outputs.length, t.steps.length, r.stdout + r.stderr);
    t.steps.forEach((s, i) => {
      const actual = outputs[i]!.join('\n') === '' ? [] : outputs[i]!;
      if (s.expected.at(-1) === '...') {
        const shown = s.expected.slice(0, -1);
        const cut = actual.slice(0, shown.length).map((line, n) => (line.startsWith(shown[n]!.trimEnd()) ? shown[n]! : line));
        assert.fixture(cut.join('\n'), shown.join('\n'), `$ ${s.command}`);
      } else {
        assert.fixture(actual.join('\n'), s.expected.join('\n'), `$ ${s.command}`);
      }
    });
  });
}

test.run();
