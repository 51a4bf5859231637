import { basename } from 'node:path';
import { expectYaml } from '../check/parse-back.ts';
import { DiagnosticBag, sortDiagnostics } from '../diagnostics/diagnostic.ts';
import { ProfileError } from '../diagnostics/errors.ts';
import type { Generated } from '../pipeline.ts';
import type { Artifact } from '../render/artifact.ts';
import { renderUserData } from '../render/user-data.ts';
import { encodeUserData, type Encoding } from './encode.ts';
import { loadInclude, mergeCloudConfig, type Include } from './merge-cloud-config.ts';
import { buildMime } from './mime.ts';

/** How the final user-data is put together. */
export interface ComposeOptions {
  /** Operators' cloud-config files, in order. */
  includes: readonly string[];
  /** A multipart MIME document instead of one merged cloud-config. */
  mime: boolean;
  encoding: Encoding;
}

/** Loaded includes, shared between hosts of an inventory. */
export type IncludeCache = Map<string, Include | undefined>;

/**
 * The user-data artifact with operators' cloud-config folded in (as data, or as MIME parts) and
 * encoded as asked. Include problems throw ProfileError with located diagnostics.
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
  const bag = new DiagnosticBag();
  const includes = opts.includes.map((file) => {
    if (!cache.has(file)) cache.set(file, loadInclude(file, bag));
    return cache.get(file);
  });
  if (bag.hasErrors || includes.some((i) => !i)) throw new ProfileError(sortDiagnostics(bag.items));
  const loaded = includes as Include[];
  let text: string;
  if (opts.mime) {
    text = buildMime([
      { filename: 'born-tuned.cfg', contentType: 'text/cloud-config', text: base.text },
      ...loaded.map((inc) => ({ filename: basename(inc.source.file), contentType: 'text/cloud-config' as const, text: inc.source.text })),
    ]);
  } else {
    const merged = mergeCloudConfig(cloudConfig, `the generated user-data (profile ${generated.stack.plan.stack.join(' + ')})`, loaded, bag);
    if (bag.hasErrors) throw new ProfileError(sortDiagnostics(bag.items));
    // File names only: the same includes give the same bytes from any working directory.
    const artifact = renderUserData(generated.header, merged, loaded.map((i) => basename(i.source.file)));
    expectYaml(artifact, merged, '#cloud-config\n');
    text = artifact.text;
  }
  return { ...base, text, ...(opts.encoding === 'plain' ? {} : { bytes: encodeUserData(text, opts.encoding) }) };
}
