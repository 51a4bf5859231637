import type { Diagnostic } from './diagnostic.ts';

/** Exit codes of the CLI; the README documents them. */
export const ExitCode = {
  ok: 0,
  invalidProfile: 1,
  usage: 2,
  internal: 3,
} as const;

/** The user's input (profile or stack) is invalid; carries every diagnostic found. */
export class ProfileError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`${diagnostics.length} problem(s) in the profile`);
  }
}

/** The command line is wrong: unknown profile, bad flag, conflicting options. */
export class UsageError extends Error {
  constructor(message: string, readonly diagnostics: Diagnostic[] = []) {
    super(message);
  }
}

/** The generator produced something that does not parse back to what it meant: a bug in this tool. */
export class InternalError extends Error {}
