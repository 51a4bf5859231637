import { jsonSchemaOf, jsonSchemaText } from '../schema/json-schema.ts';
import { InventorySchema } from './schema.ts';

/**
 * The JSON Schema of an inventory file (`gen --inventory`), generated from its zod schema. An
 * inventory is one file, read as written, so its required keys stay required; what involves
 * several hosts or the stacks they run (a MAC used twice, a group that is not defined, cluster
 * roles) is checked by gen. A test fails when the committed copy drifts.
 */
export function inventoryJsonSchemaText(): string {
  return jsonSchemaText(
    jsonSchemaOf(InventorySchema, {
      id: 'urn:born-tuned:schema:inventory',
      title: 'born-tuned inventory',
      description:
        "A born-tuned inventory (gen --inventory): hosts, optionally grouped, each with its profile stack, hostname, NICs with static addressing, cluster role and operators' cloud-config to fold in. Settings resolve host over group over defaults.",
    }),
  );
}
