import { Composer, isAlias, isMap, isScalar, isSeq, Parser, type Document, type Node, type ParsedNode, type YAMLMap } from 'yaml';
import type { DiagnosticCode } from '../diagnostics/diagnostic.ts';
import { MAX_DEPTH } from '../source/load.ts';
import { describePlain, plainType, unconstructible, type PlainType } from './pyyaml-scalar.ts';

/** Line and column (1-based) in an include. */
export interface Position {
  line: number;
  col: number;
}

/**
 * A scalar of an include, kept as cloud-init will read it. A plain scalar keeps its text, which is
 * written back unchanged (PyYAML then types it as it would have in the include); `type` is what
 * PyYAML makes of it. A quoted or block scalar, or a plain one spanning lines, is a string whatever
 * its text: `text` is that string.
 */
export interface IncludeScalar {
  kind: 'scalar';
  plain: boolean;
  text: string;
  type: PlainType;
  at: Position;
}

/** A list of an include. */
interface IncludeSeq {
  kind: 'seq';
  items: IncludeNode[];
  at: Position;
}

/** A mapping of an include: string keys (cloud-init reads nothing else as a name), in order. */
export interface IncludeMap {
  kind: 'map';
  entries: Map<string, IncludeEntry>;
  at: Position;
}

/** One key of a mapping and its value. */
interface IncludeEntry {
  key: IncludeScalar;
  value: IncludeNode;
}

export type IncludeNode = IncludeScalar | IncludeSeq | IncludeMap;

/** A located problem found while reading an include. */
interface TreeProblem {
  at: Position;
  code: DiagnosticCode;
  message: string;
}

/** An include read as cloud-init will read it, or the problems that stop it. */
type TreeResult = { ok: true; tree: IncludeMap } | { ok: false; problems: TreeProblem[] };

/**
 * More values than this once aliases are expanded is refused: the merged user-data writes each
 * alias out, so a few lines of nested aliases could otherwise make it gigabytes.
 */
const MAX_EXPANDED_VALUES = 100_000;

const PYYAML = "cloud-init's YAML reader (PyYAML)";

/**
 * Reads an include's YAML into the values cloud-init will see: aliases expanded, `<<` merge keys
 * applied as PyYAML applies them (the mapping's own keys win; of several merged mappings, the first
 * wins), every scalar kept as it is written (see IncludeScalar). Refused, each where it is written:
 * a document that is not one mapping, a key that PyYAML does not read as a string, `__proto__`, a
 * key written twice (PyYAML would silently keep the last), a recursive alias, a value PyYAML cannot
 * build (`0b_`, `2001-02-30`, a bare `=`), nesting deeper than MAX_DEPTH and an alias expansion
 * beyond MAX_EXPANDED_VALUES. The text must have passed syntaxProblems() (no tags, no directives);
 * `pos` turns an offset into a line and column.
 */
