import * as z from 'zod';
import { PROFILE_NAME } from '../source/locate.ts';
import { ProfileSchema } from './profile.ts';

/**
 * The JSON Schema of the profile format, generated from the zod schema (the single source of truth)
 * plus `extends`, which the resolver consumes before validation. Editors use it through the
 * `yaml-language-server` modeline of each profile; a test fails when the committed copy drifts.
 */
function profileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ProfileSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown> & {
    properties: Record<string, unknown>;
  };
  schema.properties = {
    extends: {
      description: 'Parent profile(s), merged first, in order (names of files in the profiles directory).',
      anyOf: [
        { type: 'string', pattern: PROFILE_NAME.source },
        { type: 'array', items: { type: 'string', pattern: PROFILE_NAME.source } },
      ],
    },
    ...schema.properties,
  };
  return { title: 'born-tuned profile', ...schema };
}

/** The schema as the committed file holds it. */
export function profileJsonSchemaText(): string {
  return `${JSON.stringify(profileJsonSchema(), null, 2)}\n`;
}
