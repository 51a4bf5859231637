import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkCloudConfig } from '../src/compose/cloud-config-schema.ts';
import { MAX_INCLUDE_BYTES, positionsOf } from '../src/compose/include.ts';
import { syntaxProblems } from '../src/compose/include-syntax.ts';
import { readIncludeTree } from '../src/compose/include-tree.ts';
import { plainType, pyInt, unconstructible } from '../src/compose/pyyaml-scalar.ts';
import { ProfileError } from '../src/diagnostics/errors.ts';
import { generateInventory } from '../src/inventory/generate.ts';
import { generate, renderHost, resolveStack, type RenderedHost } from '../src/pipeline.ts';
import type { Artifact } from '../src/render/artifact.ts';
import { splitFinalCheck } from '../src/render/user-data.ts';
import { hostileInclude, PLAIN_PIECES } from './hostile-include.ts';
import { BIN_GEN, gen, ROOT, run } from './helpers.ts';

/**
 * An include means what cloud-init reads: for every include gen accepts, what the real PyYAML
 * (cloud-init's reader) reads from the include equals what it reads from the include's part of the
 * merged user-data, and cloud-init's own user-data processing ends with the same configuration from
 * the merged document and from the MIME one. Everything else is refused with a location.
 */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-includes-'));
const READER = join(ROOT, 'test', 'real', 'cloud-init-read.py');

/** The user-data of `stack` with `files` folded in, asked of the pipeline like `gen --include`
 * (each call reads the files anew: tests rewrite them between calls). */
function userDataWith(stack: RenderedHost, files: string[], mime: boolean): Artifact {
  return renderHost({ stack: stack.stack, includes: files, mime, packer: false, secrets: 'resolve' }).artifacts.find(
    (a) => a.kind === 'user-data',
  )!;
}

type Canon = null | { dict: [Canon, Canon][] } | { list: Canon[] } | { [type: string]: string | boolean };
type Read = { value?: Canon; error?: string; warnings?: string[]; errors?: string[][] };

/** Runs the real cloud-init code over a batch in one process (test/real/cloud-init-read.py). */
function cloudInit(items: { kind: 'yaml' | 'user-data' | 'schema'; text: string }[]): Read[] {
  const r = spawnSync('/usr/bin/python3', [READER], { input: JSON.stringify(items), maxBuffer: 1 << 30 });
  assert.is(r.status, 0, r.stderr?.toString());
  return JSON.parse(r.stdout.toString()) as Read[];
}

/** What gen does with an include, in process: the merged and the MIME user-data, or located errors. */
function throughGen(text: string, name: string, stack: ReturnType<typeof generate>): { merged: string; mime: string } | 'rejected' {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    const merged = userDataWith(stack, [file], false).text;
    const mime = userDataWith(stack, [file], true).text;
    return { merged, mime };
  } catch (e) {
    if (!(e instanceof ProfileError)) throw new Error(`gen failed on this include (${(e as Error).message}):\n${text}`);
    assert.ok(e.diagnostics.length > 0);
    for (const d of e.diagnostics)
      assert.ok(d.file && (d.line || /file name|larger than|UTF-8/.test(d.message)), `unlocated: ${d.message}\n${text}`);
    return 'rejected';
  }
}

/** PyYAML's reading of the merged user-data predicted from ours and the include's, by gen's rules. */
function fold(ours: Canon, inc: Canon, top = true): Canon {
  const o = new Map((ours as { dict: [Canon, Canon][] }).dict.map(([k, v]) => [JSON.stringify(k), [k, v] as [Canon, Canon]]));
  for (const [k, v] of (inc as { dict: [Canon, Canon][] }).dict) {
    const id = JSON.stringify(k);
    const mine = o.get(id);
    if (!mine) o.set(id, [k, v]);
    else if (mine[1] && 'list' in mine[1] && v && 'list' in v) {
      const list = mine[1].list as Canon[];
      // Our runcmd keeps its final check last.
      o.set(id, [
        k,
        {
          list:
            top && id === JSON.stringify({ str: 'runcmd' })
              ? [...list.slice(0, -1), ...(v.list as Canon[]), list.at(-1)!]
              : [...list, ...(v.list as Canon[])],
        },
      ]);
    } else if (mine[1] && 'dict' in mine[1] && v && 'dict' in v) o.set(id, [k, fold(mine[1], v, false)]);
    else assert.equal(v, mine[1], `gen accepted a key set on both sides to different values: ${id}`);
  }
  return { dict: [...o.values()].sort((a, b) => (JSON.stringify(a[0]) < JSON.stringify(b[0]) ? -1 : 1)) };
}

