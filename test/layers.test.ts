import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exportsOf, importsOf, roomOf, sourceFiles, type Edge } from './import-graph.ts';

// The rooms of src/ from the bottom up (README, Development: "Layers"). A module may import from
// its own room and from the rooms of a lower line, never from a higher one or a sibling on the
// same line: data flows source → resolve → schema → plan → render → check → pipeline → commands.
const LAYERS: readonly (readonly string[])[] = [
  ['require-builtin.ts'],
  ['base', 'builtins.ts', 'version.ts'],
  ['diagnostics'],
  ['facts'],
  ['source'],
  ['resolve'],
  ['schema'],
  ['plan'],
  ['secrets'],
  ['render'],
  ['compose'],
  ['check'],
  ['output'],
  ['pipeline.ts'],
  ['explain', 'verify', 'inventory'],
  ['commands'],
  ['cli.ts'],
  ['main.ts', 'build'],
];

// src/build/ holds what scripts/build.mjs puts in the bundles in place of other modules (each
// matching the signature of the one it replaces) and the startup snapshot's entry: nothing imports
// them, and they may stand in for a renderer's module.
const BUILD_ROOM = 'build';

const rank = new Map(LAYERS.flatMap((rooms, i) => rooms.map((r) => [r, i] as const)));
const SRC = sourceFiles('src');
const EDGES: Edge[] = SRC.flatMap(importsOf);

test('every room of src/ has its place in the layer table', () => {
  const unplaced = [...new Set(SRC.map(roomOf))].filter((r) => !rank.has(r));
  assert.equal(unplaced, [], `rooms missing from LAYERS in test/layers.test.ts: ${unplaced.join(', ')}`);
});

test('no import runs up the layers or across to a sibling room', () => {
  const upward = EDGES.filter((e) => {
    const from = roomOf(e.from);
    const to = roomOf(e.to);
    return from !== to && !(rank.get(to)! < rank.get(from)!);
  }).map((e) => `${e.from} → ${e.to}`);
  assert.equal(upward, []);
});

// Outside render/, a module may use the Artifact type and the YAML scalar type that carries
// operators' values; rendering itself (templates, builders, encoders) is for the pipeline alone.
const RENDER_SHARED = new Set(['src/render/artifact.ts', 'src/render/yaml.ts']);

test('pipeline.ts is the only module outside render/ that calls a renderer, and the only caller of the check', () => {
  const strays = EDGES.filter((e) => {
    const from = roomOf(e.from);
    const to = roomOf(e.to);
    if (from === to || from === 'pipeline.ts' || from === BUILD_ROOM) return false;
    return to === 'check' || (to === 'render' && !RENDER_SHARED.has(e.to));
  }).map((e) => `${e.from} → ${e.to}`);
  assert.equal(strays, []);
});

// Exports that only a generated program imports (a string the import parser cannot see).
const IMPORTED_BY_GENERATED_CODE = new Set(['src/output/swap.ts: fsyncEach']);

test('every export of src/ is imported somewhere (src, test, scripts, bench)', () => {
  const users = [...SRC, ...sourceFiles('test'), ...sourceFiles('scripts'), ...sourceFiles('bench')].flatMap(importsOf);
  const imported = new Map<string, Set<string>>();
  for (const e of users) {
    const names = imported.get(e.to) ?? new Set<string>();
    for (const n of e.names) names.add(n);
    imported.set(e.to, names);
  }
  const dead = SRC.filter((file) => roomOf(file) !== BUILD_ROOM).flatMap((file) => {
    const names = imported.get(file);
    if (names?.has('*')) return [];
    return exportsOf(file)
      .filter((n) => !names?.has(n))
      .map((n) => `${file}: ${n}`)
      .filter((n) => !IMPORTED_BY_GENERATED_CODE.has(n));
  });
  assert.equal(dead, []);
});

test.run();
