import { isDeepStrictEqual } from 'node:util';
import { Composer, isMap, isScalar, isSeq, Parser, type Document } from 'yaml';
import { InternalError } from '../diagnostics/errors.ts';
import type { HostPlan } from '../plan/model.ts';
import type { Artifact } from '../render/artifact.ts';
import { RawPlain } from '../render/yaml.ts';
import { isPlainObject } from '../resolve/merge.ts';
import { preseedProblems } from './preseed-keys.ts';

/**
 * Parses each rendered artifact back and compares it with the data it was built from. A mismatch
 * means the generator wrote something other than it meant (escaping, indentation, type coercion):
 * our bug, reported as exit 3, never handed to a host.
 */
export function checkArtifacts(artifacts: readonly Artifact[], plan: HostPlan, data: { cloudConfig: unknown; bakedConfig?: unknown; preseed: unknown; netplan: unknown }): void {
  for (const a of artifacts) {
    switch (a.kind) {
      case 'user-data':
        expectYaml(a, data.cloudConfig, '#cloud-config\n');
        break;
      case 'packer-user-data':
        expectYaml(a, data.bakedConfig, '#cloud-config\n');
        break;
      case 'netplan':
        expectYaml(a, data.netplan);
        break;
      case 'preseed': {
        expectYaml(a, data.preseed);
        const problems = preseedProblems(data.preseed as Record<string, unknown>, plan.manager.name, plan.manager.version);
        if (problems.length) throw new InternalError(`${a.path} has keys the manager would reject: ${problems.join('; ')}`);
        break;
      }
      case 'sysctl':
        expectEqual(a, parseKeyValueLines(a.text), plan.sysctl.map((s) => [s.key, s.value]));
        break;
    }
  }
}

/** `key = value` lines of a sysctl.d file, comments and blank lines skipped. */
export function parseKeyValueLines(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^[#;]/.test(l.trim()))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
}

/**
 * Reads YAML artifact `a` back as YAML 1.1 (cloud-init's PyYAML) and as YAML 1.2, strictly (unique
 * keys, one document), and requires both to equal `expected`. The text is lexed and parsed once:
 * both versions compose the same syntax tree, which the composer only reads; the schema (what a
 * plain scalar means) is the only thing that differs between them.
 */
export function expectYaml(a: Artifact, expected: unknown, firstLine?: string): void {
  for (const [version, doc] of composeBoth(a, firstLine)) {
    let data: unknown;
    try {
      data = doc.toJS();
    } catch (e) {
      // Composing succeeded but building the data did not: a `<<` key whose value is no map.
      throw new InternalError(`${a.path} is not valid YAML ${version}: ${(e as Error).message}`);
    }
    expectEqual(a, data, expected, ` under YAML ${version}`);
  }
}

/**
 * Like expectYaml, for a document that carries operators' values: `expected` may hold RawPlain
 * scalars (which must come back as plain scalars of exactly that text: their meaning is then the
 * reader's own, as in the include) and Maps; every other scalar must read back as itself.
 */
export function expectYamlTree(a: Artifact, expected: unknown, firstLine?: string): void {
  for (const [version, doc] of composeBoth(a, firstLine)) {
    if (!sameTree(doc.contents, expected)) throw new InternalError(`${a.path} does not read back as the data it was built from under YAML ${version}`);
  }
}

/** The artifact's one document, composed under YAML 1.1 and 1.2 from one parse, strictly. */
function composeBoth(a: Artifact, firstLine?: string): [string, Document.Parsed][] {
  if (firstLine && !a.text.startsWith(firstLine)) throw new InternalError(`${a.path} does not start with ${JSON.stringify(firstLine.trim())}`);
  const tokens = [...new Parser().parse(a.text)];
  return (['1.1', '1.2'] as const).map((version) => {
    const docs = [...new Composer({ version, uniqueKeys: true, strict: true }).compose(tokens, true, a.text.length)];
    const problem = docs.length !== 1 ? `it holds ${docs.length} documents` : docs[0]!.errors[0]?.message;
    if (problem !== undefined) throw new InternalError(`${a.path} is not valid YAML ${version}: ${problem}`);
    return [version, docs[0]!];
  });
}

function sameTree(node: unknown, expected: unknown): boolean {
  if (expected instanceof RawPlain) {
    // An empty plain scalar (null) may come back as no node at all.
    if (node === null) return expected.text === '';
    return isScalar(node) && node.type === 'PLAIN' && node.source === expected.text;
  }
  if (Array.isArray(expected)) return isSeq(node) && node.items.length === expected.length && expected.every((e, i) => sameTree(node.items[i], e));
  if (expected instanceof Map || isPlainObject(expected)) {
    const entries = expected instanceof Map ? [...expected] : Object.entries(expected);
    return (
      isMap(node) &&
      node.items.length === entries.length &&
      entries.every(([k, v], i) => {
        const pair = node.items[i]!;
        return isScalar(pair.key) && pair.key.value === k && sameTree(pair.value, v);
      })
    );
  }
  return isScalar(node) && isDeepStrictEqual(node.value, expected);
}

function expectEqual(a: Artifact, actual: unknown, expected: unknown, how = ''): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new InternalError(`${a.path} does not read back as the data it was built from${how}`);
  }
}
