import { ExitCode, UsageError } from '../diagnostics/errors.ts';
import { JSON_FORMAT_VERSION } from '../diagnostics/format.ts';
import { formatOrigin, settingsOf, type Setting } from '../explain/settings.ts';
import { displayJson, displayText } from '../base/display-text.ts';
import { formatTable } from '../output/table.ts';
import { resolveStack } from '../pipeline.ts';
import { reportWarnings, type Io, type StackOptions } from './context.ts';

/** `gen explain` options: the stack, and a key that narrows the settings shown. */
interface ExplainOptions extends StackOptions {
  key?: string;
}

/** `gen explain --profile NAME… [KEY]`: every setting, its value, origin, default, reason and source. */
export async function runExplain(opts: ExplainOptions, io: Io): Promise<ExitCode> {
  const stack = resolveStack({ profiles: opts.profile, profilesDir: opts.profilesDir });
  reportWarnings(io, opts, stack.diagnostics);
  let rows = settingsOf(stack);
  const { key } = opts;
  if (key !== undefined) {
    rows = rows.filter((r) => r.id === key || r.id.endsWith(` ${key}`) || r.id.split(' ')[0] === key || r.id.includes(key));
    if (rows.length === 0) throw new UsageError(`no setting matches "${key}": run gen explain without a key to see them all`);
  }
  io.stdout(
    opts.format === 'json'
      ? `${displayJson(JSON.stringify({ version: JSON_FORMAT_VERSION, stack: stack.plan.stack, settings: rows }, null, 2))}\n`
      : `${explainText(rows, key !== undefined)}\n`,
  );
  return ExitCode.ok;
}

function explainText(rows: Setting[], detailed: boolean): string {
  if (detailed) {
    return rows
      .map((r) =>
        [
          `${r.id} = ${r.value}`,
          `  from:           ${formatOrigin(r.origin)}`,
          r.kernelDefault !== undefined ? `  kernel default: ${r.kernelDefault}` : undefined,
          r.mode ? `  mode:           ${r.mode}` : undefined,
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
    rows.map((r) => [
      r.id,
      r.value,
      r.kernelDefault ?? '-',
      formatOrigin(r.origin),
      [r.why, r.prevents ? `Prevents "${r.prevents}".` : undefined].filter(Boolean).join(' ') || '-',
    ]),
  );
}
