// Makes src/facts/sysctl-keys.generated.ts: every sysctl key the Linux kernel documents, from the
// Documentation trees of Debian's linux-doc packages. The profile's typo check reads that list.
//
//   apt-get download linux-doc-6.1 linux-doc-6.12
//   for d in linux-doc-6.1_*.deb linux-doc-6.12_*.deb; do mkdir -p "x-$d"; dpkg-deb -x "$d" "x-$d"; done
//   node scripts/sysctl-keys.mjs x-linux-doc-6.1_*/usr/share/doc/linux-doc-6.1 x-linux-doc-6.12_*/usr/share/doc/linux-doc-6.12
//
// Each argument is a package's doc directory (it holds Documentation/ and, in changelog.Debian.gz,
// the package version, which the output names). Three ways the documents name a key are read:
//  - admin-guide/sysctl/*.rst: one heading per key ("dirty_ratio", "domainname & hostname"), under
//    the directory the file or an enclosing heading names ("/proc/sys/net/core");
//  - networking/*sysctl*.rst: one "name - TYPE" line per key, under a heading naming the directory
//    ("/proc/sys/net/ipv4/* Variables") and a ``conf/interface/*`` style sub-directory;
//  - any document: a literal /proc/sys/... path (kernel/keys/root_maxkeys), or a dotted name of three
//    words or more under a /proc/sys top directory in ``quotes`` or before "=" (kernel.pty.max = 4096).
// Per-interface directories (conf/<iface>, neigh/<iface>) are written with `*` for the interface.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const OUT = new URL('../src/facts/sysctl-keys.generated.ts', import.meta.url);
const NAME = /^[a-z0-9_][a-z0-9_-]*$/;
const UNDERLINE = /^([=\-~^"#*+])\1{2,}\s*$/;
// Sections of admin-guide/sysctl/net.rst that name a protocol, not a /proc/sys directory.
const NAMED_SECTIONS = { appletalk: 'net/appletalk', tipc: 'net/tipc' };

function readDoc(path) {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : /\.(rst|txt)(\.gz)?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** `net/ipv4/conf/all/rp_filter` -> `net.ipv4.conf.*.rp_filter`; undefined when not a key. */
function keyOf(path) {
  const parts = path.split('/').filter(Boolean);
  if (parts.length < 2 || !parts.every((p) => NAME.test(p) || p === '*')) return undefined;
  for (let i = 0; i + 2 < parts.length; i++) {
    if (/^ipv[46]$/.test(parts[i]) && ['conf', 'neigh'].includes(parts[i + 1]) && parts.length === i + 4) {
      if (parts[i + 1] === 'conf' || !parts[i + 3].startsWith('gc_')) parts[i + 2] = '*';
    }
  }
  return parts.join('.');
}

/** The /proc/sys directory a heading names, without `*` and slashes at the ends. */
function procSysDir(text) {
  const m = /\/?proc\/sys\/([a-z0-9_/*<>-]*)/.exec(text);
  if (!m) return undefined;
  // "/proc/sys/net/netfilter/nf_conntrack_*": the entries below give whole names.
  const dir = m[1]
    .replace(/<[a-z]+>/g, '*')
    .replace(/[a-z0-9_-]*\*$/, '')
    .replace(/\/+$/, '');
  // ioam6-sysctl.rst and seg6-sysctl.rst head their IPv6 per-interface keys "/proc/sys/net/conf/<iface>".
  return dir.replace(/^net\/conf(?=\/|$)/, 'net/ipv6/conf');
}

function headingsOf(lines) {
  return lines.map((l, i) => l.trim() !== '' && !UNDERLINE.test(l) && UNDERLINE.test(lines[i + 1] ?? ''));
}

/** admin-guide/sysctl/NAME.rst: each heading names one or more keys. */
function fromAdminGuide(text, file) {
  const lines = text.split('\n');
  const heading = headingsOf(lines);
  let dir = file.replace(/\.rst(\.gz)?$/, '');
  const keys = [];
  lines.forEach((line, i) => {
    if (!heading[i]) return;
    const named = procSysDir(line);
    if (named !== undefined) {
      dir = named;
      return;
    }
    const section = /^\d+\.\s+(\w+)/.exec(line);
    if (section) {
      dir = NAMED_SECTIONS[section[1].toLowerCase()];
      return;
    }
    if (dir === undefined) return;
    const names = line
      .replace(/\([^)]*\)/g, '')
      .replace(/:\s*$/, '')
      .split(/\s*(?:&|,|\band\b)\s*/);
    for (const n of names.map((s) => s.trim().replace(/^``|``$/g, ''))) {
      const key = NAME.test(n) || /^[a-z0-9_-]+(\/[a-z0-9_-]+)+$/.test(n) ? keyOf(`${dir}/${n}`) : undefined;
      if (key) keys.push(key);
    }
  });
  return keys;
}

/** networking/*sysctl*.rst: "name - TYPE" lines under a /proc/sys heading. */
function fromNetworking(text) {
  const lines = text.split('\n');
  const heading = headingsOf(lines);
  let dir;
  let sub = '';
  const keys = [];
  lines.forEach((line, i) => {
    const subDir = /^``([a-z0-9_/*]+?)\/\*``:?\s*$/.exec(line);
    if (heading[i]) {
      const named = procSysDir(line);
      if (named !== undefined) dir = named;
      sub = subDir ? subDir[1] : '';
      return;
    }
    if (subDir) {
      sub = subDir[1];
      return;
    }
    const entry = /^([a-z0-9_][a-z0-9_-]*(?:\/[a-z0-9_-]+)*)\s+-\s+\S/.exec(line);
    if (!entry || dir === undefined) return;
    const key = keyOf(entry[1].includes('/') ? `${dir}/${entry[1]}` : `${dir}/${sub}/${entry[1]}`);
    if (key) keys.push(key);
  });
  return keys;
}

/** Literal /proc/sys/a/b/c paths anywhere, and dotted names quoted or set ("kernel.pty.max = 4096"). */
function fromProcPaths(text) {
  const keys = [];
  for (const m of text.matchAll(/\/proc\/sys\/([a-z0-9_-]+(?:\/[a-z0-9_-]+)+)(?![a-z0-9_*<{/-])/g)) {
    const key = keyOf(m[1]);
    if (key) keys.push(key);
  }
  const dotted = /(?<![\w.\/-])((?:abi|crypto|debug|dev|fs|kernel|net|sunrpc|user|vm)(?:\.[a-z0-9_-]+){2,})(?=``|[ \t]*=[^=])/g;
  for (const m of text.matchAll(dotted)) {
    const key = keyOf(m[1].replace(/\./g, '/'));
    if (key) keys.push(key);
  }
  return keys;
}

function versionOf(docDir) {
  const first = readDoc(join(docDir, 'changelog.Debian.gz')).split('\n')[0];
  const m = /^(\S+) \(([^)]+)\)/.exec(first);
  if (!m) throw new Error(`${docDir}/changelog.Debian.gz: no version on its first line`);
  return `${m[1]} ${m[2]}`;
}

const docDirs = process.argv.slice(2);
if (docDirs.length === 0) {
  console.error('usage: node scripts/sysctl-keys.mjs LINUX_DOC_DIR...');
  process.exit(2);
}
const found = new Set();
const versions = [];
for (const docDir of docDirs) {
  versions.push(versionOf(docDir));
  const root = join(docDir, 'Documentation');
  for (const path of walk(root)) {
    const rel = path.slice(root.length + 1);
    const text = readDoc(path);
    const keys = [
      ...fromProcPaths(text),
      ...(rel.startsWith('admin-guide/sysctl/') ? fromAdminGuide(text, rel.slice('admin-guide/sysctl/'.length)) : []),
      ...(/^networking\/.*sysctl/.test(rel) ? fromNetworking(text) : []),
    ];
    for (const k of keys) found.add(k);
  }
}
// The neighbour tables of IPv4 (arp) and IPv6 (ndisc) register the same keys (net/core/neighbour.c);
// the documents describe them once, under ipv4.
for (const k of [...found]) if (k.startsWith('net.ipv4.neigh.')) found.add(k.replace('net.ipv4.', 'net.ipv6.'));
// A path that is the directory of another key (/proc/sys/net/ipv4/conf) is not a key.
const keys = [...found].filter((k) => ![...found].some((o) => o.startsWith(`${k}.`))).sort();

writeFileSync(
  OUT,
  `// Generated by scripts/sysctl-keys.mjs from the kernel documentation (Documentation/) of Debian's
// ${versions.join(', ')}. Do not edit: rerun the script.
// One key a line; \`*\` stands for an interface name (conf.<iface>, neigh.<iface>).

/** Every sysctl key the kernel documents, as sysctl.d writes it. */
export const DOCUMENTED_SYSCTL_KEYS_TEXT = \`
${keys.join('\n')}
\`;

/** The kernel releases whose documentation the list comes from. */
export const DOCUMENTED_SYSCTL_SOURCES = '${versions.join(', ')}';
`,
);
console.log(`${keys.length} keys from ${versions.join(', ')}`);
