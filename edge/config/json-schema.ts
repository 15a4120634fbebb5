/**
 * JSON Schema documents for editors (YAML language servers), generated from the same TypeBox
 * schemas the gateway validates with, with each protocol's connection and address schema filled in.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { DriverRegistry } from '../drivers/registry.js';
import { DeviceSchema, GatewayConfigSchema, ProfilePointSchema, ProfileSchema } from './schema.js';

/**
 * TypeBox keeps its metadata in symbol keys; a JSON round-trip leaves standard JSON Schema. Fields
 * that have a default are filled in by the gateway before validation, so editors must not demand
 * them: they are dropped from `required`.
 */
function plain(schema: TSchema): Record<string, unknown> {
  return relaxDefaults(JSON.parse(JSON.stringify(schema))) as Record<string, unknown>;
}

function relaxDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxDefaults);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = relaxDefaults(value);
  const properties = out.properties as Record<string, { default?: unknown }> | undefined;
  if (properties && Array.isArray(out.required)) {
    const required = (out.required as string[]).filter((name) => properties[name]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

export function gatewayConfigJsonSchema(registry: DriverRegistry): Record<string, unknown> {
  const variants = registry.protocols().map((protocol) => {
    const manifest = registry.get(protocol);
    return Type.Composite([Type.Omit(DeviceSchema, ['protocol', 'connection']), Type.Object({ protocol: Type.Literal(protocol), connection: manifest.connectionSchema })], {
      additionalProperties: false,
      description: `${protocol}: ${manifest.description}`,
    });
  });
  const devices = Type.Array(Type.Union(variants), { minItems: 1 });
  const schema = Type.Composite([Type.Omit(GatewayConfigSchema, ['devices']), Type.Object({ devices })], { additionalProperties: false, description: GatewayConfigSchema.description });
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: 'https://swarmgate.dev/schema/gateway-config.json', ...plain(schema) };
}

export function profileJsonSchema(registry: DriverRegistry): Record<string, unknown> {
  const families = new Map<string, TSchema>();
  for (const protocol of registry.protocols()) {
    const manifest = registry.get(protocol);
    families.set(manifest.profileProtocol, manifest.addressSchema);
  }
  const point = Type.Composite([Type.Omit(ProfilePointSchema, ['address']), Type.Object({ address: Type.Union([...families.values()]) })], { additionalProperties: false });
  const schema = Type.Composite([Type.Omit(ProfileSchema, ['points', 'protocol']), Type.Object({ protocol: Type.Union([...families.keys()].map((f) => Type.Literal(f))), points: Type.Array(point, { minItems: 1 }) })], {
    additionalProperties: false,
    description: ProfileSchema.description,
  });
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: 'https://swarmgate.dev/schema/device-profile.json', ...plain(schema) };
}
