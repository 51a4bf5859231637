import { expectYaml, expectYamlTree } from '../check/parse-back.ts';
import { DiagnosticBag, sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { InternalError, ProfileError } from '../diagnostics/errors.ts';
import type { Generated } from '../pipeline.ts';
import type { Artifact } from '../render/artifact.ts';
import { renderUserData, splitFinalCheck } from '../render/user-data.ts';
import { encodeUserData, type Encoding } from './encode.ts';
import { loadInclude, type Include, type IncludeLoad } from './include.ts';
import type { IncludeNode } from './include-tree.ts';
import { mergeCloudConfig } from './merge-cloud-config.ts';
import { buildMime, MIME_BOUNDARY } from './mime.ts';

/** How the final user-data is put together. */
export interface ComposeOptions {
  /** Operators' cloud-config files, in order. */
  includes: readonly string[];
  /** A multipart MIME document instead of one merged cloud-config. */
  mime: boolean;
  encoding: Encoding;
}

/** Includes read so far, by path: an inventory reads each file once, however many hosts use it. */
export type IncludeCache = Map<string, IncludeLoad>;

/**
 * cloud-init takes a user-data whose first 4096 bytes hold this (in any case) for a MIME message
 * (user_data.convert_string), whatever its first line says.
 */
const MIME_SNIFF = /mime-version:/i;
const MIME_SNIFF_BYTES = 4096;

/**
 * The user-data artifact with operators' cloud-config folded in (as data, or as MIME parts) and
 * encoded as asked. Both ways check the includes alike (include.ts) and merge them by the same rules
 * (a conflict or a file written twice is an error either way), and both keep gen's final check
 * last in runcmd: merged, the includes' commands go before it; as MIME, where cloud-init appends
 * each part's runcmd to the ones before, it is a last part of its own. Include problems throw
 * ProfileError with located diagnostics.
 */
export function composeUserData(
  generated: Generated,
  opts: ComposeOptions,
  cache: IncludeCache = new Map(),
  /** A host's own user-data (cluster members carry their own preseed), instead of the stack's. */
  own?: { artifact: Artifact; cloudConfig: Record<string, unknown> },
): Artifact {
  const base = own?.artifact ?? generated.artifacts.find((a) => a.kind === 'user-data')!;
  const cloudConfig = own?.cloudConfig ?? generated.cloudConfig;
  if (opts.includes.length === 0 && !opts.mime && opts.encoding === 'plain') return base;
  const includes = loadIncludes(opts.includes, cache);
  const bag = new DiagnosticBag();
  const { steps, check } = splitFinalCheck(cloudConfig);
  const merged = mergeCloudConfig(steps, `the generated user-data (profile ${generated.stack.plan.stack.join(' + ')})`, includes, bag);
  for (const inc of includes) {
    if (opts.mime) boundaryProblem(inc, bag);
    else mimeSniffProblems(inc, bag);
  }
  if (bag.hasErrors) throw new ProfileError(sortDiagnostics(bag.items));
  let text: string;
  if (opts.mime) {
    const ours = { ...renderUserData(generated.header, steps), path: `${base.path} (part born-tuned.cfg)` };
    expectYaml(ours, steps, '#cloud-config\n');
    const last = { ...renderUserData(generated.header, { runcmd: [check] }), path: `${base.path} (part born-tuned-check.cfg)` };
    expectYaml(last, { runcmd: [check] }, '#cloud-config\n');
    text = buildMime([
      { filename: 'born-tuned.cfg', contentType: 'text/cloud-config', text: ours.text },
      // Each include goes as it is written: cloud-init reads exactly the file the checks read.
      ...includes.map((inc) => ({ filename: inc.name, contentType: 'text/cloud-config' as const, text: inc.text })),
      { filename: 'born-tuned-check.cfg', contentType: 'text/cloud-config', text: last.text },
    ]);
  } else {
    const runcmd = merged.get('runcmd');
    if (Array.isArray(runcmd)) runcmd.push(check);
    else merged.set('runcmd', [check]);
    // File names only: the same includes give the same bytes from any working directory.
    const artifact = { ...renderUserData(generated.header, merged, includes.map((i) => i.name)), path: base.path };
    expectYamlTree(artifact, merged, '#cloud-config\n');
    if (MIME_SNIFF.test(Buffer.from(artifact.text).subarray(0, MIME_SNIFF_BYTES).toString('latin1'))) {
      throw new InternalError(`${artifact.path} holds "MIME-Version:" in its first ${MIME_SNIFF_BYTES} bytes, so cloud-init would read it as a MIME message`);
    }
    text = artifact.text;
  }
  return { ...base, text, ...(opts.encoding === 'plain' ? {} : { bytes: encodeUserData(text, opts.encoding) }) };
}

/** Each include, from the cache or read now; every problem of every include at once. */
function loadIncludes(files: readonly string[], cache: IncludeCache): Include[] {
  const diagnostics: Diagnostic[] = [];
  const loaded: Include[] = [];
  for (const file of new Set(files)) {
    let load = cache.get(file);
    if (!load) {
      load = loadInclude(file);
      cache.set(file, load);
    }
    if (load.ok) loaded.push(load.include);
    else diagnostics.push(...load.diagnostics);
  }
  if (diagnostics.length > 0) throw new ProfileError(sortDiagnostics(diagnostics));
  const byFile = new Map(files.map((f) => [f, (cache.get(f) as { include: Include }).include]));
  return files.map((f) => byFile.get(f)!);
}

/** With --mime an include is a part as written: a line holding the boundary would end the part. */
function boundaryProblem(inc: Include, bag: DiagnosticBag): void {
  const i = inc.text.indexOf(MIME_BOUNDARY);
  if (i < 0) return;
  const before = inc.text.slice(0, i);
  const line = before.split('\n').length;
  bag.error('INVALID_VALUE', `this include holds the MIME boundary of the user-data (${MIME_BOUNDARY}), which would end its part early: remove or change that text`, { file: inc.display, line, col: i - before.lastIndexOf('\n') });
}

/**
 * Merged, an include's text lands in the one cloud-config document; "MIME-Version:" in its first
 * 4096 bytes makes cloud-init read the whole user-data as a MIME message. Where a value lands
 * depends on the stack, so the text is refused wherever it is (or the file name, which is written
 * in the header comment); --mime carries it safely in a part of its own.
 */
function mimeSniffProblems(inc: Include, bag: DiagnosticBag): void {
  const fix = 'cloud-init reads a user-data holding "MIME-Version:" near its start as a MIME message; use --mime, which gives each include its own part';
  if (MIME_SNIFF.test(inc.name)) bag.error('INVALID_VALUE', `the file name holds "MIME-Version:": ${fix}, or rename the file`, { file: inc.display });
  // Aliases share nodes: each is looked at (and reported) once.
  const seen = new Set<IncludeNode>();
  const visit = (node: IncludeNode): void => {
    if (seen.has(node)) return;
    seen.add(node);
    if (node.kind === 'scalar') {
      if (MIME_SNIFF.test(node.text)) bag.error('INVALID_VALUE', `this text holds "MIME-Version:": ${fix}`, { file: inc.display, ...node.at });
    } else if (node.kind === 'seq') {
      node.items.forEach(visit);
    } else {
      for (const e of node.entries.values()) {
        visit(e.key);
        visit(e.value);
      }
    }
  };
  visit(inc.tree);
}
