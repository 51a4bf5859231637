import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { genInProcess } from './helpers.ts';
import { displayJson, displayText } from '../src/base/display-text.ts';

/**
 * What reaches a terminal is safe: users' text (a description, a key, a value, a file or profile
 * name, an --out path, a diff side) with terminal controls in it is printed escaped by every
 * command that reports (list, explain, diff, verify, diagnostics, usage errors, in text and JSON),
 * so it can neither move the cursor, clear the screen, overwrite a line nor reverse text.
 */
const CONTROLS = [
  '\x1b[2J',
  '\x1b]0;pwned\x07',
  '\r',
  '\x9b31m',
  '\u202e',
  '\u2066',
  '\u200b',
  '\x08',
  '\x7f',
  '\u2028',
  '\x85',
  '\ufeff',
  '\x1b',
];
/** Any character a terminal acts on, line feed aside (reports are lines). */
// eslint-disable-next-line no-control-regex
const ACTS_ON_TERMINAL = /[\0-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const hostile = fc
  .tuple(fc.constantFrom(...CONTROLS), fc.stringMatching(/^[a-z]{0,4}$/), fc.constantFrom(...CONTROLS))
  .map(([a, word, b]) => `x${a}${word}${b}y`);

const dir = mkdtempSync(join(tmpdir(), 'born-tuned-terminal-'));
const HOST =
  'manager: {name: lxd, install: present, version: "5.0"}\ntarget: {distro: debian, release: "12"}\ncapacity: {instances: 10}\ndmesg_restrict: true\n';
let cases = 0;

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await genInProcess(argv, dir);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function assertSafe(what: string, r: { out: string; err: string }): void {
  cases++;
  assert.not.match(r.out, ACTS_ON_TERMINAL, `${what}: stdout ${JSON.stringify(r.out.slice(0, 400))}`);
  assert.not.match(r.err, ACTS_ON_TERMINAL, `${what}: stderr ${JSON.stringify(r.err)}`);
}

/** A YAML double-quoted string holding `s` exactly (escapes for every control). */
const yq = (s: string) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const positions: [string, (h: string, i: number) => Promise<{ code: number; out: string; err: string }>][] = [
  [
    'a description in gen list',
    async (h, i) => {
      const pdir = join(dir, `list-${i}`);
      mkdirSync(pdir, { recursive: true });
      writeFileSync(join(pdir, 'evil.yaml'), `extends: lxd-small\ndescription: ${yq(h)}\n`);
      const text = await run(['list', '--profiles-dir', pdir]);
      const json = await run(['list', '--profiles-dir', pdir, '--format', 'json']);
      assert.ok(text.out.includes(displayText(h)), 'the description is shown, escaped');
      assert.equal(
        (JSON.parse(json.out) as { profiles: { description: string }[] }).profiles.find((p) => p.description === h)?.description,
        h,
        'JSON keeps the exact value',
      );
      return { code: text.code, out: text.out + json.out, err: text.err + json.err };
    },
  ],
  [
    'an unknown key in a diagnostic',
    async (h) => {
      writeFileSync(join(dir, 'key.yaml'), `${HOST}limits: {${yq(h)}: 1}\n`);
      const text = await run(['--profile', './key.yaml']);
      const json = await run(['--profile', './key.yaml', '--format', 'json']);
      assert.is(text.code, 1);
      return { code: text.code, out: text.out + json.out, err: text.err + json.err };
    },
  ],
  [
    'a wrong value in a diagnostic',
    async (h) => {
      writeFileSync(join(dir, 'value.yaml'), `${HOST}capacity: {instances: ${yq(h)}}\n`);
      return run(['--profile', './value.yaml']);
    },
  ],
  [
    'a profile file name in a diagnostic and in explain',
    async (h, i) => {
      const name = `p${i}${h.replace(/\//g, '')}.yaml`;
      writeFileSync(join(dir, name), `${HOST}limits: {nofile: 12}\n`);
      const bad = await run(['--profile', `./${name}`]);
      writeFileSync(join(dir, name), HOST);
      const explain = await run(['explain', '--profile', `./${name}`]);
      return { code: 0, out: bad.out + explain.out, err: bad.err + explain.err };
    },
  ],
  ['an unknown profile name in a usage error', (h) => run(['--profile', h])],
  ['diff sides', (h) => run(['diff', h, `lxd-small+${h}`])],
  ['an --out path', async (h, i) => run(['--profile', 'lxd-small', '--out', `o${i}${h.replace(/\//g, '')}`])],
  ['verify --root', (h) => run(['verify', '--profile', 'lxd-small', '--root', join(dir, h.replace(/\//g, ''))])],
  ['an explain key', (h) => run(['explain', '--profile', 'lxd-small', h])],
];

for (const [name, runPosition] of positions) {
  test(`${name}: terminal controls are printed escaped`, async () => {
    const samples = fc.sample(hostile, { numRuns: 25, seed: 42 });
    for (const [i, h] of samples.entries()) assertSafe(`${name} ${JSON.stringify(h)}`, await runPosition(h, i));
  });
}

test('escaping keeps JSON valid and the value exact', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => {
      const json = displayJson(JSON.stringify({ s }, null, 2));
      assert.not.match(json.replace(/\n/g, ''), ACTS_ON_TERMINAL);
      assert.equal(JSON.parse(json), { s });
    }),
    { numRuns: 2000 },
  );
});

test('every case above really ran', () => {
  assert.ok(cases >= positions.length * 25, `only ${cases}`);
});

test.run();
