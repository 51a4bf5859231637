import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.ts';

// The modules of src/ and the imports between them, read from the source text (for the layer and
// dead-export tests in test/layers.test.ts). Run it to see the rooms and who imports whom:
//   npx tsx test/import-graph.ts             each room: the rooms it imports from
//   npx tsx test/import-graph.ts --importers each module imported from other rooms: which rooms

/** One import or re-export of a module of this repository. */
export interface Edge {
  /** Importing file, relative to the repository root. */
  from: string;
  /** Imported file, relative to the repository root. */
  to: string;
  /** Names imported (`*` for a namespace import or a bare `import '...'`). */
  names: string[];
}

const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?([\s\S]*?)\s*from\s*'([^']+)'|(?:^|[\s;])import\s*\(\s*'([^']+)'\s*\)|(?:^|[\s;])import\s+'([^']+)'/gm;

/** Every .ts/.cts file under `dir` (repository-relative), sorted. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(join(ROOT, d), { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'fixtures' && e.name !== 'golden') walk(p);
      } else if (/\.(c?ts|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The source text without comments (a `from '...'` in a comment is no import). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** The imports of `file` that name a file of this repository. */
export function importsOf(file: string): Edge[] {
  const text = withoutComments(readFileSync(join(ROOT, file), 'utf8'));
  const edges: Edge[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[3] ?? m[4] ?? m[5]!;
    if (!spec.startsWith('.')) continue;
    const clause = m[2] ?? '';
    let names: string[];
    if (m[3] === undefined || /\*\s+as\s+/.test(clause) || clause.trim() === '*') names = ['*'];
    else {
      const braces = clause.match(/\{([\s\S]*)\}/)?.[1] ?? '';
      names = braces
        .split(',')
        .map((n) =>
          n
            .trim()
            .replace(/^type\s+/, '')
            .split(/\s+as\s+/)[0]!
            .trim(),
        )
        .filter(Boolean);
      const defaultName = clause
        .replace(/\{[\s\S]*\}/, '')
        .replace(/,/g, '')
        .trim();
      if (defaultName !== '' && defaultName !== 'type') names.push('default');
    }
    edges.push({ from: file, to: relative(ROOT, resolve(ROOT, dirname(file), spec)), names });
  }
  return edges;
}

/** The room of a file of src/: its folder, or the file's own name at the top of src/. */
export function roomOf(file: string): string {
  const parts = relative('src', file).split('/');
  return parts[0]!;
}

/** Names a module exports by declaration (`export function f`, `export const X`, `export interface I`, ...). */
export function exportsOf(file: string): string[] {
  const text = withoutComments(readFileSync(join(ROOT, file), 'utf8'));
  const names = [
    ...text.matchAll(
      /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|var|class|interface|type|enum|abstract\s+class)\s+([A-Za-z_$][\w$]*)/gm,
    ),
  ].map((m) => m[1]!);
  for (const m of text.matchAll(/^export\s*\{([^}]*)\}/gm))
    names.push(
      ...m[1]!
        .split(',')
        .map((n) =>
          n
            .trim()
            .split(/\s+as\s+/)
            .at(-1)!,
        )
        .filter(Boolean),
    );
  if (/^export\s+default\b/m.test(text) || /^export\s*=/m.test(text)) names.push('default');
  return names;
}

/** Prints, for each module other rooms import, those rooms (most first): a module many rooms
 * need should be vocabulary (types, errors, data helpers) or a layer's entry, nothing else. */
function printImporters(): void {
  const importers = new Map<string, Set<string>>();
  for (const file of sourceFiles('src')) {
    for (const e of importsOf(file)) {
      if (roomOf(e.to) === roomOf(file)) continue;
      const rooms = importers.get(e.to) ?? new Set<string>();
      importers.set(e.to, rooms.add(roomOf(file)));
    }
  }
  for (const [module, rooms] of [...importers].sort((a, b) => b[1].size - a[1].size || a[0].localeCompare(b[0])))
    console.log(`${String(rooms.size).padStart(2)} ${module.padEnd(36)} ← ${[...rooms].sort().join(' ')}`);
}

const runDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(ROOT, 'test/import-graph.ts');
if (runDirectly && process.argv[2] === '--importers') printImporters();
else if (runDirectly) {
  // Per room: the rooms it imports from, and how many imports go to each.
  const byRoom = new Map<string, Map<string, number>>();
  for (const file of sourceFiles('src')) {
    const from = roomOf(file);
    const counts = byRoom.get(from) ?? new Map<string, number>();
    byRoom.set(from, counts);
    for (const e of importsOf(file)) {
      const to = roomOf(e.to);
      if (to !== from) counts.set(to, (counts.get(to) ?? 0) + 1);
    }
  }
  for (const [room, counts] of [...byRoom].sort())
    console.log(
      `${room.padEnd(20)} → ${
        [...counts]
          .sort()
          .map(([r, n]) => `${r}(${n})`)
          .join(' ') || '-'
      }`,
    );
}
