import { UsageError } from '../diagnostics/errors.ts';
import type { SecretRef } from '../plan/model.ts';
import { decodeUtf8, readRegularFile } from '../source/read-file.ts';

/** Secret values read at render time. Only the preseed renderer receives them. */
export interface Secrets {
  trustPassword?: string;
}

/**
 * Whether a render reads the secrets it references (`resolve`: it writes a file that carries them)
 * or puts WITHHELD_SECRET in their place (`withhold`: explain, diff, verify, an artifact that
 * carries no secret), so a command that never writes a secret never needs one to be provided.
 */
export type SecretMode = 'resolve' | 'withhold';

/** What a withheld secret is rendered as. Never a valid secret: it holds spaces. */
const WITHHELD_SECRET = 'born-tuned: secret withheld';

/** The longest secret gen accepts: passwords and join tokens are far shorter (a token ~200 bytes). */
const MAX_SECRET_BYTES = 4096;

/**
 * Reads every secret the plan references from the environment or a file, or withholds them.
 * A missing or unusable secret is a usage error (the profile is fine; the run lacks its input).
 * Messages name the reference, never a value.
 */
export function resolveSecrets(refs: { trustPassword?: SecretRef }, mode: SecretMode, env: NodeJS.ProcessEnv = process.env): Secrets {
  const secrets: Secrets = {};
  if (refs.trustPassword) secrets.trustPassword = secretValue('server.trust_password', refs.trustPassword, mode, env);
  return secrets;
}

/** One secret's value (readSecret), or WITHHELD_SECRET in its place. */
export function secretValue(what: string, ref: SecretRef, mode: SecretMode, env: NodeJS.ProcessEnv = process.env): string {
  return mode === 'resolve' ? readSecret(what, ref, env) : WITHHELD_SECRET;
}

/**
 * Reads one secret by reference; `what` names it in errors. A file must be a regular file of at
 * most 4 KiB of UTF-8 (a FIFO would block, /dev/zero never ends); one trailing line break is
 * dropped. The value must be one line, not blank, and valid text: a secret that is silently
 * mangled or empty would lock the operator out of the host it configures.
 */
function readSecret(what: string, ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  let value: string;
  if ('env' in ref) {
    const raw = env[ref.env];
    if (raw === undefined || raw === '')
      throw new UsageError(`${what} reads the environment variable ${ref.env}, which is not set: export it before running gen`);
    // Node decodes the environment as UTF-8 and replaces what does not decode.
    if (raw.includes('\ufffd')) throw new UsageError(`${what}: the environment variable ${ref.env} is not valid UTF-8 text`);
    if (Buffer.byteLength(raw) > MAX_SECRET_BYTES)
      throw new UsageError(
        `${what}: the environment variable ${ref.env} is longer than ${MAX_SECRET_BYTES} bytes, which no password or token is`,
      );
    value = raw;
  } else {
    const read = readRegularFile(ref.file, { maxBytes: MAX_SECRET_BYTES });
    if (!read.ok) {
      const hint =
        read.problem.kind === 'missing'
          ? 'create it (mode 0600) or fix the path'
          : read.problem.kind === 'too-large'
            ? 'no password or token is that long: check the path'
            : 'point it at a regular file (mode 0600)';
      throw new UsageError(`${what} reads ${ref.file}, which ${read.problem.message}: ${hint}`);
    }
    const decoded = decodeUtf8(read.bytes);
    if (!decoded.ok) throw new UsageError(`${what} reads ${ref.file}, which is not valid UTF-8 text (line ${decoded.line})`);
    value = decoded.text.replace(/\r?\n$/, '');
    if (value === '') throw new UsageError(`${what} reads ${ref.file}, which is empty`);
  }
  const from = 'env' in ref ? `the environment variable ${ref.env}` : ref.file;
  if (/[\0-\x1f\x7f]/.test(value))
    throw new UsageError(
      `${what} reads ${from}, which holds a line break or a control character: the secret must be a single line of printable text`,
    );
  if (value.trim() === '') throw new UsageError(`${what} reads ${from}, which holds only spaces: the secret is missing`);
  return value;
}
