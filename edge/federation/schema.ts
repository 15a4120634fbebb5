/**
 * The `federation` section of the gateway config: how the gateway reaches the hub's MQTT broker,
 * how much it may keep on disk while the broker is away, and the opt-in building-system
 * integrations (plain per-point topics, Sparkplug B).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const strict = { additionalProperties: false } as const;

const SparkplugIdSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'Sparkplug id: letters, digits, "_", "-" and ".", no "/", "+" or "#"',
});

export const FederationTlsSchema = Type.Object(
  {
    ca: Type.Optional(Type.String({ description: 'Path of the PEM CA bundle that signed the broker certificate' })),
    cert: Type.Optional(Type.String({ description: 'Path of the PEM client certificate (mutual TLS)' })),
    key: Type.Optional(Type.String({ description: 'Path of the PEM private key of the client certificate' })),
    rejectUnauthorized: Type.Optional(Type.Boolean({ default: true, description: 'false only for lab brokers with self-signed certificates' })),
  },
  { ...strict, description: 'TLS settings; use an mqtts:// url' },
);

export const FederationMqttSchema = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|tcp|ssl|wss?)://', description: 'Broker url, e.g. mqtts://hub.example.com:8883' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    passwordFile: Type.Optional(Type.String({ description: 'Path of a file holding the password (mode 0600; what enrollment writes); instead of password' })),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'MQTT client id: the gateway id, which is the default (the hub binds a gateway\'s client id to its identity and refuses any other; the Sparkplug node uses <id>-spb). The session is kept across reconnects' })),
    keepaliveS: Type.Optional(Type.Integer({ minimum: 5, maximum: 3600, default: 30, description: 'MQTT keepalive in seconds' })),
    reconnectPeriodMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000, default: 5000, description: 'First reconnect attempt within this long (a random wait: a fleet does not come back in lockstep); the window doubles with each failed attempt up to reconnectMaxPeriodMs' })),
    reconnectMaxPeriodMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000, description: 'Longest wait between reconnect attempts (at least reconnectPeriodMs)' })),
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 })),
    inflight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Messages published and not yet acknowledged (PUBACK) at once' })),
    tls: Type.Optional(FederationTlsSchema),
  },
  { ...strict, description: 'Connection to the hub broker' },
);

export const FederationOutboxSchema = Type.Object(
  {
    maxBytes: Type.Optional(
      Type.Integer({ minimum: 256 * 1024, default: 64 * 1024 * 1024, description: 'Disk the outbox may use (database + write-ahead log); over it the oldest messages are dropped and a gap record is sent' }),
    ),
    maxAgeS: Type.Optional(Type.Integer({ minimum: 1, default: 7 * 24 * 3600, description: 'Messages older than this are dropped (with a gap record)' })),
    flushMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 60_000,
        default: 200,
        description: 'Readings wait in memory at most this long before one transaction writes them (a crash loses at most this window). 0 = strict: every reading is committed on arrival, at the cost of one disk write per reading',
      }),
    ),
    batchMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500, description: 'Readings per telemetry message at most (also flushes the buffer when reached)' })),
    batchMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000, default: 200, description: 'Strict mode (flushMs 0) only: how long committed readings collect before they become one telemetry message' })),
    deleteOn: Type.Optional(
      Type.Union([Type.Literal('stored'), Type.Literal('puback')], {
        default: 'stored',
        description: "When a message leaves the outbox: 'stored' on the hub's stored receipt (nothing is lost if the broker loses what it acknowledged); 'puback' on the broker's acknowledgement (only for a broker with no Swarmgate hub behind it)",
      }),
    ),
    storedTimeoutS: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: 30,
        description:
          "deleteOn 'stored': a message the broker acknowledged is sent again when no stored receipt came within this many seconds. While the hub sends no receipt at all and more than mqtt.inflight messages wait, only the longest-waiting mqtt.inflight are sent again, as a probe, and the wait doubles each time up to 5 minutes (or this, when longer); any receipt resets it",
      }),
    ),
    receiptWindow: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: "deleteOn 'stored': messages sent and not yet receipted by the hub at most; the rest wait in the outbox until receipts come (bounds what a hub outage leaves queued at the broker)" }),
    ),
  },
  { ...strict, description: 'Durable store-and-forward queue on the gateway' },
);

export const PlainTopicsSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Publish every reported reading retained on swarmgate/v1/<site>/<gateway>/points/<device>/<point>' }),
    writable: Type.Optional(Type.Boolean({ default: false, description: 'Accept writes on .../<point>/set for writable points (limits still apply)' })),
  },
  strict,
);

export const SparkplugSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Act as a Sparkplug B edge node on the same broker' }),
    groupId: SparkplugIdSchema,
    edgeNodeId: Type.Optional(SparkplugIdSchema),
    aliases: Type.Optional(Type.Boolean({ default: false, description: 'Give every metric an alias in the births and send DDATA by alias only (smaller messages; the host must support aliases)' })),
    primaryHostId: Type.Optional(Type.String({ pattern: SparkplugIdSchema.pattern, description: 'Sparkplug 3.0 primary host application id: births wait for its STATE online, and its STATE offline ends the session (NDEATH, reconnect, wait again)' })),
  },
  { ...strict, description: 'Sparkplug B edge node (edge node id defaults to the gateway id)' },
);

export const FederationConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: keep the section but do not connect' })),
    mqtt: FederationMqttSchema,
    outbox: Type.Optional(FederationOutboxSchema),
    stateIntervalS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, default: 60, description: 'Refresh the retained gateway state (health) this often; 0: only on connect' })),
    telemetryEncoding: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('binary')], {
        default: 'json',
        description:
          "Encoding of the telemetry batches on .../telemetry: 'json' (readable by any MQTT client) or 'binary' (the compact frame of shared/wire/telemetry-binary.ts, about a quarter of the bytes, decoded 4x faster by the hub; for a broker whose consumers are Swarmgate hubs). Plain topics and Sparkplug are not affected",
      }),
    ),
    integration: Type.Optional(
      Type.Object(
        { plainTopics: Type.Optional(PlainTopicsSchema), sparkplug: Type.Optional(SparkplugSchema) },
        { ...strict, description: 'Building-system integrations, off unless enabled' },
      ),
    ),
  },
  { ...strict, description: 'Federation with the hub over MQTT' },
);

export type FederationConfig = Static<typeof FederationConfigSchema>;

/** The config with every default filled in: what the federation modules work with. */
export interface ResolvedFederationConfig {
  readonly enabled: boolean;
  readonly mqtt: {
    readonly url: string;
    readonly username?: string;
    readonly password?: string;
    readonly passwordFile?: string;
    readonly clientId?: string;
    readonly keepaliveS: number;
    readonly reconnectPeriodMs: number;
    readonly reconnectMaxPeriodMs: number;
    readonly connectTimeoutMs: number;
    readonly inflight: number;
    readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized: boolean };
  };
  readonly outbox: { readonly maxBytes: number; readonly maxAgeS: number; readonly flushMs: number; readonly batchMax: number; readonly batchMs: number; readonly deleteOn: 'stored' | 'puback'; readonly storedTimeoutS: number; readonly receiptWindow: number };
  readonly stateIntervalS: number;
  readonly telemetryEncoding: 'json' | 'binary';
  readonly plainTopics?: { readonly writable: boolean };
  readonly sparkplug?: { readonly groupId: string; readonly edgeNodeId?: string; readonly primaryHostId?: string; readonly aliases?: boolean };
}