export function readIncludeTree(text: string, pos: (offset: number) => Position): TreeResult {
  const problems: TreeProblem[] = [];
  const report = (offset: number, code: DiagnosticCode, message: string) => problems.push({ at: pos(offset), code, message });
  const docs = [
    ...new Composer({ schema: 'failsafe', merge: false, uniqueKeys: false, strict: true }).compose(
      new Parser().parse(text),
      true,
      text.length,
    ),
  ];
  for (const doc of docs) {
    for (const err of doc.errors) {
      const message = /call stack/i.test(err.message)
        ? `the include nests too deeply to read; it may be at most ${MAX_DEPTH} levels deep`
        : err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      report(err.pos[0], err.code === 'BAD_ALIAS' ? 'YAML_ALIAS' : 'YAML_SYNTAX', message);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  if (docs.length > 1) {
    report(
      docs[1]!.range[0],
      'YAML_SYNTAX',
      `the include holds ${docs.length} YAML documents; cloud-init reads one: keep one document (merge them, or make each its own --include)`,
    );
    return { ok: false, problems };
  }
  const contents = docs[0]?.contents;
  if (!isMap(contents)) {
    const what =
      !contents || (isScalar(contents) && contents.type === 'PLAIN' && contents.source === '')
        ? 'empty'
        : isSeq(contents)
          ? 'a list'
          : 'a single value';
    report(
      contents?.range[0] ?? 0,
      'NOT_A_MAPPING',
      `the cloud-config include is ${what}; a cloud-config is a mapping of modules such as users:, packages:, runcmd:`,
    );
    return { ok: false, problems };
  }
  const reader = new TreeReader(docs[0]!, pos, report);
  const tree = reader.node(contents, 0) as IncludeMap | undefined;
  if (problems.length === 0 && tree && reader.expandedSize(tree) > MAX_EXPANDED_VALUES) {
    report(
      reader.firstAlias ?? 0,
      'YAML_ALIAS',
      `aliases expand this include to more than ${MAX_EXPANDED_VALUES} values, each written out in the merged user-data: write the values out, or use fewer aliases`,
    );
  }
  return problems.length > 0 || !tree ? { ok: false, problems } : { ok: true, tree };
}

class TreeReader {
  /** Each YAML node is read once, however many aliases name it (which keeps reading linear). */
  private readonly done = new Map<Node, IncludeNode | undefined>();
  private readonly inProgress = new Set<Node>();
  private readonly sizes = new Map<IncludeNode, number>();
  firstAlias: number | undefined;

  constructor(
    private readonly doc: Document.Parsed,
    private readonly pos: (offset: number) => Position,
    private readonly report: (offset: number, code: DiagnosticCode, message: string) => void,
  ) {}

  node(node: ParsedNode | null, depth: number): IncludeNode | undefined {
    if (node === null) return undefined;
    if (depth > MAX_DEPTH) {
      this.report(node.range[0], 'YAML_SYNTAX', `the include nests more than ${MAX_DEPTH} levels deep: flatten it`);
      return undefined;
    }
    let target: ParsedNode = node;
    if (isAlias(node)) {
      this.firstAlias ??= node.range[0];
      const resolved = node.resolve(this.doc) as ParsedNode | undefined;
      if (!resolved) {
        this.report(
          node.range[0],
          'YAML_ALIAS',
          `the alias *${node.source} names no anchor defined before it: define &${node.source} first`,
        );
        return undefined;
      }
      if (this.inProgress.has(resolved)) {
        this.report(
          node.range[0],
          'YAML_ALIAS',
          `the alias *${node.source} is inside the value it names (a recursive structure), which cannot be written out: remove the alias`,
        );
        return undefined;
      }
      target = resolved;
    }
    if (this.done.has(target)) return this.done.get(target);
    this.inProgress.add(target);
    const result = this.read(target, depth);
    this.inProgress.delete(target);
    this.done.set(target, result);
    return result;
  }

  private read(node: ParsedNode, depth: number): IncludeNode | undefined {
    const at = this.pos(node.range[0]);
    if (isScalar(node)) return this.scalar(node.source ?? String(node.value), node.type === 'PLAIN', node.range[0], 'value');
    if (isSeq(node)) {
      const items: IncludeNode[] = [];
      let ok = true;
      for (const item of node.items) {
        const read = this.node(item as ParsedNode, depth + 1);
        if (read) items.push(read);
        else ok = false;
      }
      return ok ? { kind: 'seq', items, at } : undefined;
    }
    if (isMap(node)) return this.map(node, depth, at);
    return undefined;
  }

  private scalar(text: string, plain: boolean, offset: number, role: 'key' | 'value'): IncludeScalar | undefined {
    const at = this.pos(offset);
    // A plain scalar over several lines folds to a string holding a line break: no resolver
    // matches it, so it is a string like a quoted one.
    if (!plain || text.includes('\n')) {
      if (/\p{Cs}/u.test(text)) {
        this.report(
          offset,
          'INVALID_VALUE',
          'this string holds half of a UTF-16 surrogate pair (an escape such as "\\ud800"), which no UTF-8 file can carry: remove it',
        );
        return undefined;
      }
      return { kind: 'scalar', plain: false, text, type: 'str', at };
    }
    const type = plainType(text);
    // As a key, PyYAML reads `=` as the string "=" (and `<<` is handled by the caller).
    if (role === 'key' && type === 'value') return { kind: 'scalar', plain: true, text, type: 'str', at };
    const problem = unconstructible(text, type);
    if (problem) {
      this.report(
        offset,
        'INVALID_VALUE',
        `${PYYAML} reads ${JSON.stringify(text)} as ${problem} and then cannot read the whole file: quote it if it is text`,
      );
      return undefined;
    }
    return { kind: 'scalar', plain: true, text, type, at };
  }

  private map(node: YAMLMap.Parsed, depth: number, at: Position): IncludeMap | undefined {
    const own = new Map<string, IncludeEntry>();
    const merged: IncludeMap[] = [];
    let ok = true;
    for (const pair of node.items) {
      const keyNode = (isAlias(pair.key) ? pair.key.resolve(this.doc) : pair.key) as ParsedNode | null | undefined;
      const keyOffset = (pair.key as ParsedNode | null)?.range[0] ?? (pair.value as ParsedNode | null)?.range[0] ?? node.range[0];
      if (!isScalar(keyNode)) {
        this.report(
          keyOffset,
          'INVALID_TYPE',
          keyNode ? 'a key must be a name, not a list or a mapping: cloud-init cannot use it' : 'a value without a key: write "key: value"',
        );
        ok = false;
        continue;
      }
      const keyText = keyNode.source ?? String(keyNode.value);
      const keyPlain = keyNode.type === 'PLAIN';
      if (keyPlain && keyText === '<<') {
        const sources = this.mergeSources(pair.value as ParsedNode | null, depth, keyOffset);
        if (sources) merged.push(...sources);
        else ok = false;
        continue;
      }
      const key = this.scalar(keyText, keyPlain, keyOffset, 'key');
      if (!key) {
        ok = false;
        continue;
      }
      if (key.type !== 'str') {
        this.report(
          keyOffset,
          'INVALID_TYPE',
          `${PYYAML} reads the key ${JSON.stringify(keyText)} as ${describePlain(keyText, key.type)}, not a name: quote it ("${keyText}") if it is a name`,
        );
        ok = false;
        continue;
      }
      if (key.text === '__proto__') {
        this.report(
          keyOffset,
          'RESERVED_KEY',
          'the key "__proto__" is refused: no cloud-config module has it, and in JavaScript it reaches an object\'s prototype: remove it',
        );
        ok = false;
        continue;
      }
      if (own.has(key.text)) {
        this.report(
          keyOffset,
          'YAML_DUPLICATE_KEY',
          `duplicate key ${JSON.stringify(key.text)} (first at line ${own.get(key.text)!.key.at.line}); cloud-init would silently keep the last one: keep one of them`,
        );
        ok = false;
        continue;
      }
      const value = pair.value === null ? this.scalar('', true, keyOffset, 'value') : this.node(pair.value as ParsedNode, depth + 1);
      if (!value) {
        ok = false;
        continue;
      }
      own.set(key.text, { key, value });
    }
    if (!ok) return undefined;
    if (merged.length === 0) return { kind: 'map', entries: own, at };
    // PyYAML puts the merged pairs first and builds a dict in order, so a later pair overrides an
    // earlier one: the mapping's own keys win, then the first-listed merged mapping. A key keeps
    // the place where it first appeared.
    const entries = new Map<string, IncludeEntry>();
    for (const source of [...merged, { entries: own }]) {
      for (const [k, e] of source.entries) entries.set(k, e);
    }
    return { kind: 'map', entries, at };
  }

  /** The mappings a `<<` key merges, in the order PyYAML applies them (a later one overrides). */
  private mergeSources(value: ParsedNode | null, depth: number, keyOffset: number): IncludeMap[] | undefined {
    const read = value === null ? undefined : this.node(value, depth + 1);
    if (read?.kind === 'map') return [read];
    if (read?.kind === 'seq' && read.items.every((i) => i.kind === 'map')) return [...(read.items as IncludeMap[])].reverse();
    if (read !== undefined || value === null) {
      this.report(
        value?.range[0] ?? keyOffset,
        'INVALID_VALUE',
        `${PYYAML} merges only a mapping or a list of mappings with "<<": give it one, or quote "<<" if it is a key`,
      );
    }
    return undefined;
  }

  /** Values in `node` once every alias is written out (shared subtrees counted each time). */
  expandedSize(node: IncludeNode): number {
    const known = this.sizes.get(node);
    if (known !== undefined) return known;
    let size = 1;
    if (node.kind === 'seq') for (const i of node.items) size += this.expandedSize(i);
    if (node.kind === 'map') for (const e of node.entries.values()) size += 1 + this.expandedSize(e.value);
    this.sizes.set(node, size);
    return size;
  }
}
