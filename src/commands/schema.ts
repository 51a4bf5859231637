import { ExitCode } from '../diagnostics/errors.ts';
import { inventoryJsonSchemaText } from '../inventory/json-schema.ts';
import { profileJsonSchemaText } from '../schema/json-schema.ts';
import type { Io } from './context.ts';

/** The documents `gen schema` describes, each by the JSON Schema an editor checks it with. */
const SCHEMAS = { profile: profileJsonSchemaText, inventory: inventoryJsonSchemaText } as const;
export const SCHEMA_DOCUMENTS = Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[];

/** `gen schema [profile|inventory]`: the JSON Schema of one profile file or of an inventory, for
 * editors. It reads no file, so it takes no options. */
export async function runSchema(opts: { document: keyof typeof SCHEMAS }, io: Io): Promise<ExitCode> {
  io.stdout(SCHEMAS[opts.document]());
  return ExitCode.ok;
}