test('random hostile includes: accepted ones read the same in the include, the merged user-data and the MIME one; the rest are located errors', () => {
  const stack = generate({ profiles: ['incus-dense'] }, { packer: false, secrets: 'resolve' });
  const texts = fc.sample(hostileInclude, 600);
  const accepted: { text: string; merged: string; mime: string }[] = [];
  texts.forEach((text, i) => {
    const r = throughGen(text, `case${i}.yaml`, stack);
    if (r !== 'rejected') accepted.push({ text, ...r });
  });
  const base = stack.artifacts.find((a) => a.kind === 'user-data')!.text;
  // cloud-init's whole user-data processing takes ~0.2 s a document (pure-Python YAML, several
  // passes): the first CLOUD_INIT_RUNS accepted includes go through it, every one through PyYAML.
  const CLOUD_INIT_RUNS = 12;
  const reads = cloudInit([
    { kind: 'yaml', text: base },
    ...accepted.flatMap(({ text, merged }) => [
      { kind: 'yaml' as const, text },
      { kind: 'yaml' as const, text: merged },
      { kind: 'schema' as const, text },
    ]),
    ...accepted.slice(0, CLOUD_INIT_RUNS).flatMap(({ merged, mime }) => [
      { kind: 'user-data' as const, text: merged },
      { kind: 'user-data' as const, text: mime },
    ]),
  ]);
  const ours = reads[0]!.value!;
  const runs = reads.slice(1 + accepted.length * 3);
  accepted.forEach(({ text, merged }, i) => {
    const [inc, mergedRead, schema] = reads.slice(1 + i * 3, 4 + i * 3) as [Read, Read, Read];
    const show = `include:\n${text}\nmerged (from runcmd):\n${merged.slice(merged.indexOf('\nruncmd:'))}`;
    assert.ok(inc.value && 'dict' in inc.value, `gen accepted an include PyYAML does not read as a mapping (${inc.error}):\n${text}`);
    const expected = fold(ours, inc.value);
    if (JSON.stringify(mergedRead.value) !== JSON.stringify(expected)) {
      const keys = (c: Canon) => new Map((c as { dict: [Canon, Canon][] }).dict.map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)]));
      const [got, want] = [keys(mergedRead.value!), keys(expected)];
      const diff = [...new Set([...got.keys(), ...want.keys()])]
        .filter((k) => got.get(k) !== want.get(k))
        .map((k) => `${k}: merged ${got.get(k)}, expected ${want.get(k)}`);
      assert.unreachable(`PyYAML reads the merged user-data differently from ours + the include:\n${diff.join('\n')}\n${show}`);
    }
    assert.equal(schema.errors, [], `gen accepted an include cloud-init's schema refuses:\n${text}`);
    if (i >= CLOUD_INIT_RUNS) return;
    const [fromMerged, fromMime] = runs.slice(i * 2, i * 2 + 2) as [Read, Read];
    assert.equal(fromMerged.warnings, [], `cloud-init warned on the merged user-data:\n${show}`);
    assert.equal(fromMime.warnings, [], `cloud-init warned on the MIME user-data:\n${show}`);
    assert.equal(
      fromMerged.value,
      mergedRead.value,
      `cloud-init ends with another configuration than PyYAML reads from the merged user-data:\n${show}`,
    );
    assert.equal(
      fromMime.value,
      fromMerged.value,
      `cloud-init ends with another configuration from the MIME user-data than from the merged one:\n${show}`,
    );
  });
  // The generator must reach both outcomes in volume, or the test proves little.
  console.log(`  hostile includes: ${accepted.length} accepted, ${texts.length - accepted.length} rejected with a location`);
  assert.ok(accepted.length >= texts.length / 5, `only ${accepted.length} of ${texts.length} accepted`);
  assert.ok(accepted.length <= (texts.length * 4) / 5, `${accepted.length} of ${texts.length} accepted: the pieces are not hostile enough`);
});

