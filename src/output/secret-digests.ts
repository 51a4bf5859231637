import { crypto } from '../builtins.ts';
import type { Artifact } from '../render/artifact.ts';

/**
 * The tree's record of its files that hold a secret. manifest.json (0644) lists them without a
 * sha256: a published digest of a file holding a weak password lets anyone guess it offline. To
 * still tell whether such a file was changed since gen wrote it, this 0600 file holds an
 * HMAC-SHA256 of each, under a random key drawn for this tree and kept in the same file: it is as
 * readable as the secret-bearing files themselves (whoever reads it could read the secrets), and
 * its digests match no other tree's and no table computed in advance. manifest.json stays the same
 * bytes for the same input; this file differs at every write.
 */
export const SECRET_DIGESTS_FILE = 'secret-digests.json';

/** What this file is, for manifest.json. */
export const SECRET_DIGESTS_PURPOSE =
  'HMAC-SHA256 of each file that holds a secret, under a random key of this tree: lets gen tell whether one was changed without publishing a digest of a secret';

/** The digests of one tree being written. */
export class SecretDigests {
  private readonly key = crypto().randomBytes(32);
  private readonly files = new Map<string, string>();

  /** Records the file at `path` with its content. */
  add(path: string, content: string | Uint8Array): void {
    this.files.set(path, keyedDigest(this.key, content));
  }

  /** True when no file was recorded (then the tree has no such file). */
  get empty(): boolean {
    return this.files.size === 0;
  }

  /** The file itself, 0600. */
  artifact(): Artifact {
    const files = Object.fromEntries([...this.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const data = { key: this.key.toString('hex'), files };
    return {
      kind: 'secret-digests',
      path: SECRET_DIGESTS_FILE,
      mode: 0o600,
      purpose: SECRET_DIGESTS_PURPOSE,
      text: `${JSON.stringify(data, null, 2)}\n`,
      format: 'json',
      data,
      holdsSecret: true,
    };
  }
}

/** A digests file read back: its key and each file's digest; undefined when it is not one. */
export function parseSecretDigests(text: string): { key: Buffer; files: Map<string, string> } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { key, files } = doc as { key?: unknown; files?: unknown };
  if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key) || typeof files !== 'object' || files === null || Array.isArray(files))
    return undefined;
  const map = new Map<string, string>();
  for (const [path, digest] of Object.entries(files)) {
    if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) return undefined;
    map.set(path, digest);
  }
  return { key: Buffer.from(key, 'hex'), files: map };
}

/** HMAC-SHA256 of `content` under `key`, in hex. */
export function keyedDigest(key: Uint8Array, content: string | Uint8Array): string {
  return crypto().createHmac('sha256', key).update(content).digest('hex');
}
