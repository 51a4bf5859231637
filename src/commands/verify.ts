import type { Command } from 'commander';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../diagnostics/errors.ts';
import { displayJson } from '../output/display-text.ts';
import { formatTable } from '../output/table.ts';
import { generate } from '../pipeline.ts';
import { fileType } from '../source/read-file.ts';
import { liveManagerQuery } from '../verify/manager-query.ts';
import { summarize, verifyHost } from '../verify/verify.ts';
import { collect, formatOption, reportDiagnostics, type CommandContext, type Format } from './context.ts';

/** `gen verify --profile NAME… [--root DIR]`: does this host have what the profile promises? */
export function registerVerify(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .command('verify')
    .description('check a host (or a mounted image with --root) against the profile: sysctl, daemon limits, txqueuelen, hidden names, files, manager state')
    .option('-p, --profile <name>', 'profile name or path; repeat to stack', collect, [] as string[])
    .option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones')
    .option('--root <dir>', 'read a mounted image or fixture tree instead of /', '/')
    .addOption(formatOption())
    .action(async (opts: { profile: string[]; profilesDir?: string; root: string; format: Format }) => {
      ctx.format = opts.format;
      const root = hostRoot(opts.root);
      // Only files installed on the host are checked: the Packer files are not rendered.
      const generated = generate({ profiles: opts.profile, profilesDir: opts.profilesDir }, { packer: false, secrets: 'withhold' });
      reportDiagnostics(ctx, generated.stack.diagnostics);
      // The manager can only be asked on the live host itself.
      const query = root === '/' ? liveManagerQuery(generated.stack.plan) : undefined;
      const rows = await verifyHost(generated, { root, query });
      const summary = summarize(rows);
      if (opts.format === 'json') {
        ctx.io.stdout(`${displayJson(JSON.stringify({ stack: generated.stack.plan.stack, root, rows, summary }, null, 2))}\n`);
      } else {
        ctx.io.stdout(`${formatTable(['STATUS', 'CHECK', 'WANTED', 'ACTUAL', 'NOTE'], rows.map((r) => [r.status, r.check, r.wanted, r.actual, r.note ?? '']))}\n`);
        ctx.io.stdout(`\n${summary.pass} passed, ${summary.fail} failed, ${summary.absent} absent\n`);
      }
      done(summary.fail === 0 ? 0 : 1);
    });
}

/** The --root directory as a real path. A mistyped one is a usage error, not a table of FAILs: an
 * empty directory is accepted (a fixture tree may hold nothing), anything but a directory is not. */
function hostRoot(dir: string): string {
  if (dir === '') throw new UsageError('--root is empty: name the directory of a mounted image or fixture tree, or leave --root out to check this host');
  let st: Stats;
  let real: string;
  try {
    st = statSync(resolve(dir));
    real = realpathSync(resolve(dir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code})`;
    throw new UsageError(`--root ${dir} ${why}: name the directory of a mounted image or fixture tree`);
  }
  if (!st.isDirectory()) throw new UsageError(`--root ${dir} is ${fileType(st)}, not a directory: name the directory of a mounted image or fixture tree`);
  return real;
}
