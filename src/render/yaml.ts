import { Document, isScalar, isSeq, Scalar, visit, type ScalarTag } from 'yaml';
import { InternalError } from '../diagnostics/errors.ts';

/**
 * Strings that every reader takes as the same plain string, in block context. The yaml library's
 * own rules follow the YAML spec, but the real readers are narrower: PyYAML (cloud-init) and libyaml
 * (netplan; go-yaml, used by LXD and Incus, is its port) refuse a plain scalar holding a tab, PyYAML
 * fails on a bare `=` (its "value" tag) and `<<` (merge). Property tests against PyYAML and libyaml
 * found these; any other single-line string is double-quoted, which all of them read alike.
 */
const PLAIN_SAFE = /^[A-Za-z0-9_./+~$-](?:[A-Za-z0-9 _./+@%~$=:,-]*[A-Za-z0-9_./+@%~$=-])?$/;
/** In a flow sequence PyYAML also ends a plain scalar at `?`, `:` and `,`: only single words stay plain. */
const FLOW_PLAIN_SAFE = /^[A-Za-z0-9_./+~$-][A-Za-z0-9_./+@%~$=-]*$/;
/**
 * Characters no reader takes as written in a plain or block scalar: C0 controls but tab and line
 * feed (CR is a line break), DEL and C1 controls (PyYAML refuses DEL; NEL is a line break), the
 * Unicode line and paragraph separators (line breaks), the byte order mark and noncharacters. A
 * string holding one is double-quoted and the character escaped (see ESCAPE_IN_QUOTES).
 */
const NEEDS_ESCAPE = /[\0-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;
/** The characters of NEEDS_ESCAPE that the yaml library leaves raw inside double quotes. */
const ESCAPE_IN_QUOTES = /[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/g;

/** One line, no tab or character that needs escaping, no edge spaces, no indicator at the start,
 * no ": " or " #" inside, no ":" at the end: a plain scalar of block context, or empty (null). */
const BLOCK_PLAIN =
  /^(?:(?! )(?![-?:](?: |$))(?![,[\]{}#&*!|>'"%@`])(?!.*(?:: | #|:$))[^\0-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]*[^\0-\x20\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff])?$/;

/**
 * A plain (unquoted) scalar written exactly as given. An operator's include is carried this way:
 * what an unquoted `0644`, `yes` or `1:30` means is up to the reader's YAML 1.1 resolver, so the
 * text is kept rather than interpreted (read as YAML 1.2 and written back, `0644` would become
 * `644`). The text must be one that a plain scalar can hold in block context; anything else is a
 * bug in the caller.
 */
export class RawPlain {
  constructor(readonly text: string) {
    if (!BLOCK_PLAIN.test(text)) throw new InternalError(`${JSON.stringify(text)} cannot be written as a plain scalar`);
  }
}

/** Writes a RawPlain as its text: no tag, no quotes. */
const RAW_PLAIN_TAG: ScalarTag = {
  tag: 'tag:born-tuned,2025:raw-plain',
  default: true,
  identify: (value) => value instanceof RawPlain,
  resolve: (text) => new RawPlain(text),
  stringify: (item) => (item.value as RawPlain).text,
};

/**
 * Serializes data as YAML that YAML 1.1 readers (cloud-init's PyYAML, netplan's libyaml, LXD's
 * go-yaml) and 1.2 readers all read back unchanged: `compat: 'yaml-1.1'` quotes `yes`, `on`,
 * `0755`, `1:30`. Keys keep insertion order (renderers build objects in the order the consumer
 * expects); long strings are never folded, so a multi-line value stays a literal block. Maps are
 * written like objects, and a RawPlain as its text.
 */
export function stringifyYaml(value: unknown): string {
  const doc = new Document(value, { aliasDuplicateObjects: false, compat: 'yaml-1.1', customTags: [RAW_PLAIN_TAG] });
  visit(doc, {
    Scalar(_, node, path) {
      if (typeof node.value === 'string' && needsDoubleQuotes(node.value, inFlowSeq(path))) node.type = Scalar.QUOTE_DOUBLE;
    },
    // Lists of plain words (runcmd argv, package lists) read best on one line: [systemctl, daemon-reload].
    Seq(_, node) {
      if (isSeq(node) && node.items.length > 0 && node.items.every((i) => isScalar(i) && flowable(i.value))) node.flow = true;
    },
  });
  const text = doc.toString({
    lineWidth: 0,
    minContentWidth: 0,
    // A double-quoted string stays on one line, its line breaks written as \n: the yaml library's
    // multi-line form escaped a line holding one space as "\\ " (a backslash on reading back).
    doubleQuotedMinMultiLineLength: Number.POSITIVE_INFINITY,
    indentSeq: true,
    blockQuote: 'literal',
    flowCollectionPadding: false,
  });
  // Every string holding such a character was double-quoted above, so each one in the text is
  // inside double quotes, where an escape reads back as the character itself.
  return text.replace(ESCAPE_IN_QUOTES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether a scalar can be an item of a flow sequence: one-line strings (quoted when needed), and
 * raw plain text only when it is a single word that PyYAML reads alike in flow context. */
function flowable(value: unknown): boolean {
  if (value instanceof RawPlain) return FLOW_PLAIN_SAFE.test(value.text);
  return !(typeof value === 'string' && value.includes('\n'));
}

function needsDoubleQuotes(s: string, inFlow: boolean): boolean {
  if (NEEDS_ESCAPE.test(s)) return true;
  // Multi-line strings are literal blocks, except two shapes that readers take differently: a line
  // of only spaces (" \n" came back as "\n") and a first line that starts with a tab (libyaml
  // refuses to guess the block's indentation from it). Both found by the property tests.
  if (s.includes('\n')) return /(^|\n)[ \t]+(\n|$)/.test(s) || /^\n*\t/.test(s);
  return !(inFlow ? FLOW_PLAIN_SAFE : PLAIN_SAFE).test(s);
}

/** Whether the scalar at the end of `path` is an item of a flow sequence (the Seq visitor runs first). */
function inFlowSeq(path: readonly unknown[]): boolean {
  const parent = path[path.length - 1];
  return isSeq(parent) && parent.flow === true;
}
