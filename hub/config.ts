/**
 * The hub config file (`swarmgate hub --config FILE`): schema, defaults and a loader whose every
 * problem names file, line, column and field. Relative paths resolve by one rule (config-paths.ts):
 * what the hub reads against the file's folder, what it writes in the service state directory.
 */
import { SourceFile, formatProblem, readConfigFile, unreadableReason, validateAt, type ConfigProblem } from '../shared/kit/config-file.js';
import { isAbsolute, resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../shared/kit/errors.js';
import { InputPath, StatePath, resolveConfigPaths } from './config-paths.js';
import { holdsData } from '../shared/kit/state-dir.js';
import { MAX_PAYLOAD_BYTES } from '../shared/wire/codec.js';
import { EnrollmentConfigSchema } from './enrollment/schema.js';
import { tlsFileProblems } from './tls-files.js';
import { POSTGRES_SCHEMA_NAME_PATTERN, POSTGRES_SCHEMA_NAME_RULE } from './store/postgres/schema-name.js';

const strict = { additionalProperties: false } as const;
const Port = (description: string, dflt?: number) => Type.Integer({ minimum: 0, maximum: 65535, description, ...(dflt === undefined ? {} : { default: dflt }) });

export { HUB_STATE_DIRECTORY } from './config-paths.js';

export const EmbeddedBrokerSchema = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0', description: 'Address to listen on' }),
    port: Port('MQTT over TCP (0 = ephemeral, for tests)', 1883),
    tls: Type.Optional(
      Type.Object(
        { port: Port('MQTT over TLS', 8883), certFile: InputPath({ description: 'PEM certificate chain' }), keyFile: InputPath({ description: 'PEM private key' }) },
        { ...strict, description: 'Optional TLS listener' },
      ),
    ),
    ws: Type.Optional(Type.Object({ port: Port('MQTT over WebSocket', 8080) }, { ...strict, description: 'Optional WebSocket listener' })),
    credentialsFile: InputPath({
      description:
        'YAML file of broker users with scrypt password hashes (`swarmgate hub user add`). Enrollment adds users to it, so with enrollment it must be in a folder the hub may write: under the shipped systemd units give it absolute in the state directory, /var/lib/swarmgate-hub/users.yaml',
    }),
  },
  { ...strict, description: 'The broker built into the hub (aedes)' },
);

export const ExternalBrokerSchema = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://', description: 'e.g. mqtt://127.0.0.1:1883' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String({ description: 'Falls back to env SWARMGATE_HUB_MQTT_PASSWORD' })),
    shareGroup: Type.String({ default: 'swarmgate-hub', pattern: '^[A-Za-z0-9_-]+$', description: 'Shared-subscription group: hub processes in one group split the load' }),
    clientId: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-]{1,64}$',
        description:
          'MQTT client id of this hub process, stable across restarts so the broker keeps its session (and the messages queued while it is down). ' +
          'Default swarmgate-hub-<hostname>-<shareGroup>. Several hub processes on one host must each set a distinct id: the broker disconnects a client when another connects with its id',
      }),
    ),
    // No `default:` keyword: an omitted value is read as true by startHub, and parsed configs keep their shape.
    persistentSession: Type.Optional(
      Type.Boolean({
        description:
          'Default true. Connect with a persistent session (MQTT clean session off): the broker keeps the subscriptions and queues QoS 1 messages while the hub is down or restarting. ' +
          'Gateways keep telemetry until the hub receipts it as stored, so with false what they publish during a hub outage is sent again once the hub is back, at the cost of resending. ' +
          'Needs a broker that delivers shared subscriptions to persistent sessions (Mosquitto 2 does; the swarmgate embedded broker run on its own does not: set false there)',
      }),
    ),
    stallAfterS: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86_400,
        description:
          'Default 120. When the ingest subscriptions deliver nothing for this long while gateways are online, the hub logs an error, counts it (swarmgate_hub_ingest_stalls_total) and subscribes again. 0 turns the watchdog off',
      }),
    ),
  },
  { ...strict, description: 'An existing broker such as Mosquitto' },
);

