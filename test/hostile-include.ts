import fc from 'fast-check';

/**
 * Random cloud-config includes written the many ways YAML allows, from pieces that YAML 1.1 and
 * 1.2 read differently (0644, 0o644, 010, 0x1F, 1_000, 1:30, 1e3, .5, yes/No/ON/off/y/n, ~, Null,
 * 2001-12-14, =, <<) and from syntax the readers disagree on: quoted and block scalars (indentation
 * indicators, chomping, escapes), multi-line plain scalars, flow collections, anchors, aliases and
 * merge keys, tabs, tags, odd characters, directives, several documents, Jinja headers. Used by
 * test/includes.test.ts to hold gen's reading of an include to the real PyYAML's.
 */

/** Plain scalars whose type or value differs between readers (YAML 1.1 and 1.2, PyYAML and the spec). */
const TYPED_PIECES = [
  '0644',
  '0o644',
  '010',
  '08',
  '0x1F',
  '0x_',
  '0b101',
  '0b_',
  '1_000',
  '12_',
  '0_7',
  '+12',
  '-0',
  '1:30',
  '1:60',
  '190:20:30.15',
  '1e3',
  '1.0e+3',
  '1.e+3',
  '.5',
  '._',
  '._e+5',
  '+.inf',
  '-.Inf',
  '.NaN',
  '1.',
  'yes',
  'No',
  'ON',
  'off',
  'y',
  'n',
  'Y',
  'N',
  'true',
  'False',
  'TRUE',
  '~',
  'null',
  'Null',
  'NULL',
  '2001-12-14',
  '2001-12-14 21:59:43.10 -5',
  '2001-12-14t21:59:43Z',
  '2001-2-3 4:05:06',
  '2001-02-30',
  '0000-01-01',
  '2001-12-14 24:00:00',
  '2001-12-14 1:02:03 +24',
  '=',
  '<<',
  'a',
  'plain words',
  'x:y',
  'a#b',
  'é',
  '日本',
  '-x',
  '$HOME',
  'constructor',
  '__proto__',
];
/** Plain scalars that the readers split, refuse or read differently as syntax. */
const SYNTAX_PIECES = [
  '?x',
  ':x',
  'a?b',
  '%x',
  'a,b',
  '@x',
  '`x`',
  '!x',
  '&x',
  '*x',
  'a: b',
  'a #b',
  'tab\there',
  '---',
  '...',
  '[x]',
  '{x}',
  "it's",
  'say "hi"',
  'MIME-Version: 1.0',
];
export const PLAIN_PIECES = [...TYPED_PIECES, ...SYNTAX_PIECES];

/** Text inside quoted and block scalars. */
const TEXT_PIECES = [...PLAIN_PIECES, ' ', '  ', '\t', "'", '"', '\\', '#', ': ', ' #', '- ', '|', '>', '\u00e9', '\u{1F600}', '\u00a0'];
/** Escapes of double-quoted scalars, a lone surrogate among them. */
const ESCAPES = [
  '\\x41',
  '\\u00e9',
  '\\U0001F600',
  '\\n',
  '\\t',
  '\\/',
  '\\ ',
  '\\N',
  '\\_',
  '\\L',
  '\\P',
  '\\e',
  '\\0',
  '\\a',
  '\\"',
  '\\\\',
  '\\ud800',
  '\\x85',
  '\\u2028',
];
/** Keys: names, JavaScript's own property names, and keys PyYAML reads as something else. */
const KEYS = [
  'x',
  'data',
  'list',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__proto__',
  '"__proto__"',
  'yes',
  '1',
  '0644',
  '"quoted key"',
  "'single'",
  'a b',
  '=',
  '<<',
  '~',
  'null',
  '2001-12-14',
  'é',
  'k:v',
  '"<<"',
];
const BLOCK_HEADERS = ['|', '|-', '|+', '>', '>-', '>+', '|2', '>1', '|2-', '|1+'];
const WRITE_PATHS = [
  '/tmp/a',
  '/tmp/b',
  '/tmp//a',
  '/tmp/./a',
  '/tmp/x/../a',
  '/tmp/a/',
  'tmp/a',
  '/etc/sysctl.d/60-born-tuned.conf',
  '/etc/sysctl.d//60-born-tuned.conf',
  '""',
  '/opt/ops/tool.conf',
  '"/tmp/c"',
];
const TOP_KEYS = [
  'runcmd',
  'bootcmd',
  'write_files',
  'users',
  'packages',
  'apt',
  'x_custom',
  'x_data',
  'x_more',
  'package_update',
  'ssh_authorized_keys',
];

