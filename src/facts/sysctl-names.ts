import { didYouMean } from '../diagnostics/suggest.ts';
import { DOCUMENTED_SYSCTL_KEYS_TEXT } from './sysctl-keys.generated.ts';

/**
 * Sysctl names: their two spellings, and whether the kernel documents them.
 *
 * sysctl.d(5): "either / or . may be used as separators. If the first separator is a slash,
 * remaining slashes and dots are left intact. If the first separator is a dot, dots and slashes are
 * interchanged." So `net/ipv4/conf/eth0.100/rp_filter` and `net.ipv4.conf.eth0/100.rp_filter` name
 * the same file; gen writes the dotted spelling everywhere (sysctl.d, the apply script, verify).
 */

/** One word of a sysctl name in the dotted spelling; `/` stands for a dot inside the word (VLAN `eth0/100`). */
const WORD = '[A-Za-z0-9_][A-Za-z0-9_@-]*(?:/[A-Za-z0-9_@-]+)*';
/** Shape of a sysctl name as gen writes it: dot-separated words, the first lower case. */
export const SYSCTL_NAME = new RegExp(`^[a-z][a-z0-9_]*(\\.${WORD})+$`);
/** The same name in sysctl.d(5)'s other spelling, slashes between words (`net/ipv4/conf/eth0.100/rp_filter`). */
export const SYSCTL_SLASH_NAME = new RegExp(`^[a-z][a-z0-9_]*(/${WORD.replaceAll('/', '.')})+$`);

/** The dotted spelling of a name written either way; a name whose first separator is `/` has its
 * dots and slashes interchanged, as sysctl.d(5) reads it. */
export function canonicalSysctlName(name: string): string {
  const firstSlash = name.indexOf('/');
  const firstDot = name.indexOf('.');
  if (firstSlash === -1 || (firstDot !== -1 && firstDot < firstSlash)) return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** The /proc/sys path of a dotted name: `net.ipv4.conf.eth0/100.rp_filter` → `/proc/sys/net/ipv4/conf/eth0.100/rp_filter`. */
export function procSysPath(name: string): string {
  return `/proc/sys/${name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'))}`;
}

/** The documented keys: exact names, and per-interface families (`net.ipv4.conf` for `net.ipv4.conf.*.rp_filter`). */
const DOCUMENTED = (() => {
  const exact = new Set<string>();
  const families = new Set<string>();
  // By length, so a did-you-mean looks only at names whose length is near the word's.
  const byLength = new Map<number, string[]>();
  for (const key of DOCUMENTED_SYSCTL_KEYS_TEXT.split('\n')) {
    if (key === '') continue;
    exact.add(key);
    const star = key.indexOf('.*.');
    if (star !== -1) families.add(key.slice(0, star));
    const list = byLength.get(key.length) ?? [];
    list.push(key);
    byLength.set(key.length, list);
  }
  return { exact, families, byLength };
})();

/** The name with its interface word replaced by `*` when it is under a per-interface family, and that word. */
function patternOf(name: string): { pattern: string; iface?: string } {
  for (const family of DOCUMENTED.families) {
    if (!name.startsWith(`${family}.`)) continue;
    const rest = name.slice(family.length + 1);
    const dot = rest.indexOf('.');
    if (dot > 0 && !rest.slice(dot + 1).includes('.')) {
      return { pattern: `${family}.*.${rest.slice(dot + 1)}`, iface: rest.slice(0, dot) };
    }
  }
  return { pattern: name };
}

/** True when the kernel documentation of Linux 6.1 or 6.12 names the key (an interface name matches `*`). */
export function isDocumentedSysctl(name: string): boolean {
  if (DOCUMENTED.exact.has(name)) return true;
  const { pattern, iface } = patternOf(name);
  return iface !== undefined && DOCUMENTED.exact.has(pattern);
}

/** The documented key closest to a misspelt name, for "did you mean": in the name's own interface,
 * or `all` for a per-interface key written without one. */
export function suggestSysctl(name: string, extra: readonly string[] = []): string | undefined {
  const { pattern, iface } = patternOf(name);
  const reach = Math.max(2, Math.floor(pattern.length / 3));
  const near: string[] = [...extra];
  for (let len = pattern.length - reach; len <= pattern.length + reach; len++) near.push(...(DOCUMENTED.byLength.get(len) ?? []));
  const hint = didYouMean(pattern, near);
  return hint?.replace('.*.', `.${iface ?? 'all'}.`);
}
