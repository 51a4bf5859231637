import { ExitCode } from '../diagnostics/errors.ts';
import { profileJsonSchemaText } from '../schema/json-schema.ts';
import type { Io } from './context.ts';

/** `gen schema`: the JSON Schema of the profile format, for editors. It reads no profile, so it
 * takes no options. */
export async function runSchema(_opts: Record<string, never>, io: Io): Promise<ExitCode> {
  io.stdout(profileJsonSchemaText());
  return ExitCode.ok;
}