export const NatsBrokerSchema = Type.Object(
  {
    servers: Type.Array(Type.String({ pattern: '^(nats|tls)://' }), { minItems: 1, description: 'Client URLs of the NATS nodes, e.g. [nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222]; the hub fails over between them' }),
    mqttUrl: Type.String({
      pattern: '^(mqtts?|tcp|ssl)://',
      description: "The NATS MQTT listener the hub publishes through (stored receipts, commands, gateway configs) and receives the gateways' retained state on; gateways connect to the same listeners",
    }),
    username: Type.Optional(Type.String({ description: 'NATS user of the hub (NATS and MQTT connections)' })),
    password: Type.Optional(Type.String({ description: 'Falls back to env SWARMGATE_HUB_NATS_PASSWORD' })),
    clientId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "MQTT client id of this hub process (clean session); default swarmgate-hub-<hostname>-<pid>" })),
    stream: Type.String({ default: 'SWARMGATE_INGEST', pattern: '^[A-Za-z0-9_-]+$', description: 'JetStream stream capturing the shared channels (work-queue retention); created by the first hub when missing' }),
    consumer: Type.String({ default: 'swarmgate-hub', pattern: '^[A-Za-z0-9_-]+$', description: 'Durable pull consumer every hub process of this fleet shares: each message goes to one hub' }),
    replicas: Type.Union([Type.Literal(1), Type.Literal(3), Type.Literal(5)], { default: 3, description: 'Stream replicas when a hub creates the stream (at most the number of NATS nodes); 3 survives the loss of one node' }),
    ackWaitS: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'A message not acknowledged this long after delivery (its hub died) goes to another hub' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 1024, default: 16, description: 'Messages one hub process handles at once' }),
    maxAckPending: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Messages handed out and not yet acknowledged, over all hub processes' }),
  },
  { ...strict, description: 'A NATS cluster with JetStream: gateways speak MQTT to its MQTT listener, hub processes share one durable consumer of a replicated stream' },
);

export const StoreConfigSchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('sqlite'),
      path: StatePath({ default: 'data/hub.db', keep: [':memory:'], description: 'SQLite file; telemetry is journaled in <path>.ingest/ until it is committed' }),
      flushMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000, description: 'Group-commit interval for telemetry, ms (default 5000; sooner once 200k readings or 32 MB are waiting)' })),
      fsync: Type.Optional(Type.Boolean({ description: 'fsync every journal append: acknowledged telemetry then survives power loss, not only a crash (default false, like SQLite synchronous=NORMAL)' })),
    },
    strict,
  ),
  Type.Object(
    {
      kind: Type.Literal('postgres'),
      url: Type.Optional(Type.String({ description: 'postgres://user@host:port/db; default env DATABASE_URL' })),
      schema: Type.String({ default: 'swarmgate', pattern: POSTGRES_SCHEMA_NAME_PATTERN, description: `Schema holding the tables: ${POSTGRES_SCHEMA_NAME_RULE}` }),
      journal: Type.Optional(
        StatePath({
          description:
            "This hub process's ingest journal folder (one per process): telemetry is acknowledged once journaled and written to PostgreSQL as per-point chunks every flushMs. Without it every batch is committed before it is acknowledged (slower, nothing held locally)",
        }),
      ),
      flushMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000, description: 'Interval of journaled writes to PostgreSQL, ms (default 2000; sooner once 200k readings wait)' })),
      fsync: Type.Optional(Type.Boolean({ description: 'fsync every journal append: acknowledged telemetry then survives power loss of the hub machine, not only a crash (default false)' })),
    },
    strict,
  ),
]);

