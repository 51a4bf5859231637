import { Document, isScalar, isSeq, Scalar, visit } from 'yaml';

/**
 * Serializes data as YAML that YAML 1.1 readers (cloud-init's PyYAML, netplan, LXD's go-yaml v2)
 * and 1.2 readers both read back unchanged: `compat: 'yaml-1.1'` quotes `yes`, `on`, `0755`, `1:30`.
 * Keys keep insertion order (renderers build objects in the order the consumer expects); long
 * strings are never folded, so a multi-line value stays a literal block.
 */
export function stringifyYaml(value: unknown): string {
  const doc = new Document(value, { aliasDuplicateObjects: false, compat: 'yaml-1.1' });
  // Lists of plain words (runcmd argv, package lists) read best on one line: [systemctl, daemon-reload].
  visit(doc, {
    // A line of only spaces inside a block scalar is read back differently from what was meant
    // (found by the property tests: " \n" came back as "\n"); such strings are double-quoted.
    Scalar(_, node) {
      if (typeof node.value === 'string' && /(^|\n)[ \t]+(\n|$)/.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
    Seq(_, node) {
      if (isSeq(node) && node.items.length > 0 && node.items.every((i) => isScalar(i) && !(typeof i.value === 'string' && i.value.includes('\n')))) node.flow = true;
    },
  });
  return doc.toString({
    lineWidth: 0,
    minContentWidth: 0,
    indentSeq: true,
    blockQuote: 'literal',
    flowCollectionPadding: false,
  });
}
