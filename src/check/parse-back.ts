import { isDeepStrictEqual } from 'node:util';
import { Composer, isMap, isScalar, isSeq, Parser, type Document } from 'yaml';
import { zlib } from '../builtins.ts';
import { InternalError } from '../diagnostics/errors.ts';
import type { Artifact, MimePartReadBack } from '../render/artifact.ts';
import { RawPlain } from '../render/yaml.ts';
import { isPlainObject } from '../resolve/merge.ts';
import { preseedProblems } from './preseed-keys.ts';

/**
 * Parses a rendered artifact back as its consumer will and compares it with the data it was built
 * from (`a.format`, `a.data`; render/artifact.ts). A mismatch means the generator wrote something
 * other than it meant (escaping, indentation, type coercion, encoding): our bug, reported as exit 3,
 * never handed to a host.
 */
export function checkArtifact(a: Artifact): void {
  if (a.bytes !== undefined) expectEncoded(a);
  switch (a.format) {
    case 'cloud-config':
      expectYaml(a, a.data, CLOUD_CONFIG_LINE);
      expectNoMimeSniff(a);
      break;
    case 'cloud-config-merged':
      expectYamlTree(a, a.data, CLOUD_CONFIG_LINE);
      expectNoMimeSniff(a);
      break;
    case 'mime':
      expectMimeParts(a, a.data);
      break;
    case 'yaml':
      expectYaml(a, a.data);
      break;
    case 'preseed': {
      expectYaml(a, a.data);
      const problems = preseedProblems(a.data, a.manager.name, a.manager.version);
      if (problems.length) throw new InternalError(`${a.path} has keys the manager would reject: ${problems.join('; ')}`);
      break;
    }
    case 'sysctl-wanted':
      expectEqual(a, parseWantedLines(a.text), a.data);
      break;
    case 'json-yaml':
      expectEqual(
        a,
        JSON.parse(
          a.text
            .split('\n')
            .filter((l) => !l.startsWith('#'))
            .join('\n'),
        ),
        a.data,
      );
      break;
    // JSON.stringify's output is what JSON.parse reads by definition (manifest.json: reading back
    // an inventory's 40,000 lines would cost a fifth of a second for nothing). Text formats have
    // no reader here; the tests run the real tools on them.
    case 'json':
    case 'text':
      break;
  }
}

const CLOUD_CONFIG_LINE = '#cloud-config\n';

/** The words of the wanted file's lines (`MODE KEY = VALUE`, the value one word however many
 * spaces it holds; `MODE KEY from OTHER N`), comments and blank lines skipped. A line of another
 * shape reads as itself, which matches no data. */
function parseWantedLines(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+) (\S+) (=|from) (.*)$/.exec(l);
      if (!m) return [l];
      return m[3] === '=' ? [m[1]!, m[2]!, '=', m[4]!] : [m[1]!, m[2]!, 'from', ...m[4]!.split(' ')];
    });
}

/** Encoded bytes decode to exactly the text that was checked. */
function expectEncoded(a: Artifact): void {
  const bytes = Buffer.from(a.bytes!);
  let decoded: Buffer;
  try {
    switch (a.encoding ?? 'plain') {
      case 'plain':
        decoded = bytes;
        break;
      case 'gzip':
        decoded = zlib().gunzipSync(bytes);
        break;
      case 'base64':
        decoded = Buffer.from(bytes.toString('latin1'), 'base64');
        break;
      case 'gzip+base64':
        decoded = zlib().gunzipSync(Buffer.from(bytes.toString('latin1'), 'base64'));
        break;
    }
  } catch (e) {
    throw new InternalError(`${a.path} cannot be decoded as ${a.encoding}: ${(e as Error).message}`);
  }
  if (!decoded.equals(Buffer.from(a.text, 'utf8')))
    throw new InternalError(`${a.path} does not decode (${a.encoding ?? 'plain'}) to the text it was built from`);
}

/**
 * cloud-init takes a user-data whose first 4096 bytes hold this (in any case) for a MIME message
 * (user_data.convert_string), whatever its first line says.
 */
const MIME_SNIFF = /mime-version:/i;
const MIME_SNIFF_BYTES = 4096;

function expectNoMimeSniff(a: Artifact): void {
  if (MIME_SNIFF.test(Buffer.from(a.text).subarray(0, MIME_SNIFF_BYTES).toString('latin1'))) {
    throw new InternalError(
      `${a.path} holds "MIME-Version:" in its first ${MIME_SNIFF_BYTES} bytes, so cloud-init would read it as a MIME message`,
    );
  }
}

/**
 * Reads a multipart/mixed user-data as a MIME reader does (the boundary from its Content-Type, each
 * part's headers, 7bit or base64 bodies) and requires the parts `expected`, in order: each part's
 * file name and decoded text, and for gen's own parts the cloud-config they hold.
 */