export function resolveFederationConfig(config: FederationConfig): ResolvedFederationConfig {
  const c = Value.Default(FederationConfigSchema, structuredClone(config)) as FederationConfig;
  const m = c.mqtt;
  const o = c.outbox ?? {};
  const plain = c.integration?.plainTopics;
  const spb = c.integration?.sparkplug;
  return {
    enabled: c.enabled ?? true,
    mqtt: {
      url: m.url,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      ...(m.passwordFile !== undefined ? { passwordFile: m.passwordFile } : {}),
      ...(m.clientId !== undefined ? { clientId: m.clientId } : {}),
      keepaliveS: m.keepaliveS ?? 30,
      reconnectPeriodMs: m.reconnectPeriodMs ?? 5000,
      reconnectMaxPeriodMs: Math.max(m.reconnectMaxPeriodMs ?? 60_000, m.reconnectPeriodMs ?? 5000),
      connectTimeoutMs: m.connectTimeoutMs ?? 10_000,
      inflight: m.inflight ?? 20,
      ...(m.tls ? { tls: { ...m.tls, rejectUnauthorized: m.tls.rejectUnauthorized ?? true } } : {}),
    },
    outbox: {
      maxBytes: o.maxBytes ?? 64 * 1024 * 1024,
      maxAgeS: o.maxAgeS ?? 7 * 24 * 3600,
      flushMs: o.flushMs ?? 200,
      batchMax: o.batchMax ?? 500,
      batchMs: o.batchMs ?? 200,
      deleteOn: o.deleteOn ?? 'stored',
      storedTimeoutS: o.storedTimeoutS ?? 30,
      receiptWindow: o.receiptWindow ?? 1000,
    },
    stateIntervalS: c.stateIntervalS ?? 60,
    telemetryEncoding: c.telemetryEncoding ?? 'json',
    ...(plain?.enabled ? { plainTopics: { writable: plain.writable ?? false } } : {}),
    ...(spb?.enabled
      ? {
          sparkplug: {
            groupId: spb.groupId,
            ...(spb.edgeNodeId ? { edgeNodeId: spb.edgeNodeId } : {}),
            ...(spb.primaryHostId ? { primaryHostId: spb.primaryHostId } : {}),
            ...(spb.aliases ? { aliases: true } : {}),
          },
        }
      : {}),
  };
}

/** A problem of the config with itself, for `edge check`: path segments inside the config file and what to do. */
export interface SparkplugConfigProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What in a gateway config cannot work as a Sparkplug node on a Swarmgate hub's broker. The
 * broker's ACL lets a gateway publish Sparkplug only as its own node (edge node id = gateway id),
 * in the group ids its credential carries (`hub user add … --sparkplug-group G`, default: its
 * site); `edge check` cannot see the credential, so the gateway logs the group it needs at start
 * and names it in every refusal.
 */
export function sparkplugConfigProblems(config: unknown): SparkplugConfigProblem[] {
  if (!isObject(config) || !isObject(config.federation) || !isObject(config.federation.integration)) return [];
  const spb = config.federation.integration.sparkplug;
  if (!isObject(spb) || spb.enabled !== true) return [];
  const at = (field: string): (string | number)[] => ['federation', 'integration', 'sparkplug', field];
  const problems: SparkplugConfigProblem[] = [];
  if (spb.groupId === 'STATE') problems.push({ path: at('groupId'), message: '"STATE" is reserved by Sparkplug for host application state (spBv1.0/STATE/<host>); choose another group id' });
  const gatewayId = isObject(config.gateway) ? config.gateway.id : undefined;
  if (typeof spb.edgeNodeId === 'string' && typeof gatewayId === 'string' && spb.edgeNodeId !== gatewayId) {
    problems.push({ path: at('edgeNodeId'), message: `must be the gateway id "${gatewayId}": the hub's broker lets a gateway publish Sparkplug only as its own edge node; remove it to use the default` });
  }
  return problems;
}
