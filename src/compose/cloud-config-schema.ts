import type { DiagnosticCode } from '../diagnostics/diagnostic.ts';
import { didYouMean } from '../diagnostics/suggest.ts';
import { formatPath, type PathSegment } from '../source/position.ts';
import type { IncludeMap, IncludeNode, Position } from './include-tree.ts';
import { describePlain, plainType } from './pyyaml-scalar.ts';

/**
 * The rules of cloud-init's own schema (schema-cloud-config-v1.json, cloud-init 22.4 and later) for
 * the modules operators use most, checked on an include when gen runs, so an include that cloud-init
 * would find invalid is a located error rather than a warning in a host's boot log. The types are
 * those PyYAML reads: `permissions: 0644` is an integer (420), which the schema refuses (it wants the
 * string "0644"). Keys of other modules are left to cloud-init (its schema allows unknown top-level
 * keys too); the tests run the real `cloud-init schema` on every include fixture.
 */
interface SchemaProblem {
  at: Position;
  code: DiagnosticCode;
  message: string;
  path: PathSegment[];
}

type Shape =
  | { t: 'string'; oneOf?: readonly string[] }
  | { t: 'boolean' }
  | { t: 'integer' }
  | { t: 'null' }
  | { t: 'list'; items: Shape; minItems?: number; maxItems?: number; unique?: boolean }
  | {
      t: 'map';
      props?: Record<string, Shape>;
      other?: Shape;
      required?: readonly string[];
      exactlyOneOf?: readonly string[];
      minProps?: number;
    }
  | { t: 'either'; options: readonly Shape[] };

const str: Shape = { t: 'string' };
const bool: Shape = { t: 'boolean' };
const strings = (minItems = 0): Shape => ({ t: 'list', items: str, minItems });
const either = (...options: Shape[]): Shape => ({ t: 'either', options });

/** One command: a string for the shell, or a list of words run without one. */
const command = either(str, strings());

const aptMirror: Shape = {
  t: 'list',
  minItems: 1,
  items: {
    t: 'map',
    required: ['arches'],
    props: { arches: strings(1), uri: str, search: strings(1), search_dns: bool, keyid: str, key: str, keyserver: str },
  },
};

const user: Shape = {
  t: 'map',
  exactlyOneOf: ['name', 'snapuser'],
  props: {
    name: str,
    expiredate: str,
    gecos: str,
    groups: either(str, strings(1), { t: 'map', other: { t: 'null' } }),
    homedir: str,
    inactive: str,
    'lock-passwd': bool,
    lock_passwd: bool,
    no_create_home: bool,
    no_log_init: bool,
    no_user_group: bool,
    passwd: str,
    hashed_passwd: str,
    plain_text_passwd: str,
    create_groups: bool,
    primary_group: str,
    selinux_user: str,
    shell: str,
    snapuser: str,
    ssh_authorized_keys: strings(1),
    ssh_import_id: strings(1),
    ssh_redirect_user: bool,
    system: bool,
    sudo: either(str, { t: 'null' }, bool),
    uid: either({ t: 'integer' }, str),
  },
};

const groupMembers: Shape = { t: 'map', other: either(str, strings(1)) };

/** Top-level keys checked, with their rules. */
const MODULES: Record<string, Shape> = {
  write_files: {
    t: 'list',
    minItems: 1,
    items: {
      t: 'map',
      required: ['path'],
      props: {
        path: str,
        content: str,
        owner: str,
        permissions: str,
        encoding: { t: 'string', oneOf: ['gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64', 'b64', 'base64', 'text/plain'] },
        append: bool,
        defer: bool,
      },
    },
  },
  runcmd: { t: 'list', minItems: 1, items: either(str, strings(), { t: 'null' }) },
  bootcmd: { t: 'list', minItems: 1, items: command },
  packages: { t: 'list', minItems: 1, items: either(str, { t: 'list', items: str, minItems: 2, maxItems: 2 }) },
  package_update: bool,
  package_upgrade: bool,
  package_reboot_if_required: bool,
  apt_update: bool,
  apt_upgrade: bool,
  apt_reboot_if_required: bool,
  users: either(str, { t: 'list', minItems: 1, items: either(str, strings(), user) }, { t: 'map' }),
  user: either(str, user),
  groups: either(str, groupMembers, { t: 'list', minItems: 1, items: either(str, groupMembers) }),
  ssh_authorized_keys: strings(1),
  apt: {
    t: 'map',
    minProps: 1,
    props: {
      preserve_sources_list: bool,
      generate_mirrorlists: bool,
      disable_suites: { t: 'list', items: str, minItems: 1, unique: true },
      primary: aptMirror,
      security: aptMirror,
      add_apt_repo_match: str,
      debconf_selections: { t: 'map', minProps: 1, other: str },
      sources_list: str,
      conf: str,
      https_proxy: str,
      http_proxy: str,
      proxy: str,
      ftp_proxy: str,
      sources: {
        t: 'map',
        other: { t: 'map', minProps: 1, props: { source: str, keyid: str, key: str, keyserver: str, filename: str, append: bool } },
      },
    },
  },
};

/** Every problem cloud-init's schema would find in the modules above, located in the include. */
export function checkCloudConfig(tree: IncludeMap): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const [key, { value }] of tree.entries) {
    const shape = Object.hasOwn(MODULES, key) ? MODULES[key]! : undefined;
    if (shape) check(value, shape, [key], problems);
  }
  return problems;
}

