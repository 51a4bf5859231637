import { displayText } from '../base/display-text.ts';
import type { Diagnostic } from './diagnostic.ts';
import { sourceLine } from './source-text.ts';

/** Version of the shape of `--format json` documents; raised when a field changes meaning or goes. */
export const JSON_FORMAT_VERSION = 1;

/** How a report is drawn. */
interface FormatStyle {
  /** ANSI colours (a terminal, or FORCE_COLOR). */
  color: boolean;
}

/**
 * Colours on stderr, as most tools decide: FORCE_COLOR (any value but "0" or "false") forces them,
 * then NO_COLOR (any non-empty value, https://no-color.org) or TERM=dumb turns them off, and
 * otherwise a terminal gets them and a pipe or file does not.
 */
export function useColor(io: { isTTY?: boolean; env?: Readonly<Record<string, string | undefined>> }): boolean {
  const env = io.env ?? process.env;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.NO_COLOR) return false;
  if (env.TERM === 'dumb') return false;
  return io.isTTY === true;
}

const SGR = { bold: '1', red: '1;31', yellow: '1;33', blue: '1;34' } as const;

/**
 * `file:line:col: severity CODE: message`, the form editors and CI annotate, and under it, when the
 * diagnostic has a line in a file gen read, that line with a caret under the column (a code frame).
 * Users' text is escaped for the terminal (displayText); the only controls are gen's colours.
 */
function formatDiagnostic(d: Diagnostic, style: FormatStyle = { color: false }): string {
  const paint = (sgr: string, text: string) => (style.color ? `\x1b[${sgr}m${text}\x1b[0m` : text);
  const where = d.file ? `${paint(SGR.bold, `${displayText(d.file)}${d.line ? `:${d.line}:${d.col ?? 1}` : ''}`)}: ` : '';
  const severityColor = d.severity === 'error' ? SGR.red : SGR.yellow;
  const head = `${where}${paint(severityColor, d.severity)} ${paint(SGR.bold, `${d.code}:`)} ${displayText(d.message)}`;
  const frame = codeFrame(d);
  if (!frame) return head;
  const gutter = ' '.repeat(frame.lineNumber.length);
  return [
    head,
    `${paint(SGR.blue, ` ${frame.lineNumber} |`)} ${frame.text}`,
    `${paint(SGR.blue, ` ${gutter} |`)} ${' '.repeat(frame.caretAt)}${paint(severityColor, '^')}`,
  ].join('\n');
}

/** One diagnostic after another, plus a summary line when there is more than one. */
export function formatDiagnostics(list: readonly Diagnostic[], style: FormatStyle = { color: false }): string {
  const lines = list.map((d) => formatDiagnostic(d, style));
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  if (list.length > 1) lines.push(`${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
  return lines.join('\n');
}

/** Machine-readable diagnostics for `--format json` (no code frames: editors have the file). */
export function diagnosticsToJson(list: readonly Diagnostic[]): string {
  return JSON.stringify({ version: JSON_FORMAT_VERSION, diagnostics: list }, null, 2);
}

// Widest source line shown; a longer one is cut around the column (a 200 KB one-line file must
// not print 200 KB per diagnostic).
const FRAME_WIDTH = 100;
const FRAME_LEAD = 60;

// A secret written in a file must not reach the terminal through the line shown under a
// diagnostic (a YAML error on that line, or SECRET_INLINE itself): such a line is shown up to its key.
const SECRET_LINE = /^(.*?\b(?:trust_password|token)["']?\s*:)(.*)$/;

/** The source line of a diagnostic, escaped and cut to fit, and the display column of its caret. */
function codeFrame(d: Diagnostic): { lineNumber: string; text: string; caretAt: number } | undefined {
  if (d.file === undefined || d.line === undefined) return undefined;
  let line = sourceLine(d.file, d.line);
  if (line === undefined) return undefined;
  let col = d.col ?? 1;
  if (d.line === 1 && line.startsWith('\ufeff')) {
    // The byte-order mark is not something the reader can see or point at.
    line = line.slice(1);
    col = Math.max(1, col - 1);
  }
  const secret = SECRET_LINE.exec(line);
  if (secret && secret[2]!.trim() !== '' && !/^\s*[{]\s*(env|file)\s*:/.test(secret[2]!)) {
    line = `${secret[1]} (not shown)`;
    col = Math.min(col, secret[1]!.length + 2);
  }
  // Each code point becomes what the terminal will show: itself, or an escape for a control.
  const cells: { text: string; width: number; offset: number }[] = [];
  let offset = 0;
  for (const ch of line) {
    const shown = displayText(ch);
    cells.push({ text: shown, width: shown === ch ? charWidth(ch) : shown.length, offset });
    offset += ch.length;
  }
  // col counts UTF-16 code units from 1; a column past the end points just after the line.
  let caretCell = cells.findIndex((c) => c.offset >= col - 1);
  if (caretCell === -1) caretCell = cells.length;
  let first = 0;
  let lead = width(cells, 0, caretCell);
  if (lead > FRAME_LEAD) {
    while (width(cells, first, caretCell) > FRAME_LEAD - 10) first++;
    lead = width(cells, first, caretCell) + 3;
  }
  let last = first;
  let shownWidth = first > 0 ? 3 : 0;
  while (last < cells.length && shownWidth + cells[last]!.width <= FRAME_WIDTH) shownWidth += cells[last++]!.width;
  const text = `${first > 0 ? '...' : ''}${cells
    .slice(first, last)
    .map((c) => c.text)
    .join('')}${last < cells.length ? '...' : ''}`;
  return { lineNumber: String(d.line), text, caretAt: lead };
}

function width(cells: readonly { width: number }[], from: number, to: number): number {
  let w = 0;
  for (let i = from; i < to; i++) w += cells[i]!.width;
  return w;
}

/** Terminal columns of one code point: 0 for combining marks, 2 for East Asian wide ones and
 * emoji, 1 otherwise (close enough for a caret under a YAML key or value). */
function charWidth(ch: string): number {
  if (/\p{M}/u.test(ch)) return 0;
  if (
    /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u.test(
      ch,
    )
  )
    return 2;
  return 1;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
