/** The `update:` section of gateway.yaml: where releases are installed and how a new one must prove itself. */
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const UpdateConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: updates from the hub are refused (reported as failed)' })),
    installRoot: Type.String({
      minLength: 1,
      description: 'Folder holding releases/<version>/ and the `current` link the service runs (e.g. /opt/swarmgate); the gateway user must be able to write it',
    }),
    releaseKeyFile: Type.String({ minLength: 1, description: "The fleet's pinned Ed25519 public key (PEM); enrollment writes it. Releases not signed by it are refused" }),
    caFile: Type.Optional(Type.String({ description: "CA certificate (PEM) trusted for the hub's HTTPS downloads besides the system's" })),
    healthDeadlineSec: Type.Optional(
      Type.Integer({ minimum: 10, maximum: 86_400, default: 300, description: 'A new release must report healthy (connected, devices up, outbox draining) within this long after it first starts, else it is rolled back' }),
    ),
    healthyForSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 10, description: 'How long the new release must stay healthy, without a break, to be kept' })),
    maxBoots: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'Starts of a new release before it is rolled back even within the deadline (crash loops)' })),
    keepReleases: Type.Optional(Type.Integer({ minimum: 2, maximum: 20, default: 3, description: 'Release folders kept on disk (the current and previous ones always)' })),
  },
  { ...strict, description: 'Software updates from the hub: signed releases installed side by side, kept only once healthy' },
);

export type UpdateConfig = Static<typeof UpdateConfigSchema>;

export interface UpdateSettings {
  readonly enabled: boolean;
  readonly installRoot: string;
  readonly releaseKeyFile: string;
  readonly caFile?: string;
  readonly healthDeadlineMs: number;
  readonly healthyForMs: number;
  readonly maxBoots: number;
  readonly keepReleases: number;
}

/** Defaults applied; relative paths resolved against `base` (the config file's folder). */
export function updateSettings(config: UpdateConfig, resolvePath: (p: string) => string = (p) => p): UpdateSettings {
  return {
    enabled: config.enabled ?? true,
    installRoot: resolvePath(config.installRoot),
    releaseKeyFile: resolvePath(config.releaseKeyFile),
    ...(config.caFile ? { caFile: resolvePath(config.caFile) } : {}),
    healthDeadlineMs: (config.healthDeadlineSec ?? 300) * 1000,
    healthyForMs: (config.healthyForSec ?? 10) * 1000,
    maxBoots: config.maxBoots ?? 3,
    keepReleases: config.keepReleases ?? 3,
  };
}