type Gen = fc.GeneratorValue;

interface Value {
  /** Text on the line of the key or dash (after one space), possibly empty. */
  head: string;
  /** Following lines, already indented. */
  rest: string[];
}

/** Builds one include's text from draws of `g`. */
class IncludeWriter {
  private readonly anchors: { name: string; map: boolean }[] = [];
  private count = 0;

  constructor(private readonly g: Gen) {}

  private pick<T>(items: readonly T[]): T {
    return this.g(fc.constantFrom, ...items);
  }

  private chance(percent: number): boolean {
    // Unbiased: fast-check favours the ends of a range, which would make rare cases common.
    return this.g(() => fc.noBias(fc.integer({ min: 0, max: 99 }))) < percent;
  }

  private int(min: number, max: number): number {
    return this.g(fc.integer, { min, max });
  }

  document(): string {
    const keys = [...new Set(Array.from({ length: this.int(1, 4) }, () => this.pick(TOP_KEYS)))];
    const lines: string[] = [];
    for (const key of keys) this.entry(lines, 0, key, this.module(key, 0));
    let text = `#cloud-config\n${lines.join('\n')}\n`;
    if (this.chance(6)) text = this.mutate(text);
    return text;
  }

  /** Rare whole-document changes: each is something cloud-init reads differently or refuses. */
  private mutate(text: string): string {
    const at = this.int(0, text.length);
    switch (this.int(0, 7)) {
      case 0:
        return `${text.slice(0, at)}\t${text.slice(at)}`;
      case 1:
        return `${text.slice(0, at)}${this.pick(['\u2028', '\x85', '\r', '\x07', '\ufeff', '\x7f'])}${text.slice(at)}`;
      case 2:
        return `## template: jinja\n${text}`;
      case 3:
        return `%YAML 1.1\n---\n${text}`;
      case 4:
        return `${text}---\nsecond: document\n`;
      case 5:
        return text.replace(/\n/g, '\r\n');
      case 6:
        return `${text}x_tagged: ${this.pick(['!!binary aGk=', '!!str 0644', '!foo bar', '! x', '!!int "3"', '!!python/object:os.system x'])}\n`;
      default:
        return `${text}merge_how: dict(replace)+list(replace)\n`;
    }
  }

  private entry(lines: string[], indent: number, key: string, value: Value): void {
    lines.push(`${' '.repeat(indent)}${key}:${value.head === '' ? '' : ` ${value.head}`}`, ...value.rest);
  }

