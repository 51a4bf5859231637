import * as z from 'zod';
import { PROFILE_NAME } from '../source/locate.ts';
import { SETTING_FACTS } from '../facts/settings.ts';
import { DMESG_RESTRICT_FACT, SYSCTL_FACTS } from '../facts/sysctl.ts';
import { SYSCTL_NAME, SYSCTL_SLASH_NAME } from '../facts/sysctl-names.ts';
import { compareVersions, KNOWN_VERSIONS } from '../facts/managers.ts';
import { RELEASES } from '../facts/targets.ts';
import { ProfileSchema } from './profile.ts';

/** A JSON Schema, as data. */
type JsonSchema = { [keyword: string]: unknown };

/** What a schema says about itself: a stable id, and which document it describes. */
interface SchemaHeader {
  id: string;
  title: string;
  description: string;
}

/** The part of a domain fact (src/facts/) a description is made of: the words `gen explain` prints. */
interface Fact {
  why: string;
  kernelDefault?: string | undefined;
  prevents?: string | undefined;
  source: string;
}

/**
 * The JSON Schema (draft 2020-12) of a zod schema, headed by `header`. Each property's description
 * is its domain fact's when `factAt` has one for its path (`*` stands for a map's key), else the
 * one the zod schema gives it; it comes first in the property, where a reader of the file looks.
 */
export function jsonSchemaOf(schema: z.ZodType, header: SchemaHeader, factAt: (path: string[]) => Fact | undefined = () => undefined) {
  const { $schema, ...body } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  const root: JsonSchema = { $schema, $id: header.id, title: header.title, description: header.description, ...body };
  forEachProperty(root, [], (property, path) => {
    const fact = factAt(path);
    const text = fact ? factText(fact) : property.description;
    if (typeof text === 'string') setDescription(property, text);
  });
  return root;
}

/** The schema as gen prints it and the committed file holds it. */
export function jsonSchemaText(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/**
 * Calls `visit` on every property of `schema`: the values of `properties`, a map's values
 * (`additionalProperties`, path segment `*`) and the properties of union branches (same path).
 */
function forEachProperty(schema: JsonSchema, path: string[], visit: (property: JsonSchema, path: string[]) => void): void {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const [key, property] of Object.entries(properties)) {
    visit(property, [...path, key]);
    forEachProperty(property, [...path, key], visit);
  }
  if (isSchema(schema.additionalProperties)) {
    visit(schema.additionalProperties, [...path, '*']);
    forEachProperty(schema.additionalProperties, [...path, '*'], visit);
  }
  for (const branch of (schema.anyOf ?? []) as JsonSchema[]) forEachProperty(branch, path, visit);
}

function isSchema(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Puts `text` as the first keyword of `schema`. */
function setDescription(schema: JsonSchema, text: string): void {
  const { description: _, ...rest } = schema;
  for (const key of Object.keys(schema)) delete schema[key];
  Object.assign(schema, { description: text }, rest);
}

/** A fact in the order `gen explain` shows it. */
function factText(fact: Fact): string {
  return [
    fact.why,
    fact.kernelDefault !== undefined ? `Kernel default: ${fact.kernelDefault}.` : undefined,
    fact.prevents !== undefined ? `Prevents "${fact.prevents}".` : undefined,
    `Source: ${fact.source}.`,
  ]
    .filter((s) => s !== undefined)
    .join(' ');
}

/** The fact behind a profile key, as `gen explain` finds it for the setting the key makes. */
function profileFactAt(path: string[]): Fact | undefined {
  if (path[0] === 'sysctl' && path.length === 2) return SYSCTL_FACTS[path[1]!];
  if (path.join('.') === 'dmesg_restrict') return DMESG_RESTRICT_FACT;
  // nics.ID.txqueuelen and bridge.txqueuelen: one fact, the setting explain calls txqueuelen.
  if (path.at(-1) === 'txqueuelen' && path.length > 1) return SETTING_FACTS.txqueuelen;
  // A pool's driver decides the packages first boot installs (explain: storage packages).
  if (path.length === 3 && path[0] === 'storage_pools' && path[2] === 'driver') return SETTING_FACTS['storage.packages'];
  const key = path.join('.');
  return Object.hasOwn(SETTING_FACTS, key) ? SETTING_FACTS[key] : undefined;
}

/**
 * The JSON Schema of ONE profile file as written, before `extends` and the other `--profile` files
 * of its stack are merged into it: what an editor checks through the `yaml-language-server`
 * modeline. It is the zod schema (the single source of truth) plus `extends`, which the resolver
 * consumes, and what the domain facts say of single values: the range of each known sysctl, the
 * known manager versions and target releases. Nothing is required in one file, because another
 * file of the stack may set it; what a whole stack must hold, and every rule across keys, is
 * checked by gen (src/schema/rules.ts). A test fails when the committed copy drifts.
 */
function profileJsonSchema(): JsonSchema {
  const schema = jsonSchemaOf(
    ProfileSchema,
    {
      id: 'urn:born-tuned:schema:profile',
      title: 'born-tuned profile',
      description:
        'One born-tuned profile file as written, before extends and the other --profile files of its stack are merged into it. Every key is optional in one file; the stack as a whole must set manager, target, capacity and dmesg_restrict, and gen checks the rules across keys.',
    },
    profileFactAt,
  );
  const properties = schema.properties as Record<string, JsonSchema>;
  // Another file of the stack may complete a mapping: maps merge, key by key.
  forEachProperty(schema, [], (property) => delete property.required);

  const manager = (properties.manager!.properties as Record<string, JsonSchema>).version!;
  manager.enum = [...new Set([...KNOWN_VERSIONS.lxd, ...KNOWN_VERSIONS.incus])].sort(compareVersions);
  const target = (properties.target!.properties as Record<string, JsonSchema>).release!;
  target.enum = [...new Set(Object.values(RELEASES).flat())];

  const sysctl = properties.sysctl!;
  // kernel.dmesg_restrict is set by the top-level dmesg_restrict, which records the choice.
  sysctl.propertyNames = {
    pattern: `(?:${SYSCTL_NAME.source})|(?:${SYSCTL_SLASH_NAME.source})`,
    not: { enum: ['kernel.dmesg_restrict', 'kernel/dmesg_restrict'] },
  };
  for (const [key, value] of Object.entries(sysctl.properties as Record<string, JsonSchema>)) {
    const fact = SYSCTL_FACTS[key]!;
    const numbers = Array.from({ length: fact.components }, () => '\\d{1,16}').join(' ');
    const typed: JsonSchema[] = [
      ...(fact.components === 1 ? [{ type: 'integer', minimum: fact.min, maximum: fact.max }] : []),
      { type: 'string', pattern: `^${numbers}$` },
    ];
    // The long forms stay: {value, mode} with the value typed as above, and {from_host, word}.
    const forms = (value.anyOf as JsonSchema[]).filter((form) => form.type === 'object');
    for (const form of forms) {
      const properties = form.properties as Record<string, JsonSchema>;
      if (properties.value) properties.value = { description: properties.value.description, anyOf: typed };
    }
    value.anyOf = [...typed, ...forms];
  }

  schema.properties = {
    extends: {
      description: 'Parent profile(s), merged first, in order (names of files in the profiles directory).',
      anyOf: [
        { type: 'string', pattern: PROFILE_NAME.source },
        { type: 'array', items: { type: 'string', pattern: PROFILE_NAME.source } },
      ],
    },
    ...properties,
  };
  return schema;
}

/** The profile schema as the committed file holds it. */
export function profileJsonSchemaText(): string {
  return jsonSchemaText(profileJsonSchema());
}