/** What a shape accepts, in words: "a string", "a list of strings". */
function describe(shape: Shape): string {
  switch (shape.t) {
    case 'string':
      return shape.oneOf ? `one of ${shape.oneOf.join(', ')}` : 'a string';
    case 'boolean':
      return 'true or false';
    case 'integer':
      return 'an integer';
    case 'null':
      return 'empty (null)';
    case 'list':
      return shape.items.t === 'string' ? 'a list of strings' : 'a list';
    case 'map':
      return 'a mapping';
    case 'either':
      return shape.options.map(describe).join(' or ');
  }
}

/** What the node is, in the same words. */
function actual(node: IncludeNode): string {
  if (node.kind === 'seq') return 'a list';
  if (node.kind === 'map') return 'a mapping';
  if (!node.plain) return 'a string';
  return node.text === ''
    ? 'empty (cloud-init reads null)'
    : `${JSON.stringify(node.text)}, which cloud-init reads as ${describePlain(node.text, node.type)}`;
}

/** Whether the node has the shape's basic kind (used to pick an option of `either`). */
function kindMatches(node: IncludeNode, shape: Shape): boolean {
  switch (shape.t) {
    case 'string':
      return node.kind === 'scalar' && node.type === 'str';
    case 'boolean':
      return node.kind === 'scalar' && node.type === 'bool';
    case 'integer':
      return node.kind === 'scalar' && node.type === 'int';
    case 'null':
      return node.kind === 'scalar' && node.type === 'null';
    case 'list':
      return node.kind === 'seq';
    case 'map':
      return node.kind === 'map';
    case 'either':
      return shape.options.some((o) => kindMatches(node, o));
  }
}

function check(node: IncludeNode, shape: Shape, path: PathSegment[], out: SchemaProblem[]): void {
  const problem = (at: Position, code: DiagnosticCode, message: string, p = path) =>
    out.push({ at, code, message: `${formatPath(p)}: ${message}`, path: p });
  if (shape.t === 'either') {
    // The options differ in kind, so the node's kind picks the one to hold it to.
    const option = shape.options.find((o) => kindMatches(node, o));
    if (option) check(node, option, path, out);
    else problem(node.at, 'INVALID_TYPE', mismatch(node, shape));
    return;
  }
  if (!kindMatches(node, shape)) {
    problem(node.at, 'INVALID_TYPE', mismatch(node, shape));
    return;
  }
  if (shape.t === 'string' && shape.oneOf && node.kind === 'scalar' && !shape.oneOf.includes(node.text)) {
    problem(node.at, 'INVALID_VALUE', `${JSON.stringify(node.text)} is not one of ${shape.oneOf.join(', ')}`);
  }
  if (shape.t === 'list' && node.kind === 'seq') {
    const n = node.items.length;
    if (shape.minItems === 1 && n === 0)
      problem(node.at, 'INVALID_VALUE', "is an empty list, which cloud-init's schema refuses: add an item or remove the key");
    else if (shape.minItems !== undefined && n < shape.minItems)
      problem(
        node.at,
        'INVALID_VALUE',
        `has ${n} item${n === 1 ? '' : 's'}; it needs ${shape.minItems}${shape.maxItems === shape.minItems ? '' : ' or more'}`,
      );
    if (shape.maxItems !== undefined && n > shape.maxItems)
      problem(node.at, 'INVALID_VALUE', `has ${n} items; at most ${shape.maxItems} are allowed`);
    if (shape.unique) {
      const seen = new Set<string>();
      node.items.forEach((item, i) => {
        if (item.kind !== 'scalar') return;
        if (seen.has(item.text)) problem(item.at, 'INVALID_VALUE', `${JSON.stringify(item.text)} is listed twice: keep one`, [...path, i]);
        seen.add(item.text);
      });
    }
    node.items.forEach((item, i) => check(item, shape.items, [...path, i], out));
  }
  if (shape.t === 'map' && node.kind === 'map') {
    const known = Object.keys(shape.props ?? {});
    for (const [key, entry] of node.entries) {
      const rule = shape.props && Object.hasOwn(shape.props, key) ? shape.props[key] : shape.other;
      if (rule) {
        check(entry.value, rule, [...path, key], out);
        continue;
      }
      if (!shape.props) continue;
      const hint = didYouMean(key, known);
      problem(
        entry.key.at,
        'UNKNOWN_KEY',
        `unknown key ${JSON.stringify(key)}${hint ? ` (did you mean "${hint}"?)` : ''}; cloud-init's schema allows ${known.join(', ')}`,
        [...path, key],
      );
    }
    for (const key of shape.required ?? []) {
      if (!node.entries.has(key)) problem(node.at, 'MISSING_KEY', `"${key}" is required`);
    }
    if (shape.exactlyOneOf) {
      const present = shape.exactlyOneOf.filter((k) => node.entries.has(k));
      if (present.length !== 1)
        problem(
          node.at,
          present.length ? 'INVALID_VALUE' : 'MISSING_KEY',
          `needs exactly one of ${shape.exactlyOneOf.join(', ')}${present.length ? `, not ${present.join(' and ')}` : ''}`,
        );
    }
    if (shape.minProps !== undefined && node.entries.size < shape.minProps)
      problem(node.at, 'INVALID_VALUE', "is empty, which cloud-init's schema refuses: add a key or remove it");
  }
}

function mismatch(node: IncludeNode, shape: Shape): string {
  let fix = '';
  if (node.kind === 'scalar' && node.plain && node.type !== 'str' && kindMatches({ ...node, type: 'str' }, shape))
    fix = `; quote it ("${node.text}") to make it a string`;
  if (
    node.kind === 'scalar' &&
    !node.plain &&
    !node.text.includes('\n') &&
    kindMatches({ ...node, plain: true, type: plainType(node.text) }, shape)
  )
    fix = `; write it without quotes (${node.text})`;
  return `must be ${describe(shape)}, not ${actual(node)}${fix}`;
}
