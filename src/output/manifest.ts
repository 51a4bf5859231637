import { byCodeUnit } from './order.ts';
import { crypto } from '../builtins.ts';
import { octalMode, type Artifact } from '../render/artifact.ts';

/** The manifest's name inside an output tree; its presence marks a directory gen wrote. */
export const MANIFEST_FILE = 'manifest.json';

/** One file's line in the manifest. */
export interface ManifestEntry {
  path: string;
  kind: string;
  purpose: string;
  mode: string;
  sha256: string;
  installed_at?: string;
}

/** The manifest entry of an artifact. `hashes` reuses the digest of content shared by many files. */
export function manifestEntry(a: Artifact, hashes?: Map<string | Uint8Array, string>): ManifestEntry {
  const content = a.bytes ?? a.text;
  let sha256 = hashes?.get(content);
  if (sha256 === undefined) {
    sha256 = crypto().createHash('sha256').update(content).digest('hex');
    hashes?.set(content, sha256);
  }
  return { path: a.path, kind: a.kind, purpose: a.purpose, mode: octalMode(a.mode), sha256, ...(a.hostPath ? { installed_at: a.hostPath } : {}) };
}

/** `manifest.json`: every file of the tree with its purpose, mode and sha256, sorted by path. */
export function renderManifest(stack: readonly string[], version: string, artifacts: readonly (Artifact | ManifestEntry)[]): Artifact {
  const files = artifacts.map((a) => ('sha256' in a ? a : manifestEntry(a))).sort((a, b) => byCodeUnit(a.path, b.path));
  const text = `${JSON.stringify({ generator: 'born-tuned', version, stack, files }, null, 2)}\n`;
  return { kind: 'manifest', path: MANIFEST_FILE, mode: 0o644, purpose: 'lists every file of this tree', text };
}