  /** A value for a top-level key, mostly shaped as the module expects. */
  private module(key: string, indent: number): Value {
    if (this.chance(15)) return this.value(indent, 1);
    const seq = (item: () => Value): Value => this.blockSeq(indent + 2, () => item());
    switch (key) {
      case 'runcmd':
      case 'bootcmd':
        return seq(() => (this.chance(30) ? { head: this.flowSeq(() => this.flowScalar(true)), rest: [] } : this.scalar(indent + 4, true)));
      case 'packages':
      case 'ssh_authorized_keys':
        return seq(() => this.scalar(indent + 4, true));
      case 'write_files':
        return seq(() =>
          this.blockMap(indent + 4, [
            ['path', { head: this.pick(WRITE_PATHS), rest: [] }],
            ['content', this.scalar(indent + 6)],
            ...(this.chance(50) ? [['permissions', this.scalar(indent + 6, true)] as [string, Value]] : []),
            ...(this.chance(20)
              ? [['owner', { head: this.pick(['root:root', 'nobody', '0:0', '"0:0"']), rest: [] }] as [string, Value]]
              : []),
          ]),
        );
      case 'users':
        return seq(() =>
          this.chance(20)
            ? { head: this.pick(['default', 'ops', '"ops"']), rest: [] }
            : this.blockMap(indent + 4, [
                ['name', { head: this.pick(['ops', 'ops2', 'ops3', '"yes"', 'yes', '0644']), rest: [] }],
                ...(this.chance(50)
                  ? [
                      [
                        'sudo',
                        { head: this.pick(['"ALL=(ALL) NOPASSWD:ALL"', 'ALL=(ALL) NOPASSWD:ALL', 'false', '~', 'no']), rest: [] },
                      ] as [string, Value],
                    ]
                  : []),
                ...(this.chance(50)
                  ? [['groups', { head: this.pick(['adm', '[adm, sudo]', '"adm, sudo"', 'yes']), rest: [] }] as [string, Value]]
                  : []),
                ...(this.chance(30)
                  ? [['lock_passwd', { head: this.pick(['true', 'yes', 'off', '"true"']), rest: [] }] as [string, Value]]
                  : []),
                ...(this.chance(20)
                  ? [['uid', { head: this.pick(['1001', '0o1001', '"1001"', '1_001']), rest: [] }] as [string, Value]]
                  : []),
                ...(this.chance(10) ? [['homdir', { head: '/home/x', rest: [] }] as [string, Value]] : []),
              ]),
        );
      case 'apt':
        return this.blockMap(indent + 2, [
          ...(this.chance(50)
            ? [['preserve_sources_list', { head: this.pick(['true', 'yes', 'off', '"false"', 'y']), rest: [] }] as [string, Value]]
            : []),
          ...(this.chance(50) ? [['conf', this.scalar(indent + 4)] as [string, Value]] : []),
          [
            'sources',
            this.blockMap(indent + 4, [
              [
                this.pick(['ops.list', 'born-tuned-backports.list', '"x.list"']),
                this.blockMap(indent + 6, [['source', this.scalar(indent + 8)]]),
              ],
            ]),
          ],
        ]);
      case 'package_update':
        return { head: this.pick(['true', 'yes', 'on', 'false', 'Off', 'y', '"true"', '1']), rest: [] };
      default:
        return this.value(indent, 1);
    }
  }

  /** Any value: a scalar, an alias, a flow or block collection; sometimes anchored or tagged. */
  private value(indent: number, depth: number): Value {
    const kind = depth >= 4 ? 0 : this.int(0, 9);
    let v: Value;
    let collection: 'map' | 'seq' | undefined;
    if (kind <= 3) v = this.scalar(indent + 2);
    else if (kind === 4 && this.anchors.length > 0) return { head: `*${this.pick(this.anchors).name}`, rest: [] };
    else if (kind === 5) v = { head: this.chance(50) ? this.flowSeq(() => this.flowAny(depth + 1)) : this.flowMap(depth + 1), rest: [] };
    else if (kind <= 7) {
      collection = 'map';
      v = this.anyBlockMap(indent + 2, depth);
    } else {
      collection = 'seq';
      v = this.blockSeq(this.chance(70) ? indent + 2 : indent, () => this.value(indent + 4, depth + 1));
    }
    if (this.chance(12)) {
      const name = this.chance(1)
        ? this.pick(['a.b', 'é', 'x:y'])
        : this.chance(1) && this.anchors.length > 0
          ? this.anchors[0]!.name
          : `a${this.count++}`;
      this.anchors.push({ name, map: collection === 'map' || v.head.startsWith('{') });
      v = { head: `&${name}${v.head === '' ? '' : ` ${v.head}`}`, rest: v.rest };
    } else if (this.chance(1)) {
      v = { head: `${this.pick(['!!str', '!!binary', '!x', '!'])}${v.head === '' ? '' : ` ${v.head}`}`, rest: v.rest };
    }
    return v;
  }

  private anyBlockMap(indent: number, depth: number): Value {
    const entries: [string, Value][] = [];
    const maps = this.anchors.filter((a) => a.map);
    if (maps.length > 0 && this.chance(35)) {
      entries.push([
        '<<',
        {
          head: this.chance(60)
            ? `*${this.pick(maps).name}`
            : `[${Array.from({ length: this.int(1, 3) }, () => `*${this.pick(maps).name}`).join(', ')}]`,
          rest: [],
        },
      ]);
    }
    const n = this.int(1, 3);
    for (let i = 0; i < n; i++) entries.push([this.chance(70) ? `k${this.int(0, 5)}` : this.pick(KEYS), this.value(indent, depth + 1)]);
    return this.blockMap(indent, entries);
  }

  private blockMap(indent: number, entries: [string, Value][]): Value {
    const lines: string[] = [];
    for (const [key, value] of entries) this.entry(lines, indent, key, value);
    return { head: '', rest: lines };
  }

