import { CST, Lexer, Parser } from 'yaml';

/** A problem at an offset of the include's text. */
interface SyntaxProblem {
  offset: number;
  code: 'YAML_SYNTAX' | 'YAML_TAG' | 'YAML_TAB' | 'YAML_ALIAS';
  message: string;
}

const READER = "cloud-init's YAML reader (PyYAML)";

/**
 * Where an include's YAML is read differently by cloud-init than by gen. gen parses with the yaml
 * library (the YAML spec), cloud-init with PyYAML, which is narrower in ways that matter: it refuses
 * some characters, takes NEL, LS and PS for line breaks, never skips a tab between tokens, ends a
 * plain scalar at `?` inside `[...]` or `{...}`, allows anchor names of letters, digits, `_` and `-`
 * only, refuses an anchor defined twice, and reads a few blank-line forms of block and double-quoted
 * scalars otherwise. Each difference is refused here, where it is written, so what gen reads from an
 * include it accepts is what cloud-init reads (test/includes.test.ts holds the two readers to it).
 * Tags are refused too: what they mean is up to the reader (`!!binary` is bytes to PyYAML), and gen
 * carries values, not tags. Directives are refused (the include is folded into another document).
 */
export function syntaxProblems(text: string): SyntaxProblem[] {
  const problems = characterProblems(text);
  // The lexer's view is only meaningful on text without the characters refused above.
  if (problems.length > 0) return problems;
  return [...tokenProblems(text), ...blockScalarProblems(text)];
}

function characterProblems(text: string): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  // eslint-disable-next-line no-control-regex
  const bad = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]|\r(?!\n)/g;
  for (const m of text.matchAll(bad)) {
    const c = m[0];
    if (c === '\ufeff' && m.index === 0) continue;
    const code = `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    let message: string;
    if (c === '\r') message = 'a carriage return without a line feed: save the file with LF (or CRLF) line ends';
    else if (c === '\ufeff') message = 'a byte order mark (U+FEFF) after the start of the file: remove it';
    else if (c === '\x85' || c === '\u2028' || c === '\u2029')
      message = `${READER} reads ${code} as a line break and gen's reader does not: write it as an escape ("\\u${code.slice(2).toLowerCase()}") inside double quotes`;
    else
      message = `${READER} refuses the character ${code}: write it as an escape ("\\u${code.slice(2).toLowerCase()}") inside double quotes, or remove it`;
    problems.push({ offset: m.index, code: 'YAML_SYNTAX', message });
    if (problems.length >= 20) break;
  }
  return problems;
}

const MARKERS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

function tokenProblems(text: string): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const anchors = new Set<string>();
  let offset = 0;
  let flowLevel = 0;
  // A block scalar's content is the scalar lexeme that follows its header (after the line break).
  let blockHeader: string | undefined;
  let afterScalarMarker = false;
  for (const lexeme of new Lexer().lex(text)) {
    if (MARKERS.has(lexeme)) {
      afterScalarMarker = lexeme === CST.SCALAR;
      continue;
    }
    const at = offset;
    offset += lexeme.length;
    const type = CST.tokenType(lexeme);
    const isBlockContent = afterScalarMarker && blockHeader !== undefined;
    const isPlain = afterScalarMarker && blockHeader === undefined && type === null;
    afterScalarMarker = false;
    if (isBlockContent) {
      // Checked by blockScalarProblems(), which knows the block's indentation.
      blockHeader = undefined;
      continue;
    }
    switch (type) {
      case 'block-scalar-header':
        blockHeader = lexeme;
        tabOutside(lexeme, at, problems);
        continue;
      case 'double-quoted-scalar':
        // An escaped line break (an odd run of backslashes ending a line) followed by a blank line:
        // PyYAML keeps the blank line as a line break, the yaml library makes it a space.
        for (const m of lexeme.matchAll(/(\\+)\r?\n[ \t]*\r?\n/g)) {
          if (m[1]!.length % 2 === 1) {
            problems.push({
              offset: at + m.index,
              code: 'YAML_SYNTAX',
              message: `${READER} and gen's reader disagree on a blank line after an escaped line break (a \\ ending a line) in a double-quoted string: remove the blank line, or the backslash`,
            });
            break;
          }
        }
        continue;
      case 'comment':
      case 'single-quoted-scalar':
        // Tabs are content here, for PyYAML too.
        continue;
      case 'flow-map-start':
      case 'flow-seq-start':
        flowLevel++;
        continue;
      case 'flow-map-end':
      case 'flow-seq-end':
        flowLevel = Math.max(0, flowLevel - 1);
        continue;
      case 'tag':
        problems.push({
          offset: at,
          code: 'YAML_TAG',
          message: `the tag ${lexeme} cannot be carried: gen folds values, not tags, and what a tag means is up to the reader (PyYAML makes bytes of !!binary, refuses tags it does not know): write the value without a tag, quoted if it is text${lexeme === '!!binary' ? ' (write_files content: drop !!binary and set encoding: b64, or gz+b64 for gzip)' : ''}`,
        });
        continue;
      case 'anchor':
      case 'alias': {
        const name = lexeme.slice(1);
        if (!/^[A-Za-z0-9_-]+$/.test(name)) {
          problems.push({
            offset: at,
            code: 'YAML_ALIAS',
            message: `${READER} allows only letters, digits, "_" and "-" in an anchor or alias name, not ${JSON.stringify(name)}: rename it`,
          });
        } else if (type === 'anchor') {
          if (anchors.has(name))
            problems.push({
              offset: at,
              code: 'YAML_ALIAS',
              message: `the anchor &${name} is defined twice, which ${READER} refuses: give each anchor its own name`,
            });
          anchors.add(name);
        }
        continue;
      }
      case 'directive-line':
        problems.push({
          offset: at,
          code: 'YAML_SYNTAX',
          message: 'a YAML directive cannot be carried into the merged user-data: remove it (cloud-init reads YAML 1.1 whatever it says)',
        });
        continue;
    }
    if (isPlain && flowLevel > 0 && (lexeme.includes('?') || lexeme.startsWith(':'))) {
      problems.push({
        offset: at,
        code: 'YAML_SYNTAX',
        message: `${READER} ends an unquoted value at "?" and cannot start one with ":" inside [...] or {...}: quote ${JSON.stringify(lexeme)}`,
      });
      continue;
    }
    tabOutside(lexeme, at, problems);
  }
  return problems;
}

