/**
 * The text of every file gen read and may report on (profiles, inventories, includes), by the name
 * diagnostics give it, so that a diagnostic can show its line (a code frame) without reading the
 * file again: the line shown is the one gen judged, whatever happened to the file since.
 */
const texts = new Map<string, { text: string; lineStarts?: number[] }>();

/** Records the text of a file read under the name `display` (a later read of that name replaces it). */
export function recordSourceText(display: string, text: string): void {
  texts.set(display, { text });
}

/** Line `line` (1-based) of the file recorded as `display`, without its line break; undefined when
 * the file was not recorded or has no such line. */
export function sourceLine(display: string, line: number): string | undefined {
  const entry = texts.get(display);
  if (!entry) return undefined;
  // Line starts are indexed on first use: a 64 MiB inventory with many errors is scanned once.
  entry.lineStarts ??= lineStartsOf(entry.text);
  const starts = entry.lineStarts;
  if (!Number.isInteger(line) || line < 1 || line > starts.length) return undefined;
  const end = line < starts.length ? starts[line]! - 1 : entry.text.length;
  // A CRLF file: the CR belongs to the line break, not to the line.
  return entry.text.slice(starts[line - 1], end).replace(/\r$/, '');
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}
