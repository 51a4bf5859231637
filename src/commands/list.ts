import type { Command } from 'commander';
import { DiagnosticBag } from '../diagnostics/diagnostic.ts';
import { displayJson } from '../output/display-text.ts';
import { formatTable } from '../output/table.ts';
import { loadSource } from '../source/load.ts';
import { listProfileNames, locateProfile } from '../source/locate.ts';
import { searchPath } from '../pipeline.ts';
import { formatOption, type CommandContext, type Format } from './context.ts';

/** `gen list`: the profiles with their one-line description, overlays marked. */
export function registerList(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .command('list')
    .description('list the profiles (shipped, and those in --profiles-dir), marking overlays')
    .option('--profiles-dir <dir>', 'also list the profiles in DIR')
    .addOption(formatOption())
    .action((opts: { profilesDir?: string; format: Format }) => {
      ctx.format = opts.format;
      const search = searchPath(opts.profilesDir);
      const rows = listProfileNames(search).map((name) => {
        const located = locateProfile(name, search);
        const source = located.ok ? loadSource(name, located.file, new DiagnosticBag()) : undefined;
        const value = source?.value ?? {};
        return {
          name,
          kind: value.overlay === true ? 'overlay' : 'host',
          description: typeof value.description === 'string' ? value.description : source ? '' : '(cannot be read: run gen with it for details)',
        };
      });
      ctx.io.stdout(opts.format === 'json' ? `${displayJson(JSON.stringify({ profiles: rows }, null, 2))}\n` : `${formatTable(['PROFILE', 'KIND', 'DESCRIPTION'], rows.map((r) => [r.name, r.kind, r.description]))}\n`);
      done(0);
    });
}
