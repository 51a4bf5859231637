import { readFileSync } from 'node:fs';
import { UsageError } from '../diagnostics/errors.ts';
import type { SecretRef } from '../plan/model.ts';

/** Secret values read at render time. Only the preseed renderer receives them. */
export interface Secrets {
  trustPassword?: string;
}

/**
 * Reads every secret the plan references from the environment or a file. A missing secret is a
 * usage error (the profile is fine; the run lacks its input). Messages name the reference, never a
 * value.
 */
export function resolveSecrets(refs: { trustPassword?: SecretRef }, env: NodeJS.ProcessEnv = process.env): Secrets {
  const secrets: Secrets = {};
  if (refs.trustPassword) secrets.trustPassword = readSecret('server.trust_password', refs.trustPassword, env);
  return secrets;
}

/** Reads one secret by reference (environment variable or file); `what` names it in errors. */
export function readSecret(what: string, ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  let value: string | undefined;
  if ('env' in ref) {
    value = env[ref.env];
    if (value === undefined || value === '') throw new UsageError(`${what} reads the environment variable ${ref.env}, which is not set: export it before running gen`);
  } else {
    try {
      value = readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new UsageError(`${what} reads ${ref.file}, which cannot be read (${(e as NodeJS.ErrnoException).code}): create it (mode 0600) or fix the path`);
    }
    if (value === '') throw new UsageError(`${what} reads ${ref.file}, which is empty`);
  }
  if (/[\0\r\n]/.test(value)) throw new UsageError(`${what}: the secret must be a single line`);
  return value;
}
