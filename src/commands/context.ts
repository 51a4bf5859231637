import { Option } from 'commander';
import { diagnosticsToJson, formatDiagnostics } from '../diagnostics/format.ts';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';

/** Where the CLI writes; tests pass their own. */
export interface Io {
  stdout: (text: string | Uint8Array) => void;
  stderr: (text: string) => void;
  /** True when stderr is a terminal (progress lines are shown only then). */
  isTTY?: boolean;
  /** Milliseconds clock for the progress line (Date.now); tests pass their own. */
  now?: () => number;
  /** After the command: the error that made stdout lose output, if any (not a reader that left). */
  outputFailure?: () => Promise<NodeJS.ErrnoException | undefined>;
}

export type Format = 'text' | 'json';

/** `--format text|json`, the same on every command. */
export function formatOption(description = 'output format'): Option {
  return new Option('--format <format>', description).choices(['text', 'json']).default('text');
}

/** What every command gets: the streams, and a place to record the chosen output format early
 * (so an error raised later is still printed in that format). */
export interface CommandContext {
  io: Io;
  format: Format;
}

/** Prints warnings (or, from the error path, errors) in the chosen format, on stderr. */
export function reportDiagnostics(ctx: CommandContext, diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  ctx.io.stderr(`${ctx.format === 'json' ? diagnosticsToJson(diagnostics) : formatDiagnostics(diagnostics)}\n`);
}

/** Collects repeated `--profile` values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
