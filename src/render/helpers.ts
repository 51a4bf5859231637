import type Handlebars from 'handlebars';
import { stringifyYaml } from './yaml.ts';

/** A value reached a template that its context cannot carry safely: a bug in the plan or a renderer. */
export class UnsafeValueError extends Error {}

function defined(name: string, value: unknown): unknown {
  if (value === undefined || value === null) throw new UnsafeValueError(`template helper ${name} got ${String(value)}`);
  return value;
}

/** A value for a line-based `key = value` file (sysctl.d, limits.d, systemd units): one line, no
 * leading or trailing space that the reader would strip. */
export function iniValue(value: unknown): string {
  const s = String(defined('ini', value));
  if (/[\r\n\0]/.test(s) || s !== s.trim() || s === '')
    throw new UnsafeValueError(`value ${JSON.stringify(s)} cannot be written on one line`);
  return s;
}

/** Text inside a `#` comment: one line. */
export function commentText(value: unknown): string {
  const s = String(defined('comment', value));
  if (/[\r\n\0]/.test(s)) throw new UnsafeValueError(`comment ${JSON.stringify(s)} spans lines`);
  return s;
}

/** A udev rule value, written between double quotes: no quote, backslash or line break. */
export function udevValue(value: unknown): string {
  const s = String(defined('udev', value));
  if (/["\\\r\n\0]/.test(s)) throw new UnsafeValueError(`udev value ${JSON.stringify(s)} cannot be quoted`);
  return `"${s}"`;
}

/** An interface name as an nftables quoted string (`iifname "lxdbr0"`). Only the characters of a
 * kernel interface name are let through: a `*` would make the name a wildcard, a `"` or `\\` would
 * end or escape the string. */
export function nftIfname(value: unknown): string {
  const s = String(defined('nftIfname', value));
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s)) throw new UnsafeValueError(`interface name ${JSON.stringify(s)} cannot be written in nftables`);
  return `"${s}"`;
}

/** One shell word, single-quoted so nothing in it is expanded. */
export function shellQuote(value: unknown): string {
  const s = String(defined('sh', value));
  if (s.includes('\0')) throw new UnsafeValueError('a shell word cannot hold a NUL byte');
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** An HCL quoted string: escapes, and `${`/`%{` doubled so no template interpolation happens.
 * HCL normalizes string literals to Unicode NFC when it reads them, so we write them that way. */
export function hclString(value: unknown): string {
  const s = String(defined('hcl', value)).normalize('NFC');
  const escaped = s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    .replace(/\$\{/g, () => '$${')
    .replace(/%\{/g, () => '%%{');
  return `"${escaped}"`;
}

/** Registers every helper on an isolated Handlebars environment. */
export function registerHelpers(env: typeof Handlebars): void {
  // The template puts the line break after the block; only the serializer's own last one goes.
  // trimEnd() would also drop the blank lines a kept (`|+`) block scalar ends with.
  env.registerHelper('yaml', (value: unknown) => stringifyYaml(defined('yaml', value)).replace(/\n$/, ''));
  env.registerHelper('ini', iniValue);
  env.registerHelper('comment', commentText);
  env.registerHelper('udev', udevValue);
  env.registerHelper('sh', shellQuote);
  env.registerHelper('hcl', hclString);
  env.registerHelper('nftIfname', nftIfname);
}