export const ApiConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address the web API and review page listen on' }),
    port: Port('HTTP(S) port (0 = ephemeral, for tests)', 8080),
    tls: Type.Optional(
      Type.Object(
        { certFile: InputPath({ description: 'PEM certificate chain' }), keyFile: InputPath({ description: 'PEM private key' }) },
        { ...strict, description: 'Serve HTTPS (session cookies are then always Secure)' },
      ),
    ),
    session: Type.Object(
      {
        ttlHours: Type.Number({ exclusiveMinimum: 0, default: 12, description: 'Login sessions end this long after login' }),
        cookieName: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: 'swarmgate_session' }),
        secureCookie: Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('never')], {
          default: 'auto',
          description: 'Secure flag on the session cookie: auto = when served over TLS or behind an https proxy (trustProxy)',
        }),
      },
      { ...strict, default: {} },
    ),
    loginRateLimit: Type.Object(
      {
        max: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 5, description: 'Failed logins of one user name from one address in one window; then 429, right password included' }),
        windowS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
        perUser: Type.Object(
          {
            max: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20, description: 'Failed logins of one user name from any address in one window; then 429 except where the user logged in before' }),
            windowS: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
          },
          { ...strict, default: {} },
        ),
        perAddress: Type.Object(
          {
            max: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50, description: 'Failed logins from one address over any user names in one window; then 429 except for users who logged in from it before' }),
            windowS: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
          },
          { ...strict, default: {} },
        ),
        trustDays: Type.Number({ minimum: 0, maximum: 365, default: 30, description: 'A successful login exempts that user at that address from the perUser and perAddress limits this long' }),
      },
      { ...strict, default: {} },
    ),
    initialAdmin: Type.Object(
      {
        username: Type.String({ default: 'admin', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' }),
        passwordEnv: Type.String({ default: 'SWARMGATE_ADMIN_PASSWORD', description: 'Environment variable with the first admin password; used only while there are no users' }),
      },
      { ...strict, default: {} },
    ),
    corsOrigins: Type.Array(Type.String({ pattern: '^https?://' }), { default: [], description: 'Origins allowed to call the API from a browser (CORS); empty = off' }),
    trustProxy: Type.Boolean({ default: false, description: 'Trust X-Forwarded-* (behind a reverse proxy): client address for rate limits, https for Secure cookies' }),
  },
  { ...strict, description: 'Web API and the technicians\' review page' },
);

/**
 * The smallest broker.maxPayloadBytes the hub accepts: the wire's message limit, which gateways size
 * their messages to (a telemetry batch carries up to 192 KiB of readings plus its head,
 * edge/federation/telemetry.ts MAX_BATCH_BYTES). Below it the embedded broker refuses a gateway's
 * normal batch and closes its connection; the gateway sends that batch again first after
 * reconnecting, so nothing after it is delivered.
 */
export const MIN_BROKER_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES;

export const HubConfigSchema = Type.Object(
  {
    broker: Type.Object(
      {
        mode: Type.Union([Type.Literal('embedded'), Type.Literal('external'), Type.Literal('nats')], { default: 'embedded' }),
        embedded: Type.Optional(EmbeddedBrokerSchema),
        external: Type.Optional(ExternalBrokerSchema),
        nats: Type.Optional(NatsBrokerSchema),
        maxPayloadBytes: Type.Integer({ minimum: 1, default: MAX_PAYLOAD_BYTES, description: `Largest accepted message, bytes; at least ${MIN_BROKER_PAYLOAD_BYTES} (256 KiB, the wire limit gateways size their messages to)` }),
      },
      strict,
    ),
    store: Type.Optional(StoreConfigSchema),
    retention: Type.Object(
      {
        rawDays: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'Days raw readings are kept' }),
        rollups: Type.Array(
          Type.Object(
            { bucketS: Type.Integer({ minimum: 1, description: 'Bucket width in seconds' }), keepDays: Type.Number({ exclusiveMinimum: 0, description: 'Days this level is kept' }) },
            strict,
          ),
          { default: [{ bucketS: 300, keepDays: 365 }, { bucketS: 3600, keepDays: 1825 }] },
        ),
        intervalMinutes: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'How often retention runs' }),
      },
      { ...strict, default: {} },
    ),
    commands: Type.Object(
      {
        timeoutMs: Type.Integer({ minimum: 100, default: 30_000, description: 'Time for an ack before a retry or timing out' }),
        retries: Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'Re-publishes of the same command id before it times out' }),
      },
      { ...strict, default: {} },
    ),
    review: Type.Optional(
      Type.Object(
        {
          defaultExpiryMinutes: Type.Number({ exclusiveMinimum: 0, default: 480, description: 'How long a review item without its own expiry stays pending' }),
          evidenceWindowMinutes: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'Telemetry history attached to gateway review requests' }),
          sweepIntervalMs: Type.Integer({ minimum: 100, default: 5000, description: 'How often pending items are expired and approvals made elsewhere (CLI, other hub processes) are executed' }),
        },
        { ...strict, description: 'Technician review queue' },
      ),
    ),
    agents: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ default: false, description: 'Run the decision agents in this hub process' }),
          facilityModel: InputPath({ description: 'YAML file with the facility model (sites, zones, gateways, point roles)' }),
          threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.8, description: 'Decisions at or above this confidence run without review' }),
          evaluationIntervalS: Type.Number({ minimum: 0, default: 60, description: 'Evaluate every site this often (0: only on anomaly events)' }),
          settleMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Override how long the executor waits before checking an action took effect' })),
        },
        { ...strict, description: 'Hub decision agents (coordinator, specialists, executor)' },
      ),
    ),
    api: Type.Optional(ApiConfigSchema),
    enrollment: Type.Optional(EnrollmentConfigSchema),
    cluster: Type.Object(
      {
        leaseTtlS: Type.Integer({ minimum: 3, maximum: 600, default: 15, description: 'Leases of work done once (the agents of a site, retention) last this long without renewal: a dead hub process\'s work moves to another within it' }),
      },
      { ...strict, default: {}, description: 'Several hub processes on one store (PostgreSQL)' },
    ),
    releases: Type.Optional(
      Type.Object(
        {
          dir: StatePath({ minLength: 1, description: 'Where the hub keeps the release artifacts uploaded to it (one folder shared by all hub processes of a fleet)' }),
          publicKeyFile: InputPath({ minLength: 1, description: "The fleet's Ed25519 public key (release.pub from `swarmgate release keygen`): uploaded manifests must verify with it; enrollment pins it on gateways" }),
          publicUrl: Type.Optional(Type.String({ pattern: '^https?://', description: "Base URL gateways download releases from (the hub API as they reach it); default the API's own URL" })),
        },
        { ...strict, description: 'Software releases and deployments to gateways' },
      ),
    ),
  },
  { ...strict, description: 'Swarmgate hub configuration' },
);

