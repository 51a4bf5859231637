import { diagnosticsToJson, formatDiagnostics, useColor } from '../diagnostics/format.ts';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import { ProfileError } from '../diagnostics/errors.ts';
import { displayJson } from '../base/display-text.ts';

/** Where a command writes; tests pass their own. */
export interface Io {
  stdout: (text: string | Uint8Array) => void;
  /** Raw: a command escapes users' text itself (reportDiagnostics does), so gen's own colours pass. */
  stderr: (text: string) => void;
  /** True when stderr is a terminal (progress lines and colours are shown only then). */
  isTTY?: boolean;
  /** The environment (NO_COLOR, FORCE_COLOR, TERM); process.env when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Milliseconds clock for the progress line (Date.now); tests pass their own. */
  now?: () => number;
  /** After the command: the error that made stdout lose output, if any (not a reader that left). */
  outputFailure?: () => Promise<NodeJS.ErrnoException | undefined>;
}

export type Format = 'text' | 'json';
export const FORMATS: readonly Format[] = ['text', 'json'];

/** The options of every command that reads a stack of profiles. */
export interface StackOptions {
  profile: string[];
  profilesDir?: string;
  format: Format;
  /** Warnings are errors (exit 1), as butane's --strict. */
  strict: boolean;
}

/** Prints diagnostics on stderr in the chosen format: JSON, or one line each with a code frame
 * (coloured on a terminal). Users' text in them is escaped here. */
export function reportDiagnostics(io: Io, format: Format, diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  io.stderr(
    `${format === 'json' ? displayJson(diagnosticsToJson(diagnostics)) : formatDiagnostics(diagnostics, { color: useColor(io) })}\n`,
  );
}

/** The stack's warnings, printed; with --strict they are errors instead, and the command stops
 * (exit 1) before it prints or writes anything. */
export function reportWarnings(io: Io, options: Pick<StackOptions, 'format' | 'strict'>, warnings: readonly Diagnostic[]): void {
  if (options.strict && warnings.length > 0) throw new ProfileError(warnings.map((d) => ({ ...d, severity: 'error' })));
  reportDiagnostics(io, options.format, warnings);
}
