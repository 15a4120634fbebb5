/**
 * What the hub can check of a desired gateway config before it stores and publishes it: the
 * envelope every gateway config has (gateway id and site, a non-empty device list, each device
 * naming an id, protocol and profile). The full check (schema, profiles, driver manifests, rules)
 * needs the gateway's files and drivers and runs on the gateway, which reports every problem back
 * on config/reported. Anything the gateway accepts passes this (test/hub/gateway-config.test.ts).
 */
import { Type, type Static } from '@sinclair/typebox';

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'letters, digits, "_" and "-", at most 64 characters' });
const open = { additionalProperties: true } as const;

export const DesiredGatewayConfigSchema = Type.Object(
  {
    gateway: Type.Object({ id: Id, site: Id, name: Type.Optional(Type.String()) }, { additionalProperties: false }),
    devices: Type.Array(
      Type.Object({ id: Id, protocol: Type.String({ minLength: 1 }), profile: Type.String({ minLength: 1, description: 'path on the gateway' }) }, open),
      { minItems: 1 },
    ),
  },
  { ...open, description: 'the whole gateway config (as the YAML file would parse); the gateway checks the rest like `swarmgate edge check`' },
);

export type DesiredGatewayConfig = Static<typeof DesiredGatewayConfigSchema>;
