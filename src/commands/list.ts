import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { ExitCode, ProfileError, UsageError } from '../diagnostics/errors.ts';
import { JSON_FORMAT_VERSION } from '../diagnostics/format.ts';
import { displayJson, displayText } from '../base/display-text.ts';
import { formatTable } from '../output/table.ts';
import { loadSource } from '../source/load.ts';
import { listProfileNames, locateProfile, PROFILE_NAME } from '../source/locate.ts';
import { resolveStack, searchPath } from '../pipeline.ts';
import { targetLabel } from '../facts/targets.ts';
import type { Format, Io } from './context.ts';

/** `gen list` options. */
interface ListOptions {
  profilesDir?: string;
  format: Format;
  /** Only the names, one a line: for scripts and shell completion. */
  names: boolean;
}

/** `gen list`: the profiles with their one-line description, overlays marked. */
export async function runList(opts: ListOptions, io: Io): Promise<ExitCode> {
  const search = searchPath(opts.profilesDir);
  const names = listProfileNames(search);
  if (opts.names) {
    // Only names a command line can use: a file named otherwise is no profile a shell should offer.
    io.stdout(
      names
        .filter((n) => PROFILE_NAME.test(n))
        .map((n) => `${displayText(n)}\n`)
        .join(''),
    );
    return ExitCode.ok;
  }
  const rows = names.map((name) => {
    const located = locateProfile(name, search);
    const source = located.ok ? loadSource(name, located.file, new DiagnosticBag()) : undefined;
    const value = source?.value ?? {};
    const overlay = value.overlay === true;
    return {
      name,
      kind: overlay ? 'overlay' : 'host',
      // An overlay has no target of its own: it takes the one of the host profile it is stacked on.
      target: overlay ? null : hostTarget(name, opts.profilesDir),
      description:
        typeof value.description === 'string' ? value.description : source ? '' : '(cannot be read: run gen with it for details)',
    };
  });
  io.stdout(
    opts.format === 'json'
      ? `${displayJson(JSON.stringify({ version: JSON_FORMAT_VERSION, profiles: rows }, null, 2))}\n`
      : `${formatTable(
          ['PROFILE', 'KIND', 'TARGET', 'DESCRIPTION'],
          rows.map((r) => [r.name, r.kind, r.target ?? '-', r.description]),
        )}\n`,
  );
  return ExitCode.ok;
}

/** The release a host profile targets, with what extends gives it; `?` when the profile is not
 * valid on its own (gen with it says why). */
function hostTarget(name: string, profilesDir: string | undefined): string {
  try {
    return targetLabel(resolveStack({ profiles: [name], ...(profilesDir !== undefined ? { profilesDir } : {}) }).plan.target);
  } catch (e) {
    if (e instanceof ProfileError || e instanceof UsageError) return '?';
    throw e;
  }
}
