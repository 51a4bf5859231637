import type { Command } from 'commander';
import { profileJsonSchemaText } from '../schema/json-schema.ts';
import type { CommandContext } from './context.ts';

/** `gen schema`: the JSON Schema of the profile format, for editors. */
export function registerSchema(program: Command, ctx: CommandContext, done: (code: number) => void): void {
  program
    .command('schema')
    .description('print the JSON Schema of the profile format (a copy is in schema/profile.schema.json)')
    .action(() => {
      ctx.io.stdout(profileJsonSchemaText());
      done(0);
    });
}
