/** The `health:` section of gateway.yaml: the health agent's limits (every field has a default). */
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const HealthConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: no health agent (the systemd watchdog still runs)' })),
    intervalS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'How often the agent samples and acts' })),
    memoryBudgetMB: Type.Optional(
      Type.Integer({ minimum: 32, maximum: 65_536, default: 250, description: 'Resident memory the gateway should stay under; warn at 80 %, shed analytics above it (the unit caps at MemoryMax=300M)' }),
    ),
    minFreeDiskMB: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576, default: 200, description: 'Free space the data folder (outbox) needs; warn below twice this, critical below it' })),
    maxLoopDelayMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000, default: 250, description: 'Event-loop delay (p99 over one interval) above which the gateway is overloaded' })),
    deviceDownRestartS: Type.Optional(
      Type.Integer({ minimum: 10, maximum: 86_400, default: 600, description: 'A device down this long gets its driver restarted, at most once per this period' }),
    ),
    maxClockSkewS: Type.Optional(Type.Number({ minimum: 0.1, maximum: 86_400, default: 5, description: "Difference to the hub's clock (from its stored receipts) above which timestamps are suspect" })),
  },
  { ...strict, description: 'The health agent: watches the gateway process and remedies what it can before it escalates' },
);

export type HealthConfig = Static<typeof HealthConfigSchema>;

/** The limits with defaults applied. */
export interface HealthLimits {
  readonly intervalMs: number;
  readonly memoryBudgetBytes: number;
  readonly minFreeDiskBytes: number;
  readonly maxLoopDelayMs: number;
  readonly deviceDownRestartMs: number;
  readonly maxClockSkewMs: number;
}

const MB = 1024 * 1024;

export function healthLimits(config: HealthConfig = {}): HealthLimits {
  return {
    intervalMs: (config.intervalS ?? 30) * 1000,
    memoryBudgetBytes: (config.memoryBudgetMB ?? 250) * MB,
    minFreeDiskBytes: (config.minFreeDiskMB ?? 200) * MB,
    maxLoopDelayMs: config.maxLoopDelayMs ?? 250,
    deviceDownRestartMs: (config.deviceDownRestartS ?? 600) * 1000,
    maxClockSkewMs: (config.maxClockSkewS ?? 5) * 1000,
  };
}
