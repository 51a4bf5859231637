import { InternalError } from '../diagnostics/errors.ts';

/** Fixed so the same input gives the same bytes; checked never to occur inside a part. */
export const MIME_BOUNDARY = '===============born-tuned-part-boundary==';

/** How cloud-init merges each part into the ones before it: lists append, maps recurse. */
const MERGE_TYPE = 'list(append)+dict(no_replace,recurse_list)+str()';

/** One part of a multipart user-data. */
interface MimePart {
  filename: string;
  contentType: 'text/cloud-config' | 'text/x-shellscript';
  text: string;
}

/**
 * A multipart/mixed user-data document that cloud-init splits and merges part by part. A part of
 * ASCII text is written as it is (7bit); any other is base64-encoded. cloud-init (22.4, Debian 12)
 * parses the document from a decoded string, and Python's email package then hands a raw 8bit
 * part's payload back as raw-unicode-escape bytes: "é" arrives as an invalid UTF-8 byte, "日" as
 * the six characters \u65e5, and PyYAML refuses the part, so cloud-init silently drops it. base64
 * comes back byte for byte.
 */
export function buildMime(parts: readonly MimePart[]): string {
  const lines = [`Content-Type: multipart/mixed; boundary="${MIME_BOUNDARY}"`, 'MIME-Version: 1.0', ''];
  for (const part of parts) {
    if (/["\\\0-\x1f\x7f-\uffff]/.test(part.filename))
      throw new InternalError(`the MIME part name ${JSON.stringify(part.filename)} cannot be written in a header`);
    // eslint-disable-next-line no-control-regex
    const ascii = /^[\x00-\x7f]*$/.test(part.text);
    if (ascii && part.text.includes(MIME_BOUNDARY)) throw new InternalError(`the MIME boundary occurs inside ${part.filename}`);
    lines.push(
      `--${MIME_BOUNDARY}`,
      `Content-Type: ${part.contentType}; charset="utf-8"`,
      'MIME-Version: 1.0',
      `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
      `Content-Disposition: attachment; filename="${part.filename}"`,
      `X-Merge-Type: ${MERGE_TYPE}`,
      '',
    );
    if (ascii) {
      // The line break before a boundary belongs to the boundary (RFC 2046): keep the part's own.
      lines.push(part.text.endsWith('\n') ? part.text : `${part.text}\n`);
    } else {
      const encoded = Buffer.from(part.text, 'utf8').toString('base64');
      for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
    }
  }
  lines.push(`--${MIME_BOUNDARY}--`, '');
  return lines.join('\n');
}