export type HubConfig = Static<typeof HubConfigSchema> & { store: Static<typeof StoreConfigSchema> };
export type EmbeddedBrokerConfig = Static<typeof EmbeddedBrokerSchema>;
export type ExternalBrokerConfig = Static<typeof ExternalBrokerSchema>;
export type NatsBrokerConfig = Static<typeof NatsBrokerSchema>;
export type ApiConfig = Static<typeof ApiConfigSchema>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validation with precise messages for the store union: checked against the variant its kind names. */
function validate(source: SourceFile, value: unknown): ConfigProblem[] {
  const problems = validateAt(source, HubConfigSchema, value).filter((p) => !p.path.startsWith('store'));
  const store = isRecord(value) ? value.store : undefined;
  if (store === undefined) problems.push(source.problem(['store'], 'missing: give { kind: sqlite, path } or { kind: postgres, url }'));
  else if (!isRecord(store) || (store.kind !== 'sqlite' && store.kind !== 'postgres')) problems.push(source.problem(['store', 'kind'], 'expected sqlite or postgres'));
  else {
    const variant = StoreConfigSchema.anyOf[store.kind === 'sqlite' ? 0 : 1] as TSchema;
    problems.push(...validateAt(source, variant, store, ['store']));
  }
  if (problems.length > 0 || !isRecord(value) || !isRecord(value.broker)) return problems;
  const broker = value.broker;
  if (typeof broker.maxPayloadBytes === 'number' && broker.maxPayloadBytes < MIN_BROKER_PAYLOAD_BYTES)
    problems.push(
      source.problem(
        ['broker', 'maxPayloadBytes'],
        `${broker.maxPayloadBytes} is below ${MIN_BROKER_PAYLOAD_BYTES} (256 KiB), the wire limit gateways size their messages to (a telemetry batch carries up to 192 KiB of readings): the broker would refuse a gateway's normal batch and close its connection, and the gateway, sending that batch again first, would deliver nothing more. Give at least ${MIN_BROKER_PAYLOAD_BYTES}, or leave it out`,
      ),
    );
  if (broker.mode === 'embedded' && broker.embedded === undefined) problems.push(source.problem(['broker', 'embedded'], 'mode is embedded: give embedded.credentialsFile (and port)'));
  if (broker.mode === 'external' && broker.external === undefined) problems.push(source.problem(['broker', 'external'], 'mode is external: give external.url'));
  if (broker.mode === 'nats' && broker.nats === undefined) problems.push(source.problem(['broker', 'nats'], 'mode is nats: give nats.servers and nats.mqttUrl'));
  if (value.enrollment !== undefined && broker.mode !== 'embedded') problems.push(source.problem(['enrollment'], 'enrollment issues broker users in the embedded broker; with an external broker, add gateway users there (`swarmgate hub user add` + `swarmgate hub mosquitto`)'));
  if (value.enrollment !== undefined && value.api === undefined) problems.push(source.problem(['enrollment'], 'gateways enroll over the web API: add an api section'));
  if (isRecord(store) && store.kind === 'postgres' && !store.url && !process.env.DATABASE_URL) problems.push(source.problem(['store', 'url'], 'missing: set store.url or the DATABASE_URL environment variable'));
  return problems;
}