test('gen types plain scalars as PyYAML does, and refuses exactly those PyYAML cannot build', () => {
  const plain = fc
    .array(
      fc.oneof(
        fc.constantFrom(...PLAIN_PIECES),
        fc.stringMatching(/^[-+0-9._:eEbxo ]{1,6}$/),
        fc.constantFrom('_', '0', '9', ':', '.', 'T', 'Z', ' ', '-'),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((a) => a.join(''));
  const texts = [...new Set([...PLAIN_PIECES, ...fc.sample(plain, 6000)])];
  // Only texts that both readers see as one plain scalar are compared.
  const single = texts.filter((t) => {
    const text = `v: ${t}\n`;
    if (syntaxProblems(text).length > 0) return false;
    const tree = readIncludeTree(text, positionsOf(text));
    if (!tree.ok) return tree.problems.every((p) => p.code === 'INVALID_VALUE') && unconstructible(t, plainType(t)) !== undefined;
    const v = tree.tree.entries.get('v')?.value;
    return tree.tree.entries.size === 1 && v?.kind === 'scalar' && v.plain && v.text === t;
  });
  const reads = cloudInit(single.map((t) => ({ kind: 'yaml', text: `v: ${t}\n` })));
  const TYPE: Record<string, string> = { str: 'str', int: 'int', float: 'float', bool: 'bool', date: 'timestamp', datetime: 'timestamp' };
  const seen = new Set<string>();
  single.forEach((t, i) => {
    const type = plainType(t);
    const problem = unconstructible(t, type);
    const r = reads[i]!;
    if (problem !== undefined) {
      assert.ok(r.error, `gen refuses ${JSON.stringify(t)} (${problem}) but PyYAML reads it`);
      seen.add('refused');
      return;
    }
    assert.ok(r.value && 'dict' in r.value, `PyYAML refuses ${JSON.stringify(t)} (${r.error}), gen reads it as ${type}`);
    const value = (r.value as { dict: [Canon, Canon][] }).dict[0]![1];
    const actual = value === null ? 'null' : TYPE[Object.keys(value)[0]!];
    assert.is(type, actual, `type of ${JSON.stringify(t)}`);
    if (type === 'int') assert.is(String(pyInt(t)), (value as { int: string }).int, `value of ${JSON.stringify(t)}`);
    seen.add(type);
  });
  assert.equal([...seen].sort(), ['bool', 'float', 'int', 'null', 'refused', 'str', 'timestamp']);
  console.log(`  plain scalars compared with PyYAML: ${single.length}`);
});

test("gen's schema check and cloud-init's agree on includes whose YAML both read", () => {
  const texts = fc.sample(hostileInclude, 1500);
  const judged: { text: string; gen: boolean }[] = [];
  for (const text of texts) {
    if (syntaxProblems(text).length > 0) continue;
    const tree = readIncludeTree(text, positionsOf(text));
    if (!tree.ok) continue;
    judged.push({ text, gen: checkCloudConfig(tree.tree).length === 0 });
  }
  const reads = cloudInit(judged.map(({ text }) => ({ kind: 'schema', text })));
  let invalid = 0;
  judged.forEach(({ text, gen }, i) => {
    const r = reads[i]!;
    assert.ok(r.errors, `PyYAML refuses what gen reads (${r.error}):\n${text}`);
    assert.is(
      gen,
      r.errors.length === 0,
      `gen ${gen ? 'accepts' : 'refuses'} this include, cloud-init's schema ${r.errors.length ? `refuses it: ${JSON.stringify(r.errors)}` : 'accepts it'}:\n${text}`,
    );
    if (!gen) invalid++;
  });
  console.log(`  schema verdicts compared with cloud-init: ${judged.length} (${invalid} invalid)`);
  assert.ok(invalid >= judged.length / 10 && invalid <= (judged.length * 9) / 10, `${invalid} of ${judged.length} invalid`);
});

test("the final check stays last: merged, the include's commands go before it; as MIME it is a part of its own", () => {
  const stack = generate({ profiles: ['lxd-small'] }, { packer: false, secrets: 'resolve' });
  const ours = stack.artifacts.find((a) => a.kind === 'user-data')!;
  const { check } = splitFinalCheck(ours.format === 'cloud-config' ? ours.data : {});
  const file = join(dir, 'ops.yaml');
  writeFileSync(file, '#cloud-config\nruncmd:\n  - [echo, ops]\n  - echo two\n');
  const [merged, mime] = cloudInit(
    [false, true].map((asMime) => ({ kind: 'user-data' as const, text: userDataWith(stack, [file], asMime).text })),
  );
  for (const r of [merged!, mime!]) {
    const runcmd = (r.value as { dict: [Canon, Canon][] }).dict.find(([k]) => JSON.stringify(k) === '{"str":"runcmd"}')![1] as {
      list: Canon[];
    };
    assert.equal(runcmd.list.at(-1), { list: check.map((s) => ({ str: s })) });
    assert.equal(runcmd.list.at(-3), { list: [{ str: 'echo' }, { str: 'ops' }] });
    assert.equal(runcmd.list.at(-2), { str: 'echo two' });
  }
});

const FIX = join(ROOT, 'test', 'fixtures', 'includes');

test("the issue's examples: 0644 stays octal, yes/on/off stay booleans, << merges, the final check stays last; real cloud-init schema accepts each include and the merged user-data", () => {
  const files = ['yaml11.yaml', 'rules.yaml'].map((f) => join(FIX, f));
  const r = gen(['--profile', 'incus-dense', ...files.flatMap((f) => ['--include', f])]);
  assert.is(r.status, 0, r.stderr);
  const merged = join(dir, 'merged-user-data');
  writeFileSync(merged, r.stdout);
  for (const file of [...files, merged]) {
    const check = run('cloud-init', ['schema', '--config-file', file]);
    assert.is(check.status, 0, `cloud-init schema ${file}:\n${check.stdout}${check.stderr}`);
    assert.match(check.stdout, /Valid cloud-config/);
  }
  const [read] = cloudInit([{ kind: 'yaml', text: r.stdout }]);
  const top = new Map((read!.value as { dict: [Canon, Canon][] }).dict.map(([k, v]) => [(k as { str: string }).str, v]));
  const site = new Map((top.get('x-ops-site') as { dict: [Canon, Canon][] }).dict.map(([k, v]) => [(k as { str: string }).str, v]));
  assert.equal(site.get('mode'), { int: '420' }, '0644 is octal 420, as in the include');
  assert.equal(site.get('retries'), { int: '5' }, "the mapping's own key wins over <<");
  assert.equal(site.get('window'), { int: '90' }, '1:30 is sexagesimal');
  assert.equal(site.get('enabled'), { bool: false });
  assert.equal(site.get('since'), { date: 'datetime.date(2001, 12, 14)' });
  assert.equal(top.get('package_update'), { bool: true }, "yes is true, and equal to the second include's true");
  assert.equal(top.get('packages'), { list: [{ str: 'htop' }, { str: 'jq' }, { str: 'curl' }] });
  const runcmd = (top.get('runcmd') as { list: Canon[] }).list;
  assert.equal(runcmd.slice(-3), [
    { list: [{ str: 'echo' }, { str: 'ops' }] },
    { str: 'echo second' },
    { list: [{ str: '/usr/local/sbin/born-tuned-step' }, { str: '--check' }] },
  ]);
  assert.ok(top.has('constructor') && top.has('toString'), "JavaScript's own property names are plain keys");
  assert.match(r.stdout, /^  mode: 0644$/m, 'the text is carried, not reinterpreted');
});

test('an include that is not a readable regular file is a located error, at once: no hang on a FIFO, no read of /dev/zero', () => {
  const fifo = join(dir, 'pipe.yaml');
  run('mkfifo', [fifo]);
  const cases: [string, RegExp][] = [
    [fifo, /pipe\.yaml: error FILE_UNREADABLE: the cloud-config include is a FIFO \(named pipe\), not a regular file: give a \.yaml file/],
    ['/dev/zero', /\/dev\/zero: error FILE_UNREADABLE: the cloud-config include is a character device, not a regular file/],
    [dir, /error FILE_UNREADABLE: the cloud-config include is a directory, not a regular file/],
    [join(dir, 'absent.yaml'), /absent\.yaml: error FILE_UNREADABLE: the cloud-config include does not exist: check the path/],
  ];
  for (const [file, expected] of cases) {
    const r = spawnSync(BIN_GEN, ['--profile', 'incus-dense', '--include', file], { encoding: 'utf8', timeout: 20_000 });
    assert.is(r.error, undefined, `gen did not end on ${file}`);
    assert.is(r.status, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, expected);
    assert.is(r.stdout, '');
  }
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `#cloud-config\nx: "${'a'.repeat(MAX_INCLUDE_BYTES)}"\n`);
  const r = gen(['--profile', 'incus-dense', '--include', big]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /big\.yaml: error FILE_TOO_LARGE: the cloud-config include is larger than 1048576 bytes/);
});

test('an include file name that cannot be written into a MIME header or a comment is a located error, never exit 3', () => {
  const stack = generate({ profiles: ['incus-dense'] }, { packer: false, secrets: 'resolve' });
  const names = ['a\nb.yaml', 'a"b.yaml', 'a\\b.yaml', 'tab\there.yaml', 'caf\u00e9.yaml', 'x\u2028y.yaml', 'esc\x1b[31m.yaml'];
  for (const name of names) {
    const file = join(dir, name);
    writeFileSync(file, '#cloud-config\npackages: [htop]\n');
    for (const mime of [false, true]) {
      try {
        userDataWith(stack, [file], mime);
        assert.unreachable(`accepted ${JSON.stringify(name)}`);
      } catch (e) {
        assert.ok(e instanceof ProfileError, String(e));
        assert.match(e.diagnostics[0]!.message, /^the file name "[\x20-\x7e]+" is written into the user-data/);
      }
    }
  }
  // The command line maps that to exit 1, with one line on stderr.
  const r = gen(['--profile', 'incus-dense', '--include', join(dir, names[0]!), '--mime']);
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, '');
});