  private blockSeq(indent: number, item: () => Value): Value {
    const lines: string[] = [];
    const n = this.int(1, 3);
    for (let i = 0; i < n; i++) {
      const v = item();
      lines.push(`${' '.repeat(indent)}-${v.head === '' ? '' : ` ${v.head}`}`, ...v.rest);
    }
    return { head: '', rest: lines };
  }

  private flowSeq(item: () => string): string {
    return `[${Array.from({ length: this.int(0, 3) }, item).join(this.pick([', ', ',']))}]`;
  }

  private flowMap(depth: number): string {
    return `{${Array.from({ length: this.int(0, 3) }, () => `${this.chance(70) ? `k${this.int(0, 5)}` : this.pick(KEYS)}: ${this.flowAny(depth + 1)}`).join(', ')}}`;
  }

  private flowAny(depth: number): string {
    if (depth < 4 && this.chance(15)) return this.chance(50) ? this.flowSeq(() => this.flowAny(depth + 1)) : this.flowMap(depth + 1);
    if (this.anchors.length > 0 && this.chance(10)) return `*${this.pick(this.anchors).name}`;
    return this.flowScalar(false);
  }

  /** A one-line scalar for a flow collection. */
  private flowScalar(wordy: boolean): string {
    switch (this.int(0, 3)) {
      case 0:
        return wordy ? this.pick(['echo', 'ls', '-l', 'hi']) : this.plain();
      case 1:
        return this.plain();
      case 2:
        return `'${this.text(false).replace(/'/g, "''")}'`;
      default:
        return `"${this.escaped(false)}"`;
    }
  }

  /** A scalar in block context whose continuation lines (if any) are indented to `indent`. */
  private scalar(indent: number, wordy = false): Value {
    const pad = ' '.repeat(indent);
    switch (this.int(0, wordy ? 6 : 7)) {
      case 0:
      case 1:
        return {
          head: wordy && this.chance(60) ? this.pick(['echo hi', 'htop', 'ls -l /', 'ssh-ed25519 AAAAC3Nz ops@example']) : this.plain(),
          rest: [],
        };
      case 2:
        return { head: `'${this.text(true).replace(/'/g, "''").replace(/\n/g, `\n${pad}`)}'`, rest: [] };
      case 3:
        return { head: `"${this.escaped(true).replace(/\n/g, `\n${pad}`)}"`, rest: [] };
      case 4: {
        const lines = [`${this.plain()}`];
        for (let i = this.int(1, 2); i > 0; i--) lines.push(`${this.chance(3) ? '' : pad}${this.plain()}`);
        return { head: lines.join('\n'), rest: [] };
      }
      default: {
        const header = this.pick(BLOCK_HEADERS);
        const explicit = /[1-9]/.exec(header);
        // With an indicator, content is indented that much from the parent (indent - 2 here).
        const contentPad = explicit ? ' '.repeat(indent - 2 + Number(explicit[0])) : pad;
        const lines: string[] = [];
        for (let i = this.int(1, 4); i > 0; i--) {
          if (this.chance(10)) lines.push(this.chance(50) ? '' : ' '.repeat(this.int(0, indent + 3)));
          else lines.push(`${contentPad}${this.chance(15) ? ' '.repeat(this.int(1, 3)) : ''}${this.text(false)}`);
        }
        return { head: header, rest: lines };
      }
    }
  }

  private plain(): string {
    const parts = Array.from({ length: this.int(1, 2) }, () => this.pick(this.chance(8) ? SYNTAX_PIECES : TYPED_PIECES));
    return parts.join(this.pick(['', ' ']));
  }

  private text(multiline: boolean): string {
    return Array.from({ length: this.int(0, 4) }, () =>
      multiline && this.chance(15) ? this.pick(['\n', '\n\n']) : this.pick(TEXT_PIECES),
    ).join('');
  }

  private escaped(multiline: boolean): string {
    return Array.from({ length: this.int(0, 4) }, () => {
      if (this.chance(35)) return this.pick(ESCAPES);
      if (multiline && this.chance(10)) return this.pick(['\n', '\n\n', '\\\n']);
      return this.pick(TEXT_PIECES).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    }).join('');
  }
}

/** Random include texts. */
export const hostileInclude: fc.Arbitrary<string> = fc.gen().map((g) => new IncludeWriter(g).document());
