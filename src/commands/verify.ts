import type { Command } from 'commander';
import { resolve } from 'node:path';
import { displayJson } from '../output/display-text.ts';
import { formatTable } from '../output/table.ts';
import { generate } from '../pipeline.ts';
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
    .action((opts: { profile: string[]; profilesDir?: string; root: string; format: Format }) => {
      ctx.format = opts.format;
      // Only files installed on the host are checked: the Packer files are not rendered.
      const generated = generate({ profiles: opts.profile, profilesDir: opts.profilesDir }, { packer: false, secrets: 'withhold' });
      reportDiagnostics(ctx, generated.stack.diagnostics);
      const root = resolve(opts.root);
      // The manager can only be asked on the live host itself.
      const query = root === '/' ? liveManagerQuery(generated.stack.plan) : undefined;
      const rows = verifyHost(generated, { root, query });
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