test('__proto__ in an include is a located error at every level; it never reaches an object', () => {
  const before = Object.getOwnPropertyNames(Object.prototype).join();
  const stack = generate({ profiles: ['incus-dense'] }, { packer: false, secrets: 'resolve' });
  for (const doc of [
    '__proto__: {polluted: true}\n',
    'x:\n  - __proto__: {polluted: true}\n',
    'x: {a: {"__proto__": {polluted: true}}}\n',
    'x: &a {k: 1}\ny:\n  <<: *a\n  ? __proto__\n  : 1\n',
  ]) {
    const file = join(dir, 'proto.yaml');
    writeFileSync(file, `#cloud-config\n${doc}`);
    try {
      userDataWith(stack, [file], false);
      assert.unreachable(`accepted: ${doc}`);
    } catch (e) {
      assert.ok(e instanceof ProfileError, String(e));
      assert.equal(
        e.diagnostics.map((d) => d.code),
        ['RESERVED_KEY'],
      );
      assert.ok(e.diagnostics[0]!.line! > 1);
    }
  }
  assert.is(Object.getOwnPropertyNames(Object.prototype).join(), before);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('packer/user-data, the first boot of a host made from the baked image, gets the includes, MIME and encoding of user-data', () => {
  const file = join(dir, 'baked-ops.yaml');
  writeFileSync(file, '#cloud-config\npackages: [htop]\n');
  const stack = resolveStack({ profiles: ['lxd-small'] });
  const merged = renderHost({ stack, includes: [file], packer: true, secrets: 'resolve' }).artifacts;
  for (const kind of ['user-data', 'packer-user-data']) {
    const a = merged.find((x) => x.kind === kind)!;
    assert.match(a.text, /\n# Folded in: baked-ops\.yaml\n/, kind);
    assert.match(a.text, /\npackages: \[htop\]\n/, kind);
  }
  const mime = renderHost({ stack, includes: [file], mime: true, encoding: 'base64', packer: true, secrets: 'resolve' }).artifacts;
  for (const kind of ['user-data', 'packer-user-data']) {
    const a = mime.find((x) => x.kind === kind)!;
    assert.is(a.format, 'mime', kind);
    assert.is(Buffer.from(Buffer.from(a.bytes!).toString(), 'base64').toString(), a.text, kind);
    assert.match(a.text, /filename="baked-ops\.yaml"/, kind);
  }
});

test('an inventory reads each include once and composes each distinct user-data once', async () => {
  const inv = join(dir, 'inv');
  mkdirSync(inv);
  writeFileSync(join(inv, 'ops.yaml'), '#cloud-config\npackages: [htop]\n');
  writeFileSync(join(inv, 'edge.yaml'), '#cloud-config\npackages: [jq]\n');
  writeFileSync(
    join(inv, 'hosts.yaml'),
    'defaults:\n  profiles: [incus-dense]\n  include: [ops.yaml]\ngroups:\n  edge:\n    include: [edge.yaml]\nhosts:\n  a: {}\n  b: {}\n  c: {group: edge}\n  d: {group: edge}\n',
  );
  const { stats } = await generateInventory(join(inv, 'hosts.yaml'), { mime: false, encoding: 'plain' }, () => undefined);
  assert.equal(stats, { hosts: 4, of: 4, stacks: 1, userData: 2, includes: 2, files: 13 });
});

test.run();