/**
 * Parses and validates hub config text; `file` names it in messages and anchors relative paths
 * (inputs next to it, state in the systemd state directory when `env` has one: config-paths.ts).
 */
export function parseHubConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): HubConfig {
  const parsed = SourceFile.parse(file, text);
  const source = parsed.source;
  if (!source) {
    const first = parsed.problems[0];
    throw new SwarmgateError('SWG_ERR_CONFIG_YAML', `${file}:${first?.line ?? 1}:${first?.column ?? 1}: ${first?.message ?? 'not YAML'}`);
  }
  const raw: unknown = source.value() ?? {};
  const withDefaults = Value.Default(HubConfigSchema, structuredClone(raw));
  const problems = validate(source, withDefaults);
  if (problems.length > 0) {
    const messages = problems.map(formatProblem);
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${problems.length} problem(s) in ${file}:\n${messages.join('\n')}`, { details: { problems: messages } });
  }
  const config = withDefaults as HubConfig;
  resolveConfigPaths(HubConfigSchema, config, file, { env });
  const moved = movedJournal(raw, config);
  if (moved) {
    const message = formatProblem(source.problem(['store', 'journal'], `a journal holding data is at ${moved} (earlier releases resolved a relative store.journal from the working directory); it may hold acknowledged telemetry not yet in PostgreSQL: move its files into ${(config.store as { journal: string }).journal}, or set store.journal to ${moved}`));
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `1 problem(s) in ${file}:\n${message}`, { details: { problems: [message] } });
  }
  if (config.store.kind === 'postgres') config.store.url ??= process.env.DATABASE_URL;
  const external = config.broker.external;
  if (external && external.password === undefined && process.env.SWARMGATE_HUB_MQTT_PASSWORD) external.password = process.env.SWARMGATE_HUB_MQTT_PASSWORD;
  const nats = config.broker.nats;
  if (nats && nats.password === undefined && process.env.SWARMGATE_HUB_NATS_PASSWORD) nats.password = process.env.SWARMGATE_HUB_NATS_PASSWORD;
  return config;
}

/**
 * A relative store.journal resolved from the working directory before it resolved by the config
 * path rule: a journal left there with data, where the rule's folder holds none, is that folder's
 * (acknowledged, unflushed telemetry); starting on an empty journal elsewhere would strand it.
 */
function movedJournal(raw: unknown, config: HubConfig): string | undefined {
  const given = isRecord(raw) && isRecord(raw.store) ? raw.store.journal : undefined;
  if (typeof given !== 'string' || isAbsolute(given) || config.store.kind !== 'postgres' || config.store.journal === undefined) return undefined;
  const before = resolve(given);
  return before !== config.store.journal && holdsData(before) && !holdsData(config.store.journal) ? before : undefined;
}

/** Loads `swarmgate hub --config FILE`; throws SWG_ERR_CONFIG_* naming every bad field, TLS files that are missing or swapped included. */
export function loadHubConfig(file: string): HubConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (cause) {
    if (isSwarmgateError(cause, 'SWG_ERR_CONFIG_FILE_REFUSED')) throw cause;
    throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read hub config ${path}: ${unreadableReason(cause) ?? errorMessage(cause)}`, { cause });
  }
  const config = parseHubConfig(text, path);
  const source = SourceFile.parse(path, text).source;
  const problems = source ? tlsFileProblems(source, config) : [];
  if (problems.length > 0) {
    const messages = problems.map(formatProblem);
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${problems.length} problem(s) in ${path}:\n${messages.join('\n')}`, { details: { problems: messages } });
  }
  return config;
}