function expectMimeParts(a: Artifact, expected: readonly MimePartReadBack[]): void {
  const fail = (why: string): never => {
    throw new InternalError(`${a.path} does not read back as the MIME parts it was built from: ${why}`);
  };
  const boundary =
    /^Content-Type: multipart\/mixed; boundary="([^"]+)"\n/.exec(a.text)?.[1] ??
    fail('no multipart Content-Type with a boundary on its first line');
  const sections = a.text.split(`\n--${boundary}`);
  const last = sections.pop();
  if (last !== '--\n') fail('it does not end with the closing boundary');
  const parts = sections.slice(1).map((section) => {
    const blank = section.indexOf('\n\n');
    if (!section.startsWith('\n') || blank < 0) fail('a part has no header block');
    const headers = section.slice(1, blank).split('\n');
    const header = (name: string) => headers.find((h) => h.startsWith(`${name}: `))?.slice(name.length + 2);
    const body = section.slice(blank + 2);
    const transfer = header('Content-Transfer-Encoding');
    const text =
      transfer === '7bit'
        ? body
        : transfer === 'base64'
          ? Buffer.from(body.replaceAll('\n', ''), 'base64').toString('utf8')
          : fail(`a part is ${transfer ?? 'not'} encoded`);
    return { filename: /^attachment; filename="([^"]*)"$/.exec(header('Content-Disposition') ?? '')?.[1], text };
  });
  if (parts.length !== expected.length) fail(`${parts.length} parts instead of ${expected.length}`);
  expected.forEach((want, i) => {
    const got = parts[i]!;
    // A 7bit part's own last line break is kept before the boundary's; a part without one gets it.
    const text = got.text.endsWith('\n') && !want.text.endsWith('\n') ? got.text.slice(0, -1) : got.text;
    if (got.filename !== want.filename || text !== want.text) fail(`part ${i + 1} (${want.filename}) differs`);
    if (want.cloudConfig)
      expectYaml({ ...a, path: `${a.path} (part ${want.filename})`, text: want.text }, want.cloudConfig, CLOUD_CONFIG_LINE);
  });
}

/**
 * Reads YAML artifact `a` back as YAML 1.1 (cloud-init's PyYAML) and as YAML 1.2, strictly (unique
 * keys, one document), and requires both to equal `expected`. The text is lexed and parsed once:
 * both versions compose the same syntax tree, which the composer only reads; the schema (what a
 * plain scalar means) is the only thing that differs between them.
 */
export function expectYaml(a: Artifact, expected: unknown, firstLine?: string): void {
  for (const [version, doc] of composeBoth(a, firstLine)) {
    let data: unknown;
    try {
      data = doc.toJS();
    } catch (e) {
      // Composing succeeded but building the data did not: a `<<` key whose value is no map.
      throw new InternalError(`${a.path} is not valid YAML ${version}: ${(e as Error).message}`);
    }
    expectEqual(a, data, expected, ` under YAML ${version}`);
  }
}

/**
 * Like expectYaml, for a document that carries operators' values: `expected` may hold RawPlain
 * scalars (which must come back as plain scalars of exactly that text: their meaning is then the
 * reader's own, as in the include) and Maps; every other scalar must read back as itself.
 */
function expectYamlTree(a: Artifact, expected: unknown, firstLine?: string): void {
  for (const [version, doc] of composeBoth(a, firstLine)) {
    if (!sameTree(doc.contents, expected))
      throw new InternalError(`${a.path} does not read back as the data it was built from under YAML ${version}`);
  }
}

/** The artifact's one document, composed under YAML 1.1 and 1.2 from one parse, strictly. */
function composeBoth(a: Artifact, firstLine?: string): [string, Document.Parsed][] {
  if (firstLine && !a.text.startsWith(firstLine))
    throw new InternalError(`${a.path} does not start with ${JSON.stringify(firstLine.trim())}`);
  const tokens = [...new Parser().parse(a.text)];
  return (['1.1', '1.2'] as const).map((version) => {
    const docs = [...new Composer({ version, uniqueKeys: true, strict: true }).compose(tokens, true, a.text.length)];
    const problem = docs.length !== 1 ? `it holds ${docs.length} documents` : docs[0]!.errors[0]?.message;
    if (problem !== undefined) throw new InternalError(`${a.path} is not valid YAML ${version}: ${problem}`);
    return [version, docs[0]!];
  });
}

function sameTree(node: unknown, expected: unknown): boolean {
  if (expected instanceof RawPlain) {
    // An empty plain scalar (null) may come back as no node at all.
    if (node === null) return expected.text === '';
    return isScalar(node) && node.type === 'PLAIN' && node.source === expected.text;
  }
  if (Array.isArray(expected))
    return isSeq(node) && node.items.length === expected.length && expected.every((e, i) => sameTree(node.items[i], e));
  if (expected instanceof Map || isPlainObject(expected)) {
    const entries = expected instanceof Map ? [...expected] : Object.entries(expected);
    return (
      isMap(node) &&
      node.items.length === entries.length &&
      entries.every(([k, v], i) => {
        const pair = node.items[i]!;
        return isScalar(pair.key) && pair.key.value === k && sameTree(pair.value, v);
      })
    );
  }
  return isScalar(node) && isDeepStrictEqual(node.value, expected);
}

function expectEqual(a: Artifact, actual: unknown, expected: unknown, how = ''): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new InternalError(`${a.path} does not read back as the data it was built from${how}`);
  }
}
