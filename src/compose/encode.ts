import { zlib } from '../builtins.ts';

/** How user-data is encoded on output. Plain is the default: gzip/base64 defaults have a long
 * history of broken boots, so they are only produced when asked for. */
export type Encoding = 'plain' | 'gzip' | 'base64' | 'gzip+base64';
export const ENCODINGS: readonly Encoding[] = ['plain', 'gzip', 'base64', 'gzip+base64'];

/** Encodes user-data bytes. gzip output has no timestamp or file name, so it is deterministic. */
export function encodeUserData(text: string, encoding: Encoding): Buffer {
  const raw = Buffer.from(text, 'utf8');
  switch (encoding) {
    case 'plain':
      return raw;
    case 'gzip':
      return zlib().gzipSync(raw, { level: 9 });
    case 'base64':
      return Buffer.from(`${raw.toString('base64')}\n`);
    case 'gzip+base64':
      return Buffer.from(`${zlib().gzipSync(raw, { level: 9 }).toString('base64')}\n`);
  }
}
