import { byCodeUnit } from '../base/order.ts';
import { crypto } from '../builtins.ts';
import { octalMode, type Artifact } from '../render/artifact.ts';
import { SECRET_DIGESTS_FILE, SECRET_DIGESTS_PURPOSE } from './secret-digests.ts';

/** The manifest's name inside an output tree; its presence marks a directory gen wrote. */
export const MANIFEST_FILE = 'manifest.json';

/** One file's line in the manifest. */
export interface ManifestEntry {
  path: string;
  kind: string;
  purpose: string;
  mode: string;
  /** Absent for a file that holds a secret (secret-digests.ts says why and what stands in). */
  sha256?: string;
  installed_at?: string;
}

/** The manifest entry of an artifact. `hashes` reuses the digest of content shared by many files. */
export function manifestEntry(a: Artifact, hashes?: Map<string | Uint8Array, string>): ManifestEntry {
  const entry: ManifestEntry = { path: a.path, kind: a.kind, purpose: a.purpose, mode: octalMode(a.mode) };
  if (!a.holdsSecret) {
    const content = a.bytes ?? a.text;
    let sha256 = hashes?.get(content);
    if (sha256 === undefined) {
      sha256 = crypto().createHash('sha256').update(content).digest('hex');
      hashes?.set(content, sha256);
    }
    entry.sha256 = sha256;
  }
  if (a.hostPath) entry.installed_at = a.hostPath;
  return entry;
}

/**
 * `manifest.json`: every file of the tree with its purpose, mode and sha256 (none for a file that
 * holds a secret), sorted by path. When some file holds a secret, the tree also has
 * secret-digests.json, listed here too (the tree writer writes it).
 */
export function renderManifest(stack: readonly string[], version: string, artifacts: readonly (Artifact | ManifestEntry)[]): Artifact {
  const files = artifacts.map((a) => (typeof a.mode === 'string' ? (a as ManifestEntry) : manifestEntry(a as Artifact)));
  if (files.some((f) => f.sha256 === undefined))
    files.push({ path: SECRET_DIGESTS_FILE, kind: 'secret-digests', purpose: SECRET_DIGESTS_PURPOSE, mode: '0600' });
  files.sort((a, b) => byCodeUnit(a.path, b.path));
  const data = { generator: 'born-tuned', version, stack, files };
  return {
    kind: 'manifest',
    path: MANIFEST_FILE,
    mode: 0o644,
    purpose: 'lists every file of this tree',
    text: `${JSON.stringify(data, null, 2)}\n`,
    format: 'json',
    data,
  };
}