/** PyYAML never skips a tab between tokens, nor reads one in an unquoted scalar. */
function tabOutside(lexeme: string, at: number, problems: SyntaxProblem[]): void {
  const i = lexeme.indexOf('\t');
  if (i >= 0)
    problems.push({
      offset: at + i,
      code: 'YAML_TAB',
      message: `${READER} refuses a tab outside quotes, comments and block scalars: use spaces, or quote the value`,
    });
}

/**
 * Where a block scalar (`|`, `>`) is read differently by PyYAML. PyYAML measures a block's
 * indentation in spaces: the parent's indentation plus the header's indicator, or else the leading
 * spaces of the first non-empty line. A line whose leading spaces stop short of it at a tab ends
 * the block, and the tab is then refused. After the block's last line of text, PyYAML reads a line
 * of blanks longer than the indentation as content (its extra spaces), where the yaml library takes
 * it for an empty line, and an indented `#` line after the block as text, where the yaml library
 * has ended the block (found by test/includes.test.ts).
 */
function blockScalarProblems(text: string): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const check = (token: CST.Token | undefined) => {
    if (token?.type !== 'block-scalar') return;
    const header = token.props.find((p) => p.type === 'block-scalar-header');
    const headerText = header && 'source' in header ? header.source : '';
    const indicator = /[1-9]/.exec(headerText);
    const lines = token.source.split('\n');
    // An empty line holds spaces only; a line holding a tab is content, and sets the indentation.
    const first = lines.find((l) => !/^ *\r?$/.test(l));
    const indent = indicator
      ? token.indent + Number(indicator[0])
      : Math.max(token.indent + 1, first === undefined ? 0 : /^ */.exec(first)![0].length);
    // The token's offset is its header's; the content starts after the header line.
    const last = token.props.at(-1);
    const start = last && 'source' in last ? last.offset + last.source.length : token.offset;
    let offset = start;
    for (const line of lines) {
      const tab = /^[ \t]*/.exec(line)![0].indexOf('\t');
      if (tab >= 0 && tab < indent) {
        problems.push({
          offset: offset + tab,
          code: 'YAML_TAB',
          message: `${READER} ends a block scalar at a line whose indentation holds a tab: indent with spaces`,
        });
        return;
      }
      offset += line.length + 1;
    }
    // The block's trailing blank lines (in its source, then after it, up to the next line holding
    // anything but blanks or a comment).
    const lastText = lines.reduce((last, l, i) => (/^ *\r?$/.test(l) ? last : i), -1);
    let at = start + lines.slice(0, lastText + 1).reduce((n, l) => n + l.length + 1, 0);
    const trailing = [...lines.slice(lastText + 1, -1), ...text.slice(start + token.source.length).split('\n')];
    for (const line of trailing) {
      // (An optional group that matches empty is never taken in JavaScript: no `?` here.)
      const m = /^( *)(#|\r?$)/.exec(line);
      if (!m) break;
      const spaces = m[1]!.length;
      if (m[2] === '#' ? spaces >= indent : spaces > indent) {
        const what =
          m[2] === '#'
            ? 'this indented # line as text of the block scalar above'
            : "the spaces of this blank line beyond the block scalar's indentation as text of the block";
        problems.push({
          offset: at,
          code: 'YAML_SYNTAX',
          message: `${READER} reads ${what}, and gen's reader does not: ${m[2] === '#' ? 'indent the comment less, or remove it' : 'remove the spaces from the blank line'}`,
        });
        return;
      }
      at += line.length + 1;
    }
  };
  for (const token of new Parser().parse(text)) {
    if (token.type !== 'document') continue;
    check(token.value);
    CST.visit(token, (item) => {
      check(item.key ?? undefined);
      check(item.value);
    });
  }
  return problems;
}
