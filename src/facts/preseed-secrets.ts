/**
 * The lines of a rendered preseed that hold a secret, as the YAML writer puts them: a top-level
 * mapping's key at two spaces, the value on the same line (a secret is one line of printable text,
 * src/secrets/resolve.ts, and long strings are never folded, src/render/yaml.ts). First boot
 * deletes exactly these lines once the preseed is applied (templates/preseed-apply.sh.hbs), so
 * what stays on the host is the preseed without its secrets, which `gen verify` can compare.
 */
const SECRET_LINE_PREFIXES = ['  core.trust_password: ', '  cluster_token: '] as const;

/** The preseed as it stays on the host after first boot: the secret lines taken out. */
export function scrubPreseed(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => !SECRET_LINE_PREFIXES.some((p) => line.startsWith(p)))
    .join('');
}

/** The sed expressions (basic regular expressions) that delete the same lines on the host. */
export function scrubSedExpressions(): string[] {
  return SECRET_LINE_PREFIXES.map((p) => `/^${p.replace(/[.[\]*^$\\/]/g, '\\$&')}/d`);
}
