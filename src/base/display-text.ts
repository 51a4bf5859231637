/**
 * Text from users' files and command lines (descriptions, keys, values, file names) is printed in
 * messages and tables that reach a terminal. A control character there can move the cursor, clear
 * the screen or rewrite the title (ESC sequences, C1 controls such as CSI), a carriage return can
 * overwrite what was printed before it, and a bidirectional override can make text read other than
 * it is (CVE-2021-42574). Each such character is shown as an escape (`\x1b`, `\u202e`) instead.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\0-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/** `text` with every character a terminal would act on (line feed included) written as an escape. */
export function displayText(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Lines of display text: line feeds between lines are kept, anything else is escaped. */
function displayLines(text: string): string {
  return text.split('\n').map(displayText).join('\n');
}

/** A chunk of a report on stderr: lines, and a carriage return that starts the chunk (a progress
 * line redrawing itself) kept as the one control gen means. */
export function displayReport(text: string): string {
  return text.startsWith('\r') ? `\r${displayLines(text.slice(1))}` : displayLines(text);
}

/** JSON text with the characters JSON.stringify leaves raw (C1 controls, bidirectional marks,
 * line separators) escaped as \uXXXX: the same JSON value, safe on a terminal. Line feeds outside
 * strings are layout (inside strings JSON.stringify has escaped them already). */
export function displayJson(json: string): string {
  return json.replace(UNSAFE, (c) => (c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function escape(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
