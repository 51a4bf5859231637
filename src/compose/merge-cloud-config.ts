import type { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import { RawPlain } from '../render/yaml.ts';
import { isPlainObject } from '../resolve/merge.ts';
import { formatPath, pathKey, type PathSegment } from '../source/position.ts';
import type { Include } from './include.ts';
import type { IncludeNode, IncludeScalar, Position } from './include-tree.ts';
import { certainValue, certainValueOfOurs, plainType } from './pyyaml-scalar.ts';

/**
 * A merged cloud-config, ready for stringifyYaml: gen's own values as it built them, mappings as
 * Maps (an include's keys are data, never object properties), and every scalar of an include as
 * cloud-init reads it there: an unquoted one as a RawPlain of its text, any other as its string.
 */
export type MergedValue = string | number | boolean | null | RawPlain | MergedValue[] | Map<string, MergedValue>;

/** Who set a value: shown in a conflict ("... in ops.yaml:4:3"). */
interface Owner {
  label: string;
}

/**
 * Folds includes into gen's cloud-config as data: a key only one side sets is taken as it is, lists
 * append (ours first, then each include in order), mappings merge key by key, and a key set on two
 * sides must certainly mean the same (certainValue: equal strings, equal integers such as `0x1F`
 * and `31`, equal booleans): anything else, a type mismatch included, is an error naming both
 * files. Two write_files entries for one file are an error too (one would silently win), the file
 * compared as cloud-init resolves the path (normalWritePath); a relative path is refused. Problems
 * go to `bag`; the result is meaningful only when it has none.
 */
export function mergeCloudConfig(
  base: Record<string, unknown>,
  baseLabel: string,
  includes: readonly Include[],
  bag: DiagnosticBag,
): Map<string, MergedValue> {
  const out = ours(base) as Map<string, MergedValue>;
  const owners = new Map<string, Owner>();
  const ourOwner: Owner = { label: baseLabel };
  const writtenBy = new Map<string, { owner: Owner; path: string }>();
  for (const f of (base.write_files as { path: string }[] | undefined) ?? [])
    writtenBy.set(normalWritePath(f.path)!, { owner: ourOwner, path: f.path });
  // Not in write_files: the sysctl step writes it at first boot, over whatever an include put there.
  writtenBy.set(HOST_PATHS.sysctl, { owner: { label: `the first-boot sysctl step of ${baseLabel}` }, path: HOST_PATHS.sysctl });
  for (const inc of includes) {
    const at = (node: { at: Position }, path: PathSegment[]) => ({ file: inc.display, ...node.at, path: formatPath(path) });
    const files = inc.tree.entries.get('write_files')?.value;
    if (files?.kind === 'seq') {
      files.items.forEach((f, i) => {
        const pathNode = f.kind === 'map' ? f.entries.get('path')?.value : undefined;
        if (pathNode?.kind !== 'scalar' || pathNode.type !== 'str') return;
        const where = at(pathNode, ['write_files', i, 'path']);
        const file = normalWritePath(pathNode.text);
        if (file === undefined) {
          bag.error(
            'INVALID_VALUE',
            `write_files path ${JSON.stringify(pathNode.text)} is not absolute: cloud-init would resolve it from its own working directory; write the full path, starting with /`,
            where,
          );
          return;
        }
        const other = writtenBy.get(file);
        if (other) {
          const same = other.path === pathNode.text ? 'is also written by' : `names the file ${other.path}, written by`;
          bag.error(
            'INCONSISTENT_VALUES',
            `write_files path ${pathNode.text} ${same} ${other.owner.label}: only one of them can own the file`,
            where,
          );
        } else {
          writtenBy.set(file, { owner: { label: `${inc.display}:${where.line}:${where.col}` }, path: pathNode.text });
        }
      });
    }
    const merge = (target: Map<string, MergedValue>, key: string, node: IncludeNode, path: PathSegment[]) => {
      if (!target.has(key)) {
        target.set(key, carried(node));
        owners.set(pathKey(path), { label: `${inc.display}:${node.at.line}:${node.at.col}` });
        return;
      }
      const existing = target.get(key)!;
      if (Array.isArray(existing) && node.kind === 'seq') {
        existing.push(...node.items.map(carried));
      } else if (existing instanceof Map && node.kind === 'map') {
        for (const [k, e] of node.entries) merge(existing, k, e.value, [...path, k]);
      } else if (!(node.kind === 'scalar' && sameScalar(existing, node))) {
        const other = owners.get(pathKey(path)) ?? ourOwner;
        bag.error(
          'INCONSISTENT_VALUES',
          `${formatPath(path)} is ${shown(node)} here but ${shownMerged(existing)} in ${other.label}: set it in one place`,
          at(node, path),
        );
      }
    };
    for (const [key, entry] of inc.tree.entries) merge(out, key, entry.value, [key]);
  }
  return out;
}

/**
 * The file a write_files path names, as cloud-init resolves it (os.path.abspath: `//`, `/./`,
 * `..` and a trailing slash are resolved lexically; the kernel reads a leading `//` as `/`), or
 * undefined for a relative or empty path.
 */
function normalWritePath(path: string): string | undefined {
  if (!path.startsWith('/')) return undefined;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** gen's own cloud-config as merged values (objects become Maps, so include keys stay data). */
function ours(value: unknown): MergedValue {
  if (Array.isArray(value)) return value.map(ours);
  if (isPlainObject(value)) return new Map(Object.entries(value).map(([k, v]) => [k, ours(v)]));
  return value as MergedValue;
}

/** An include's value as it is carried into the merged cloud-config. */
function carried(node: IncludeNode): MergedValue {
  if (node.kind === 'seq') return node.items.map(carried);
  if (node.kind === 'map') return new Map([...node.entries].map(([k, e]) => [k, carried(e.value)]));
  return node.plain ? new RawPlain(node.text) : node.text;
}

/** Whether a value already in the merged cloud-config certainly means what the include's scalar means. */
function sameScalar(existing: MergedValue, node: IncludeScalar): boolean {
  if (existing instanceof RawPlain) {
    // Set by an earlier include: the same unquoted text means the same, whatever its type.
    if (node.plain && existing.text === node.text) return true;
    return equalCertain(certainValue(existing.text, plainType(existing.text)), node);
  }
  if (Array.isArray(existing) || existing instanceof Map) return false;
  return equalCertain(certainValueOfOurs(existing), node);
}

function equalCertain(a: string | undefined, node: IncludeScalar): boolean {
  const b = certainValue(node.text, node.type);
  return a !== undefined && a === b;
}

function shown(node: IncludeNode): string {
  if (node.kind === 'seq') return 'a list';
  if (node.kind === 'map') return 'a mapping';
  return JSON.stringify(node.text);
}

function shownMerged(value: MergedValue): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a mapping';
  if (value instanceof RawPlain) return JSON.stringify(value.text);
  return JSON.stringify(value);
}
