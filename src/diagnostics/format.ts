import type { Diagnostic } from './diagnostic.ts';

/** `file:line:col: severity CODE: message`, the form editors and CI annotate. */
function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}:${d.col ?? 1}` : ''}: ` : '';
  return `${where}${d.severity} ${d.code}: ${d.message}`;
}

/** One line per diagnostic plus a summary line when there is more than one. */
export function formatDiagnostics(list: readonly Diagnostic[]): string {
  const lines = list.map(formatDiagnostic);
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  if (list.length > 1) lines.push(`${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
  return lines.join('\n');
}

/** Machine-readable diagnostics for `--format json`. */
export function diagnosticsToJson(list: readonly Diagnostic[]): string {
  return JSON.stringify({ diagnostics: list }, null, 2);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
