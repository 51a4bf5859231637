import { InternalError } from '../diagnostics/errors.ts';

/** Fixed so the same input gives the same bytes; checked never to occur inside a part. */
export const MIME_BOUNDARY = '===============born-tuned-part-boundary==';

/** How cloud-init merges each part into the ones before it: lists append, maps recurse. */
export const MERGE_TYPE = 'list(append)+dict(no_replace,recurse_list)+str()';

/** One part of a multipart user-data. */
export interface MimePart {
  filename: string;
  contentType: 'text/cloud-config' | 'text/x-shellscript';
  text: string;
}

/** A multipart/mixed user-data document that cloud-init splits and merges part by part. */
export function buildMime(parts: readonly MimePart[]): string {
  const lines = [`Content-Type: multipart/mixed; boundary="${MIME_BOUNDARY}"`, 'MIME-Version: 1.0', ''];
  for (const part of parts) {
    if (part.text.includes(MIME_BOUNDARY)) throw new InternalError(`the MIME boundary occurs inside ${part.filename}`);
    // eslint-disable-next-line no-control-regex
    const encoding = /[^\x00-\x7f]/.test(part.text) ? '8bit' : '7bit';
    lines.push(
      `--${MIME_BOUNDARY}`,
      `Content-Type: ${part.contentType}; charset="utf-8"`,
      'MIME-Version: 1.0',
      `Content-Transfer-Encoding: ${encoding}`,
      `Content-Disposition: attachment; filename="${part.filename}"`,
      `X-Merge-Type: ${MERGE_TYPE}`,
      '',
      // The line break before a boundary belongs to the boundary (RFC 2046): keep the part's own.
      part.text.endsWith('\n') ? part.text : `${part.text}\n`,
    );
  }
  lines.push(`--${MIME_BOUNDARY}--`, '');
  return lines.join('\n');
}
