/**
 * What cloud-init's YAML reader (PyYAML's SafeLoader, YAML 1.1) makes of a plain scalar. PyYAML
 * picks the type of an unquoted scalar from its text alone: it looks up the resolvers registered
 * for the text's first character and takes the first whose pattern matches; quoted and block
 * scalars are always strings. The patterns below state PyYAML's resolvers (resolver.py) and the
 * checks its constructors make (constructor.py); test/includes.test.ts holds them against the real
 * PyYAML over generated texts.
 *
 * gen never rewrites an include's plain scalar: it is written back with the same text, so PyYAML
 * reads it the same way. This model is used only to judge it: a type for the schema check, a value
 * for comparing with ours, and a refusal for texts PyYAML matches but cannot construct.
 */
export type PlainType = 'str' | 'int' | 'float' | 'bool' | 'null' | 'timestamp' | 'merge' | 'value';

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT =
  /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;
/** The timestamp's parts, as PyYAML's constructor splits them. */
const TIMESTAMP_PARTS =
  /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]*)?(?:[ \t]*(?:Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$/;

/** Resolvers in PyYAML's registration order, each with the first characters it is registered for. */
const RESOLVERS: [PlainType, RegExp, string][] = [
  ['bool', BOOL, 'yYnNtTfFoO'],
  ['float', FLOAT, '-+0123456789.'],
  ['int', INT, '-+0123456789'],
  ['merge', /^<<$/, '<'],
  ['null', NULL, '~nN'],
  ['timestamp', TIMESTAMP, '0123456789'],
  ['value', /^=$/, '='],
];

/** The type PyYAML's SafeLoader gives a plain scalar whose (folded) text is `text`. */
export function plainType(text: string): PlainType {
  if (text === '') return 'null';
  // A multi-line value matches no resolver (none of the patterns admits a line break).
  for (const [type, pattern, firsts] of RESOLVERS) {
    if (firsts.includes(text[0]!) && pattern.test(text)) return type;
  }
  return 'str';
}

/**
 * Why PyYAML cannot build a value from a plain scalar it has typed, or undefined when it can:
 * `0b_` is matched as an integer with no digits, `2001-02-30` as a date that does not exist.
 * Such a scalar makes cloud-init drop the whole file.
 */
export function unconstructible(text: string, type: PlainType): string | undefined {
  switch (type) {
    case 'int': {
      const digits = text.replace(/_/g, '').replace(/^[-+]/, '');
      if (/^0[bx]$/.test(digits)) return 'an integer with no digits';
      return undefined;
    }
    case 'timestamp':
      return timestampProblem(text);
    case 'merge':
      return 'the merge key `<<` where a value is expected';
    case 'value':
      return 'the YAML 1.1 "value" indicator `=`';
    default:
      return undefined;
  }
}

function timestampProblem(text: string): string | undefined {
  const m = TIMESTAMP_PARTS.exec(text)!;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const daysInMonth = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth[month - 1]!) return 'a date that does not exist';
  if (m[4] === undefined) return undefined;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return 'a time of day that does not exist';
  if (m[7] !== undefined && Number(m[8]) * 60 + Number(m[9] ?? 0) >= 24 * 60) return 'a time zone offset of a day or more';
  return undefined;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/**
 * A value that compares equal to another only when both certainly mean the same to cloud-init:
 * strings by text, integers by value (`0x1F` and `31`), booleans and null by kind. Floats and
 * timestamps have none (their equality is not certain from the text alone), so they never compare
 * equal to anything, and a key set to one on two sides is reported as a conflict.
 */
export function certainValue(text: string, type: PlainType): string | undefined {
  switch (type) {
    case 'str':
      return `str:${text}`;
    case 'int':
      return `int:${pyInt(text)}`;
    case 'bool':
      return `bool:${/^(?:yes|true|on)$/i.test(text)}`;
    case 'null':
      return 'null';
    default:
      return undefined;
  }
}

/** The same comparison value for one of gen's own values. */
export function certainValueOfOurs(value: unknown): string | undefined {
  if (typeof value === 'string') return `str:${value}`;
  if (typeof value === 'boolean') return `bool:${value}`;
  if (value === null) return 'null';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return `int:${value}`;
  return undefined;
}

/** An integer plain scalar's value, read as PyYAML reads it (octal `0644`, sexagesimal `1:30`). */
export function pyInt(text: string): bigint {
  let s = text.replace(/_/g, '');
  const sign = s.startsWith('-') ? -1n : 1n;
  if (/^[-+]/.test(s)) s = s.slice(1);
  if (s === '0') return 0n;
  if (s.startsWith('0b')) return sign * BigInt(s);
  if (s.startsWith('0x')) return sign * BigInt(s);
  if (s.startsWith('0')) return sign * BigInt(`0o${s.slice(1)}`);
  if (s.includes(':')) return sign * s.split(':').reduce((acc, part) => acc * 60n + BigInt(part), 0n);
  return sign * BigInt(s);
}

/** How a type is named in messages: "cloud-init reads 0644 as an integer (420)". */
export function describePlain(text: string, type: PlainType): string {
  switch (type) {
    case 'int':
      return `an integer (${pyInt(text)})`;
    case 'float':
      return 'a floating-point number';
    case 'bool':
      return `a boolean (${/^(?:yes|true|on)$/i.test(text)})`;
    case 'null':
      return 'null (no value)';
    case 'timestamp':
      return 'a date';
    case 'merge':
      return 'a merge key';
    case 'value':
      return 'the "value" indicator';
    case 'str':
      return 'a string';
  }
}
