import { realpathSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { JSON_FORMAT_VERSION } from '../diagnostics/format.ts';
import { displayJson } from '../base/display-text.ts';
import { formatTable } from '../output/table.ts';
import { generate } from '../pipeline.ts';
import { fileType } from '../source/read-file.ts';
import { liveManagerQuery } from '../verify/manager-query.ts';
import { liveFenceQuery } from '../verify/fence-checks.ts';
import { summarize, verifyHost } from '../verify/verify.ts';
import { reportWarnings, type Io, type StackOptions } from './context.ts';

/** `gen verify` options: the stack, and the root of the host to read. */
interface VerifyOptions extends StackOptions {
  root: string;
}

/** `gen verify --profile NAME… [--root DIR]`: does this host have what the profile promises? */
export async function runVerify(opts: VerifyOptions, io: Io): Promise<ExitCode> {
  const root = hostRoot(opts.root);
  // Only files installed on the host are checked: the Packer files are not rendered.
  const generated = generate({ profiles: opts.profile, profilesDir: opts.profilesDir }, { packer: false, secrets: 'withhold' });
  reportWarnings(io, opts, generated.stack.diagnostics);
  // The manager can only be asked on the live host itself.
  const query = root === '/' ? liveManagerQuery(generated.stack.plan) : undefined;
  // So can the kernel's ruleset.
  const fence = root === '/' ? liveFenceQuery() : undefined;
  const rows = await verifyHost(generated, { root, query, ...(fence ? { fence } : {}) });
  const summary = summarize(rows);
  if (opts.format === 'json') {
    io.stdout(
      `${displayJson(JSON.stringify({ version: JSON_FORMAT_VERSION, stack: generated.stack.plan.stack, root, rows, summary }, null, 2))}\n`,
    );
  } else {
    io.stdout(
      `${formatTable(
        ['STATUS', 'CHECK', 'WANTED', 'ACTUAL', 'NOTE'],
        rows.map((r) => [r.status, r.check, r.wanted, r.actual, r.note ?? '']),
      )}\n`,
    );
    io.stdout(`\n${summary.pass} passed, ${summary.fail} failed, ${summary.absent} absent\n`);
  }
  return summary.fail === 0 ? ExitCode.ok : ExitCode.findings;
}

/** The --root directory as a real path. A mistyped one is a usage error, not a table of FAILs: an
 * empty directory is accepted (a fixture tree may hold nothing), anything but a directory is not. */
function hostRoot(dir: string): string {
  if (dir === '')
    throw new UsageError('--root is empty: name the directory of a mounted image or fixture tree, or leave --root out to check this host');
  let st: Stats;
  let real: string;
  try {
    st = statSync(resolve(dir));
    real = realpathSync(resolve(dir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'cannot be read (permission denied)'
          : `cannot be read (${code})`;
    throw new UsageError(`--root ${dir} ${why}: name the directory of a mounted image or fixture tree`);
  }
  if (!st.isDirectory())
    throw new UsageError(`--root ${dir} is ${fileType(st)}, not a directory: name the directory of a mounted image or fixture tree`);
  return real;
}
