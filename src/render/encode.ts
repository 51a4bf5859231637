import { zlib } from '../builtins.ts';
import type { Encoding } from './artifact.ts';

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
