import { Option, type Command } from 'commander';
import { ProfileError } from '../diagnostics/errors.ts';
import { settingsOf } from '../explain/settings.ts';
import { formatTable } from '../output/table.ts';
import { generate } from '../pipeline.ts';
import { reportDiagnostics, type CommandContext, type Format } from './context.ts';

/** A side of a diff: `incus-dense` or a stack written `incus-dense+10gbe`. */
function sideProfiles(side: string): string[] {
  return side.split('+').filter(Boolean);
}

/** `gen diff A B`: per setting and per artifact, what differs; exit 0 equal, 1 different, 2 trouble. */
export function registerDiff(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .command('diff')
    .description('compare two profiles or stacks (a stack is written a+b): settings, derived values and changed artifacts')
    .argument('<a>', 'profile or stack, e.g. lxd-small or incus-dense+10gbe')
    .argument('<b>', 'profile or stack')
    .option('--profiles-dir <dir>', 'look for profiles in DIR before the shipped ones')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((a: string, b: string, opts: { profilesDir?: string; format: Format }) => {
      ctx.format = opts.format;
      let left, right;
      try {
        left = generate({ profiles: sideProfiles(a), profilesDir: opts.profilesDir });
        right = generate({ profiles: sideProfiles(b), profilesDir: opts.profilesDir });
      } catch (e) {
        // Like diff(1), trouble is exit 2, so "different" (1) stays unambiguous.
        if (e instanceof ProfileError) {
          reportDiagnostics(ctx, e.diagnostics);
          return done(2);
        }
        throw e;
      }
      const sa = new Map(settingsOf(left.stack).map((s) => [s.id, s.value]));
      const sb = new Map(settingsOf(right.stack).map((s) => [s.id, s.value]));
      const ids = [...new Set([...sa.keys(), ...sb.keys()])].sort();
      const settings = ids.filter((id) => sa.get(id) !== sb.get(id)).map((id) => ({ id, a: sa.get(id) ?? null, b: sb.get(id) ?? null }));
      const ta = new Map(left.artifacts.map((x) => [x.path, x.text]));
      const tb = new Map(right.artifacts.map((x) => [x.path, x.text]));
      const paths = [...new Set([...ta.keys(), ...tb.keys()])].sort();
      const artifacts = paths
        .filter((p) => ta.get(p) !== tb.get(p))
        .map((p) => ({ path: p, change: !ta.has(p) ? 'only in b' : !tb.has(p) ? 'only in a' : 'changed' }));
      if (opts.format === 'json') {
        ctx.io.stdout(`${JSON.stringify({ a: sideProfiles(a), b: sideProfiles(b), equal: settings.length === 0 && artifacts.length === 0, settings, artifacts }, null, 2)}\n`);
      } else if (settings.length === 0 && artifacts.length === 0) {
        ctx.io.stdout(`${a} and ${b} produce the same settings and artifacts\n`);
      } else {
        const out = [formatTable(['SETTING', a, b], settings.map((s) => [s.id, s.a ?? '(not set)', s.b ?? '(not set)']))];
        out.push('', formatTable(['ARTIFACT', 'CHANGE'], artifacts.map((x) => [x.path, x.change])));
        ctx.io.stdout(`${out.join('\n')}\n`);
      }
      done(settings.length === 0 && artifacts.length === 0 ? 0 : 1);
    });
}
