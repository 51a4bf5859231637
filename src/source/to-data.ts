import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import { emptyMap } from '../base/data.ts';

/**
 * A YAML document of ours (profile, inventory) turned into data that JavaScript cannot mistake for
 * anything else: every mapping is an object without a prototype, so a key named `constructor` or
 * `toString` is a plain key and never finds Object's methods, and `__proto__` is refused (zod and
 * object spreads give it its special meaning again, so no format of ours accepts it). Keys are
 * strings as written: a key YAML reads as a number, a boolean or null (`0x10:`, `1e3:`, `yes:`,
 * `~:`) would be silently renamed by the conversion, and two such keys could merge (`010:` and
 * `10:` are both 10), so it is an error that says to quote it. Tags are not part of our formats.
 * Duplicate keys are found here with one set per mapping, which keeps a large file linear (the
 * yaml library's own check compares each key with every earlier one).
 */
export interface DataProblem {
  code: 'YAML_DUPLICATE_KEY' | 'RESERVED_KEY' | 'INVALID_KEY' | 'YAML_TAG' | 'YAML_ALIAS' | 'YAML_SYNTAX';
  message: string;
  /** Offset in the text where the problem is. */
  offset: number;
}

/** Limits of a conversion: how deep a document may nest and how many values aliases may expand to. */
interface DataLimits {
  maxDepth: number;
  /** Values (scalars, mappings, lists) the document may stand for once every alias is expanded. */
  maxValues: number;
}

/** Converts `doc` to prototype-free data, or reports every problem found (and returns undefined). */
export function documentToData(doc: Document.Parsed, limits: DataLimits, problems: DataProblem[]): unknown {
  let values = 0;
  let tooMany = false;
  let tooDeep = false;

  const convert = (node: unknown, depth: number): unknown => {
    if (depth > limits.maxDepth) {
      if (!tooDeep)
        problems.push({
          code: 'YAML_SYNTAX',
          message: `the document nests more than ${limits.maxDepth} levels deep`,
          offset: offsetOf(node),
        });
      tooDeep = true;
      return undefined;
    }
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (!target) {
        problems.push({ code: 'YAML_ALIAS', message: `alias *${node.source} names no anchor`, offset: offsetOf(node) });
        return undefined;
      }
      // Every expansion is converted and counted again: the cap bounds the walk, however the
      // aliases nest (a "billion laughs" document stops at maxValues).
      return convert(target, depth);
    }
    if (++values > limits.maxValues) return overflow(node);
    if (isScalar(node)) {
      if (node.tag !== undefined) tagProblem(node);
      return node.value;
    }
    if (isMap(node)) {
      if (node.tag !== undefined) tagProblem(node);
      const out = emptyMap();
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = keyOf(pair.key);
        if (key === undefined) continue;
        if (seen.has(key)) {
          problems.push({
            code: 'YAML_DUPLICATE_KEY',
            message: `duplicate key ${JSON.stringify(key)}: keep one of them`,
            offset: offsetOf(pair.key),
          });
          continue;
        }
        seen.add(key);
        const value = convert(pair.value, depth + 1);
        out[key] = value === undefined ? null : value;
      }
      return out;
    }
    if (isSeq(node)) {
      if (node.tag !== undefined) tagProblem(node);
      return node.items.map((item) => {
        const value = convert(item, depth + 1);
        return value === undefined ? null : value;
      });
    }
    if (isPair(node)) return undefined;
    // An empty value (`key:` with nothing after it) is null, as YAML reads it.
    return null;
  };

  const keyOf = (key: unknown): string | undefined => {
    if (!isScalar(key)) {
      problems.push({
        code: 'INVALID_KEY',
        message: 'a key must be a single word or quoted string, not a list or a mapping',
        offset: offsetOf(key),
      });
      return undefined;
    }
    if (key.tag !== undefined) tagProblem(key);
    if (typeof key.value !== 'string') {
      const written = key.source ?? String(key.value);
      problems.push({
        code: 'INVALID_KEY',
        message: `the key ${written} reads as ${describeScalar(key.value)}, not as a name: quote it ("${written}") if it is a name`,
        offset: offsetOf(key),
      });
      return undefined;
    }
    if (key.value === '<<' && key.type === 'PLAIN') {
      problems.push({
        code: 'INVALID_KEY',
        message: "merge keys (<<) are not part of gen's formats: reuse a profile with extends:, or write the keys out",
        offset: offsetOf(key),
      });
      return undefined;
    }
    if (key.value === '__proto__') {
      problems.push({
        code: 'RESERVED_KEY',
        message: 'the key "__proto__" is not a setting of any format gen reads: remove it',
        offset: offsetOf(key),
      });
      return undefined;
    }
    return key.value;
  };

  const tagProblem = (node: Node) => {
    const secret = node.tag === '!env' || node.tag === '!file' ? `; a secret is written {${node.tag.slice(1)}: ...}` : '';
    problems.push({
      code: 'YAML_TAG',
      message: `the tag ${node.tag} has no meaning here: write the value without a tag (quote it to make it a string)${secret}`,
      offset: offsetOf(node),
    });
  };

  const overflow = (node: unknown) => {
    if (!tooMany)
      problems.push({
        code: 'YAML_ALIAS',
        message: `aliases expand to more than ${limits.maxValues} values: write the values out`,
        offset: offsetOf(node),
      });
    tooMany = true;
    return undefined;
  };

  const data = convert(doc.contents, 1);
  return problems.length > 0 ? undefined : data;
}

function offsetOf(node: unknown): number {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : 0;
}

function describeScalar(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${String(value)}`;
  return typeof value;
}
