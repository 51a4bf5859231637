import { byCodeUnit } from './order.ts';
import { createHash } from 'node:crypto';
import type { Artifact } from '../render/artifact.ts';

/** The manifest's name inside an output tree; its presence marks a directory gen wrote. */
export const MANIFEST_FILE = 'manifest.json';

/** `manifest.json`: every file of the tree with its purpose, mode and sha256, sorted by path. */
export function renderManifest(stack: readonly string[], version: string, artifacts: readonly Artifact[]): Artifact {
  const files = [...artifacts]
    .sort((a, b) => byCodeUnit(a.path, b.path))
    .map((a) => ({
      path: a.path,
      kind: a.kind,
      purpose: a.purpose,
      mode: `0${a.mode.toString(8)}`,
      sha256: createHash('sha256').update(a.bytes ?? a.text).digest('hex'),
      ...(a.hostPath ? { installed_at: a.hostPath } : {}),
    }));
  const text = `${JSON.stringify({ generator: 'born-tuned', version, stack, files }, null, 2)}\n`;
  return { kind: 'manifest', path: MANIFEST_FILE, mode: 0o644, purpose: 'lists every file of this tree', text };
}
