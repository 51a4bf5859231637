import type { Command } from 'commander';
import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { formatOrigin, settingsOf, type Setting } from '../explain/settings.ts';
import { displayJson, displayText } from '../output/display-text.ts';
import { formatTable } from '../output/table.ts';
import { resolveStack } from '../pipeline.ts';
import { collect, formatOption, reportDiagnostics, type CommandContext, type Format } from './context.ts';

/** `gen explain --profile NAME… [KEY]`: every setting, its value, origin, default, reason and source. */
export function registerExplain(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .command('explain')
    .description('show every setting the stack produces: value, where it came from, kernel default, why, and the source')
    .argument('[key]', 'narrow to one setting (e.g. fs.inotify.max_user_watches, limits, txqueuelen)')
    .option('-p, --profile <name>', 'profile name or path; repeat to stack', collect, [] as string[])
    .option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones')
    .addOption(formatOption())
    .action((key: string | undefined, opts: { profile: string[]; profilesDir?: string; format: Format }) => {
      ctx.format = opts.format;
      const stack = resolveStack({ profiles: opts.profile, profilesDir: opts.profilesDir });
      reportDiagnostics(ctx, stack.diagnostics);
      let rows = settingsOf(stack);
      if (key !== undefined) {
        rows = rows.filter((r) => r.id === key || r.id.endsWith(` ${key}`) || r.id.split(' ')[0] === key || r.id.includes(key));
        if (rows.length === 0) throw new UsageError(`no setting matches "${key}": run gen explain without a key to see them all`);
      }
      ctx.io.stdout(opts.format === 'json' ? `${displayJson(JSON.stringify({ stack: stack.plan.stack, settings: rows }, null, 2))}\n` : `${explainText(rows, key !== undefined)}\n`);
      done(ExitCode.ok);
    });
}

function explainText(rows: Setting[], detailed: boolean): string {
  if (detailed) {
    return rows
      .map((r) =>
        [
          `${r.id} = ${r.value}`,
          `  from:           ${formatOrigin(r.origin)}`,
          r.kernelDefault !== undefined ? `  kernel default: ${r.kernelDefault}` : undefined,
          r.why ? `  why:            ${r.why}` : undefined,
          r.prevents ? `  prevents:       ${r.prevents}` : undefined,
          r.source ? `  source:         ${r.source}` : undefined,
        ]
          .filter((line): line is string => line !== undefined)
          .map(displayText)
          .join('\n'),
      )
      .join('\n\n');
  }
  return formatTable(
    ['SETTING', 'VALUE', 'DEFAULT', 'FROM', 'WHY'],
    rows.map((r) => [r.id, r.value, r.kernelDefault ?? '-', formatOrigin(r.origin), [r.why, r.prevents ? `Prevents "${r.prevents}".` : undefined].filter(Boolean).join(' ') || '-']),
  );
}
