/**
 * The `enrollment` section of the hub config: what a gateway that enrolls is told (broker URL and
 * CA; the fleet's release key comes from the releases section) and which template its first config comes from.
 */
import { Type, type Static } from '@sinclair/typebox';
import { InputPath } from '../config-paths.js';

const strict = { additionalProperties: false } as const;
const Duration = (description: string, dflt: string) => Type.String({ pattern: '^[1-9][0-9]{0,5}[smhd]$', default: dflt, description: `${description} (e.g. 30m, 12h, 7d)` });

export const EnrollmentConfigSchema = Type.Object(
  {
    hubUrl: Type.Optional(Type.String({ pattern: '^https?://', description: "The API's URL as gateways reach it (e.g. https://hub.example.com:8443); it goes into each token's claim URI and QR code" })),
    brokerUrl: Type.String({ pattern: '^(mqtts?|wss?)://', description: "The broker URL enrolled gateways connect to, as they reach it (e.g. mqtts://hub.example.com:8883)" }),
    brokerCaFile: Type.Optional(InputPath({ description: "PEM CA bundle of the broker's TLS certificate, handed to gateways" })),
    templatesDir: InputPath({ description: 'Folder of site templates: <site>.yaml, else default.yaml: the first gateway config (devices, polling, federation options) of a gateway of that site' }),
    defaultTtl: Duration('How long a new token is valid when none is given', '7d'),
    maxTtl: Duration('Longest validity a token may be given', '90d'),
  },
  { ...strict, description: 'Claim-based gateway enrollment (needs the embedded broker and the API)' },
);

export type EnrollmentConfig = Static<typeof EnrollmentConfigSchema>;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '7d' -> milliseconds; undefined for anything that is not <digits><s|m|h|d>. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,5})([smhd])$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}
