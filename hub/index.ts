/**
 * The hub: embedded or external broker, store, ingest, gateway registry and command tracking,
 * wired from a HubConfig. `swarmgate hub --config FILE` calls loadHubConfig then startHub.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { SwarmgateError, errorMessage } from '../shared/kit/errors.js';
import { createLogger, type Logger } from '../shared/kit/log.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { HubMetrics } from './metrics.js';
import { CommandService } from './commands/service.js';
import type { HubConfig } from './config.js';
import { HubEvents } from './events.js';
import { GatewayConfigService } from './gateway-config/service.js';
import { DeploymentService, ReleaseService } from './releases/index.js';
import { readPublicKey } from '../shared/release/signing.js';
import { WorkOrderService } from './work-orders/service.js';
import { EnrollmentService } from './enrollment/service.js';
import { enrollmentSettings } from './enrollment/settings.js';
import { CredentialsFileIssuer } from './broker/gateway-credentials.js';
import { credentialsFolderProblem } from './broker/credentials.js';
import { Leases } from './leases/leases.js';
import { LiveFeed } from './live/feed.js';
import { startPgRelay } from './live/pg-relay.js';
import { QuarantineService } from './quarantine/service.js';
import { IncidentService } from './incidents/service.js';
import { PriorService } from './priors/service.js';
import { sqlFor } from './db/sql.js';
import { INGEST_CHANNELS, Ingest } from './ingest/ingest.js';
import { openIngestSource, type IngestSource } from './ingest/sources/index.js';
import { gatewayTopic, parseTopic } from '../shared/wire/topics.js';
import { encode } from '../shared/wire/codec.js';
import { FleetPriorMessageSchema } from '../shared/wire/detector-prior.js';
import { GatewayRegistry } from './registry/registry.js';
import { PointIndex } from './registry/points.js';
import { AgentService, loadFacilityModel, type AgentServiceOptions } from './agents/runtime/index.js';
import { trimAgentState } from './agents/runtime/state.js';
import { connectGatewayReviews, ReviewService } from './review/index.js';
import type { RunningApi } from './api/index.js';
import { applyFeatureMigrations, openHubStore } from './features.js';
import { PostgresStore, SqliteStore } from './store/index.js';
import type { HubStore, RetentionPolicy } from './store/types.js';

export interface StartHubOptions {
  /** Use this store instead of opening config.store (the caller closes it). */
  readonly store?: HubStore;
  readonly logger?: Logger;
  /**
   * MQTT client id of this hub process. Default: embedded mode swarmgate-hub-<random>; external
   * mode broker.external.clientId, else defaultHubClientId(shareGroup).
   */
  readonly clientId?: string;
  /** Sites this process ingests (default all). */
  readonly sites?: readonly string[];
  /** Run retention on this interval; default from config.retention.intervalMinutes, 0 disables. */
  readonly retentionIntervalMs?: number;
  /** Time to live of this process's leases (default config.cluster.leaseTtlS). */
  readonly leaseTtlMs?: number;
  /** Overrides for the agent service (tests: agents, settling, vote timeout, facility). */
  readonly agents?: Partial<Omit<AgentServiceOptions, 'store' | 'events' | 'commands' | 'review'>>;
}

export interface Hub {
  readonly config: HubConfig;
  readonly store: HubStore;
  /** Present in embedded mode. */
  readonly broker?: EmbeddedBroker;
  /** The hub's own MQTT connection (ingest subscriptions, command publishes). */
  readonly mqtt: MqttClient;
  readonly ingest: Ingest;
  readonly registry: GatewayRegistry;
  readonly commands: CommandService;
  /** Subscribe to events, review requests, acks, gateway status and command changes. */
  readonly events: HubEvents;
  readonly metrics: HubMetrics;
  /** The technician review queue (gateway requests and the agents' low-confidence decisions). */
  readonly review: ReviewService;
  /** Present when config.agents.enabled. */
  readonly agents?: AgentService;
  /** Desired/reported gateway configs; present on the SQLite and PostgreSQL stores. */
  readonly configs?: GatewayConfigService;
  /** Maintenance work orders the agents raised. */
  readonly workOrders: WorkOrderService;
  /** The leases this process holds: the agents of a site (agents:<site>) and retention run where their lease is. */
  readonly leases: Leases;
  /** Enrollment tokens and enrolled gateways; enrolls only with config.enrollment (embedded broker). */
  readonly enrollment: EnrollmentService;
  /** Messages ingest refused, kept for inspection. */
  readonly quarantine: QuarantineService;
  /** The emergence monitor: anomaly events grouped into fleet and equipment incidents. */
  readonly incidents: IncidentService;
  /** What the API's live stream sends (status changes summed up in bursts; other processes' changes on a shared PostgreSQL store). */
  readonly live: LiveFeed;
  /** The web API and review page, present when config.api is set. */
  readonly api?: RunningApi;
  /** Software releases and deployments; present on the SQLite and PostgreSQL stores. */
  readonly releases?: ReleaseFeature;
  stop(): Promise<void>;
}

export const DEFAULT_SHARE_GROUP = 'swarmgate-hub';

/**
 * The external-mode client id when the config gives none: swarmgate-hub-<host>-<group>, limited to
 * [A-Za-z0-9_-] and 64 characters (a shortened id ends in a hash of the full one, so two long
 * names stay apart). Stable across restarts, which the broker-side session needs; two hub
 * processes on one host in one group would share it, so they must configure their own.
 */
export function defaultHubClientId(shareGroup: string, host: string = hostname()): string {
  const full = `swarmgate-hub-${host}-${shareGroup}`.replace(/[^A-Za-z0-9_-]+/g, '_');
  if (full.length <= 64) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, 55)}-${hash}`;
}

/** Resolves on CONNACK; rejects (and ends the client) on the first connection error. */
function whenConnected(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = (): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
    };
    const onConnect = (): void => {
      off();
      resolve();
    };
    const onError = (err: Error): void => {
      off();
      client.end();
      reject(err);
    };
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

/** What every start step shares: the config, the hub-wide pieces, and the shutdown list (run in reverse). */
interface StartContext {
  readonly config: HubConfig;
  readonly options: StartHubOptions;
  readonly log: Logger;
  readonly metrics: HubMetrics;
  readonly events: HubEvents;
  readonly cleanups: (() => Promise<void>)[];
}

/** Where the hub's MQTT connection is, and how it connects. */
interface BrokerLink {
  /** Present in embedded mode. */
  readonly broker?: EmbeddedBroker;
  readonly url: string;
  readonly auth: { username?: string; password?: string };
  readonly shareGroup: string;
  readonly clientId: string;
  readonly persistent: boolean;
  /** Embedded mode: the broker hands gateways' messages to this ingest before the PUBACK, once it is set. */
  readonly handOff: { ingest?: Ingest };
  /** NATS mode: the shared channels come from this source (a JetStream consumer), not MQTT subscriptions. */
  readonly source?: IngestSource;
}

/** The hub's MQTT client, set once the services that publish through it exist. */
interface MqttLink {
  client?: MqttClient;
}

type HubServices = Pick<Hub, 'registry' | 'commands' | 'review' | 'workOrders' | 'quarantine' | 'enrollment' | 'incidents'> & { readonly points: PointIndex };

/** The store with every feature's tables: opened here (and closed at stop), or the caller's, migrated. */
async function openStoreWithFeatures(ctx: StartContext): Promise<HubStore> {
  const { config, options, log, metrics, cleanups } = ctx;
  const retention: RetentionPolicy = { rawDays: config.retention.rawDays, rollups: config.retention.rollups };
  const store = options.store ?? (await openHubStore(config.store, { retention, logger: log.child({ part: 'store' }) }));
  if (store instanceof SqliteStore || store instanceof PostgresStore) metrics.watchTelemetryStore(() => store.telemetryStats());
  if (!options.store) cleanups.push(() => store.close());
  else await applyFeatureMigrations(store);
  return store;
}

async function startBroker(ctx: StartContext): Promise<BrokerLink> {
  const { config, options, log, metrics, cleanups } = ctx;
  const handOff: { ingest?: Ingest } = {};
  if (config.broker.mode === 'embedded') {
    const e = config.broker.embedded;
    if (!e) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', 'broker.embedded is required in embedded mode');
    const clientId = options.clientId ?? `swarmgate-hub-${randomBytes(4).toString('hex')}`;
    const sites = options.sites ? new Set(options.sites) : undefined;
    const beforeAcknowledge = {
      holds: (topic: string): boolean => {
        const parsed = parseTopic(topic);
        return parsed !== undefined && INGEST_CHANNELS.has(parsed.rest) && (!sites || sites.has(parsed.site));
      },
      // Gateways are let in only once ingest exists (startClosed, then openBrokerGate).
      handle: (topic: string, payload: Buffer): Promise<boolean> => handOff.ingest?.handle(topic, payload) ?? Promise.resolve(false),
      consumerClientId: clientId,
    };
    const started = await startEmbeddedBroker({ host: e.host, port: e.port, tls: e.tls, ws: e.ws, credentialsFile: e.credentialsFile, maxPayloadBytes: config.broker.maxPayloadBytes, metrics, logger: log.child({ part: 'broker' }), startClosed: true, beforeAcknowledge });
    cleanups.push(() => started.close());
    // Embedded mode keeps clean sessions: its shared-subscription emulation relies on them, and
    // its gate (startClosed/open/seal) already keeps gateways out while ingest is not listening.
    return { broker: started, url: started.url, auth: started.internal, shareGroup: DEFAULT_SHARE_GROUP, clientId, persistent: false, handOff };
  }
  const n = config.broker.nats;
  if (config.broker.mode === 'nats') {
    if (!n) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', 'broker.nats is required in nats mode');
    // A clean MQTT session: what must outlive this process waits in the JetStream stream, not in an MQTT session.
    const clientId = options.clientId ?? n.clientId ?? `swarmgate-hub-${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 64);
    const source = openIngestSource(config.broker, clientId, log.child({ part: 'ingest-source' }));
    return { url: n.mqttUrl, auth: { username: n.username, password: n.password }, shareGroup: DEFAULT_SHARE_GROUP, clientId, persistent: false, handOff, source };
  }
  const x = config.broker.external;
  if (!x) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', 'broker.external is required in external mode');
  // A broker acknowledges a gateway's message whether or not a hub is subscribed, and the
  // gateway then deletes it; only a session that outlives this process (same client id,
  // clean: false) has the broker queue what arrives while the hub is down or restarting.
  const persistent = x.persistentSession ?? true;
  const clientId = options.clientId ?? x.clientId ?? defaultHubClientId(x.shareGroup);
  return { url: x.url, auth: { username: x.username, password: x.password }, shareGroup: x.shareGroup, clientId, persistent, handOff };
}

/** The registry, commands, the review queue and the features; the queue listens before ingest starts, so no review request is missed. */
async function startServices(ctx: StartContext, store: HubStore, link: BrokerLink, mqttLink: MqttLink, leases: Leases): Promise<HubServices> {
  const { config, log, events, cleanups } = ctx;
  const points = new PointIndex(sqlFor(store));
  const registry = new GatewayRegistry({ store, events, logger: log, points });
  const commands = new CommandService({
    store,
    events,
    timeoutMs: config.commands.timeoutMs,
    retries: config.commands.retries,
    logger: log.child({ part: 'commands' }),
    publish: async (topic, payload) => {
      const client = mqttLink.client;
      if (!client) throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub is not connected to ${link.url} yet; publish ${topic} again once it is`);
      await client.publishAsync(topic, payload, { qos: 1 });
    },
  });
  cleanups.push(async () => commands.stop());
  const review = await ReviewService.open({ store, commands, writes: points, defaultExpiryMs: (config.review?.defaultExpiryMinutes ?? 480) * 60_000, sweepIntervalMs: config.review?.sweepIntervalMs, log: log.child({ part: 'review' }) });
  cleanups.push(() => review.stop());
  const offReviews = connectGatewayReviews(events, review, store, { evidenceWindowMs: (config.review?.evidenceWindowMinutes ?? 60) * 60_000, log });
  cleanups.push(async () => offReviews());
  // Listens before ingest starts, like the review queue. With several hub processes on one store
  // the holder of the incidents lease groups: its own events live, the others' from the store.
  leases.want([INCIDENTS_LEASE]);
  await leases.renewAll(); // a lone hub groups from its first event
  const incidents = await IncidentService.open({
    sql: sqlFor(store), points, stored: store, leaseTerm: () => leases.term(INCIDENTS_LEASE), log: log.child({ part: 'incidents' }),
    gatewayVersion: async (gw) => (await registry.get(gw))?.version, fleetVersions: async () => versionCounts(await registry.list()),
  });
  incidents.connect(events);
  cleanups.push(() => incidents.stop());
  return { registry, points, commands, review, incidents, workOrders: new WorkOrderService(sqlFor(store)), quarantine: new QuarantineService(sqlFor(store), { maxPayloadBytes: config.broker.maxPayloadBytes }), enrollment: openEnrollment(ctx, store, link) };
}

/** Gateways per software version (the incidents' release hint). */
function versionCounts(gateways: readonly { readonly version?: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const g of gateways) if (g.version !== undefined) counts.set(g.version, (counts.get(g.version) ?? 0) + 1);
  return counts;
}

/** Enrollment: tokens always (CLI and API list them); enrolling gateways with config.enrollment and the embedded broker's credentials file. */
function openEnrollment(ctx: StartContext, store: HubStore, link: BrokerLink): EnrollmentService {
  const e = ctx.config.enrollment;
  const credentialsFile = ctx.config.broker.embedded?.credentialsFile;
  const accepting = e && credentialsFile && link.broker;
  if (accepting) {
    const problem = credentialsFolderProblem(credentialsFile);
    if (problem) {
      ctx.log.error(
        { file: credentialsFile, problem },
        `enrollment cannot issue broker credentials: ${problem}. Gateways that enroll are refused (503, token kept) until broker.embedded.credentialsFile is in a folder the hub may write ` +
          '(under the shipped systemd units: the state directory /var/lib/swarmgate-hub; /etc is read-only to the hub)',
      );
    }
  }
  return new EnrollmentService({
    sql: sqlFor(store),
    log: ctx.log.child({ part: 'enrollment' }),
    ...(accepting ? { settings: enrollmentSettings(e, ctx.config.api?.tls?.certFile, ctx.config.releases?.publicKeyFile), issuer: new CredentialsFileIssuer(credentialsFile, link.broker) } : {}),
  });
}

/** The agents, when configured; they listen before ingest starts, so no event is missed. */
/**
 * The leases of this process: with several hub processes on one store, the agents of each site
 * and retention run in one of them at a time. Released at stop, so another takes over at once.
 */
function openLeases(ctx: StartContext, store: HubStore): Leases {
  const leases = new Leases({ sql: sqlFor(store), ttlMs: ctx.options.leaseTtlMs ?? ctx.config.cluster.leaseTtlS * 1000, log: ctx.log.child({ part: 'leases' }) });
  ctx.cleanups.push(() => leases.stop());
  return leases;
}

export const siteLease = (site: string): string => `agents:${site}`;
const RETENTION_LEASE = 'maintenance:retention';
const INCIDENTS_LEASE = 'incidents';

async function startAgents(ctx: StartContext, store: HubStore, services: HubServices, leases: Leases): Promise<AgentService | undefined> {
  const { config, options, log, events, cleanups } = ctx;
  if (!config.agents?.enabled && !options.agents?.facility) return undefined;
  const a = config.agents;
  const facility = options.agents?.facility ?? (a ? loadFacilityModel(a.facilityModel) : undefined);
  if (!facility) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', 'agents need a facility model: set agents.facilityModel');
  const { commands, review, workOrders } = services;
  leases.want(facility.siteIds().map(siteLease));
  await leases.renewAll(); // a lone hub owns its sites before its first evaluation
  const agents = await AgentService.start({
    store, events, commands, review, workOrders, facility,
    ownsSite: (site) => leases.holds(siteLease(site)),
    offline: async (gateway) => (await services.registry.get(gateway))?.status === 'offline',
    ...(a ? { threshold: a.threshold, evaluationIntervalMs: a.evaluationIntervalS * 1000 } : {}),
    ...(a?.settleMinutes === undefined ? {} : { settleMs: a.settleMinutes * 60_000 }),
    log: log.child({ part: 'agents' }),
    ...options.agents,
  });
  cleanups.push(() => agents.stop());
  return agents;
}

/** Desired/reported gateway configs, undefined on a store without them. Desired configs are retained: a gateway that is offline now gets the latest on connect. */
function openGatewayConfigs(ctx: StartContext, store: HubStore, link: BrokerLink, mqttLink: MqttLink): GatewayConfigService | undefined {
  try {
    return new GatewayConfigService({
      sql: sqlFor(store),
      publish: async (topic, payload) => {
        const client = mqttLink.client;
        if (!client?.connected) throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub is not connected to ${link.url}; set the config again once it is`);
        await client.publishAsync(topic, payload, { qos: 1, retain: true });
      },
    });
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'remote gateway configuration is unavailable on this store');
    return undefined;
  }
}

export interface ReleaseFeature {
  readonly releases: ReleaseService;
  readonly deployments: DeploymentService;
}

/**
 * Releases and deployments, undefined on a store without them. Gateways download from
 * releases.publicUrl, else from the API's own URL (known once it listens: `apiUrl.url`).
 */
function openReleases(ctx: StartContext, store: HubStore, services: HubServices, link: BrokerLink, mqttLink: MqttLink, apiUrl: { url?: string }): ReleaseFeature | undefined {
  const r = ctx.config.releases;
  let sql;
  try {
    sql = sqlFor(store);
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'software releases are unavailable on this store');
    return undefined;
  }
  const releases = new ReleaseService({ sql, ...(r ? { dir: r.dir, publicKey: readPublicKey(r.publicKeyFile) } : {}) });
  const storage = releases.storageProblem();
  if (storage) ctx.log.error(storage.details, `${storage.message}. New releases and uploads are refused (503 SWG_ERR_RELEASE_STORAGE) until it can; artifacts already there are still served. ${storage.hint}`);
  const deployments = new DeploymentService({
    sql,
    releases,
    gateways: () => services.registry.list(),
    revoked: async () => new Map((await services.enrollment.listGateways()).flatMap((g) => (g.revokedAt === undefined ? [] : [[g.gateway, `gateway revoked at ${new Date(g.revokedAt).toISOString()}${g.revokedBy ? ` by ${g.revokedBy}` : ''}`] as const]))),
    baseUrl: () => r?.publicUrl ?? apiUrl.url,
    log: ctx.log.child({ part: 'deployments' }),
    events: ctx.events,
    publish: async (topic, payload, retain) => {
      const client = mqttLink.client;
      if (!client?.connected) throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub is not connected to ${link.url}; deploy again once it is`);
      await client.publishAsync(topic, payload, { qos: 1, retain });
    },
  });
  return { releases, deployments };
}

/** Connects the hub's MQTT client with ingest listening on it; resolves once connected and subscribed. */
async function startIngest(ctx: StartContext, store: HubStore, link: BrokerLink, mqttLink: MqttLink, services: HubServices, configs: GatewayConfigService | undefined, releases?: ReleaseFeature): Promise<{ mqttClient: MqttClient; ingest: Ingest }> {
  const { config, options, log, metrics, events, cleanups } = ctx;
  const { url, persistent } = link;
  // Ingest installs its message handler in the same synchronous run as mqtt.connect(), before
  // any packet can arrive: a resumed session's queued messages come right after CONNACK, and
  // MQTT.js' default handler would acknowledge them without storing them.
  // resubscribe: false: ingest subscribes again on every connect itself (MQTT.js would skip it
  // when the broker says the session is present, which Mosquitto says without shared subscriptions).
  // NATS's MQTT listener speaks 3.1.1 only.
  const mqttClient = mqtt.connect(url, { ...link.auth, clientId: link.clientId, clean: !persistent, reconnectPeriod: 2000, connectTimeout: 10_000, resubscribe: false, ...(link.source ? { protocolVersion: 4 as const } : {}) });
  mqttLink.client = mqttClient;
  mqttClient.on('error', (err) => log.warn({ err: err.message }, 'hub mqtt client error'));
  mqttClient.on('offline', () => log.warn({ url }, 'hub mqtt client offline; reconnecting'));
  cleanups.push(() => mqttClient.endAsync(true));
  const priors = new PriorService(sqlFor(store), Date.now, async (site, gateway, message) => {
    // QoS 1, not retained: a fleet prior is an answer to this gateway's request, inside its own subtree.
    // Sent from the service's background work, never from inside ingest: the PUBACK is read by this client.
    if (!mqttClient.connected) throw new SwarmgateError('SWG_ERR_HUB_BROKER', 'hub is not connected to its broker');
    await mqttClient.publishAsync(gatewayTopic(site, gateway, 'prior/fleet'), encode(FleetPriorMessageSchema, message), { qos: 1 });
  }, log.child({ part: 'priors' }));
  cleanups.push(() => priors.close()); // after ingest stopped (cleanups run in reverse), before the store closes
  const ingest = new Ingest({ client: mqttClient, store, events, registry: services.registry, acks: services.commands, ...(configs ? { configs } : {}), ...(releases ? { updates: releases.deployments } : {}), priors, quarantine: services.quarantine, shareGroup: link.shareGroup, sharedFromSource: link.source !== undefined, persistentSession: persistent, sites: options.sites, stallAfterMs: link.broker || link.source ? 0 : (config.broker.external?.stallAfterS ?? 120) * 1000, maxPayloadBytes: config.broker.maxPayloadBytes, metrics, logger: log.child({ part: 'ingest' }) });
  link.handOff.ingest = ingest;
  const subscribed = ingest.start(); // the handler is in place when this returns
  subscribed.catch(() => undefined); // awaited once connected; a failed connection rejects it
  cleanups.push(async () => {
    await ingest.stop();
    // What this process did, for operators and for the multi-hub tests that add up each hub's share.
    log.info({ ...ingest.stats, readingsStored: await metrics.count(metrics.readingsStored) }, 'ingest stopped');
  });
  await whenConnected(mqttClient).catch((err: unknown) => {
    throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub cannot connect to ${url}: ${errorMessage(err)}`, { cause: err });
  });
  await subscribed;
  const source = link.source;
  if (source) {
    // Started after the MQTT link, which sends the stored receipts; stopped before ingest (cleanups run in reverse).
    await source.start((topic, payload) => ingest.handle(topic, payload));
    cleanups.push(() => source.stop());
  }
  return { mqttClient, ingest };
}

/**
 * Embedded mode: gateways get in only while ingest listens. The broker's PUBACK lets a gateway
 * delete the message, so one accepted with nobody subscribed (hub starting or stopping) would be lost.
 */
function openBrokerGate(ctx: StartContext, link: BrokerLink): void {
  const gate = link.broker;
  if (!gate) return;
  gate.open();
  ctx.cleanups.push(async () => gate.seal());
}

/**
 * What the API's live stream sends: this process's changes and, with the API on a PostgreSQL store
 * that other hub processes may share, theirs (LISTEN/NOTIFY), so a browser on any process sees them all.
 */
async function openLiveFeed(ctx: StartContext, store: HubStore, services: HubServices, origin: string): Promise<LiveFeed> {
  const feed = new LiveFeed({ events: ctx.events, review: services.review, incidents: services.incidents });
  ctx.cleanups.push(async () => feed.close());
  const url = ctx.config.store.kind === 'postgres' ? ctx.config.store.url : undefined;
  if (ctx.config.api && store instanceof PostgresStore && url) {
    const sql = sqlFor(store);
    const relay = await startPgRelay({
      url,
      schema: store.schema,
      origin,
      feed,
      notify: async (channel, payload) => void (await sql.all('SELECT pg_notify(?, ?)', [channel, payload])),
      review: services.review,
      log: ctx.log.child({ part: 'live' }),
    });
    ctx.cleanups.push(() => relay.close());
  }
  return feed;
}

/** The web API and review page, when config.api is set. */
async function startWebApi(ctx: StartContext, store: HubStore, services: HubServices, agents: AgentService | undefined, configs: GatewayConfigService | undefined, releases: ReleaseFeature | undefined, live: LiveFeed): Promise<RunningApi | undefined> {
  const { config, options, log, metrics, events, cleanups } = ctx;
  if (!config.api) return undefined;
  const { startApi } = await import('./api/index.js'); // Fastify loads only when the API is configured
  let facility = options.agents?.facility;
  // Planning objectives needs the facility model; without a readable one the API still runs.
  if (!facility && config.agents) try { facility = loadFacilityModel(config.agents.facilityModel); } catch (err) { log.warn({ err: errorMessage(err) }, 'web API: no facility model, planning is unavailable'); }
  const { commands, registry, points, review, workOrders, quarantine, enrollment, incidents } = services;
  const api = await startApi({ store, commands, registry, events, review, metrics: metrics.registry, config: config.api, logger: log.child({ part: 'api' }), agents: { trackRecords: agents?.learning, facility }, workOrders, quarantine, enrollment, incidents, points, live, ...(configs ? { configs } : {}), ...(releases ? { releases: releases.releases, deployments: releases.deployments } : {}) });
  cleanups.push(api.close);
  return api;
}

/**
 * Retention, by one hub process at a time: the store's telemetry, then the agents' audit trail and
 * executed set (kept as many days as raw readings; trimAgentState says what stays longer).
 */
function scheduleRetention(ctx: StartContext, store: HubStore, leases: Leases): void {
  const { config, options, log, cleanups } = ctx;
  const everyMs = options.retentionIntervalMs ?? config.retention.intervalMinutes * 60_000;
  if (everyMs <= 0) return;
  leases.want([RETENTION_LEASE]);
  const sql = sqlFor(store);
  const run = async (): Promise<void> => {
    const now = Date.now();
    await store.retention(now).then(
      (r) => log.info(r, 'retention applied'),
      (err: unknown) => log.error({ err: errorMessage(err) }, 'retention failed'),
    );
    await trimAgentState(sql, now, config.retention.rawDays).then(
      (r) => log.info({ ...r, keepDays: config.retention.rawDays }, 'agent audit and executed set trimmed'),
      (err: unknown) => log.error({ err: errorMessage(err) }, 'agent audit and executed set retention failed'),
    );
  };
  let running: Promise<void> | undefined; // a slow run is not started again on top of itself
  const timer = setInterval(() => {
    if (running || !leases.holds(RETENTION_LEASE)) return; // another hub process runs retention
    running = run().finally(() => (running = undefined));
  }, everyMs);
  timer.unref();
  cleanups.push(async () => {
    clearInterval(timer);
    await running; // before the store closes
  });
}

/**
 * Starts the hub, one step after another; each step registers its own shutdown, and stop() (or a
 * failed start) runs them in reverse.
 */
export async function startHub(config: HubConfig, options: StartHubOptions = {}): Promise<Hub> {
  const log = options.logger ?? createLogger('hub');
  const ctx: StartContext = { config, options, log, metrics: new HubMetrics(), events: new HubEvents(log), cleanups: [] };
  const { metrics, events, cleanups } = ctx;
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'hub shutdown step failed'));
    cleanups.length = 0;
  };
  try {
    const store = await openStoreWithFeatures(ctx);
    const leases = openLeases(ctx, store);
    const link = await startBroker(ctx);
    // The MQTT connection is made once the services below exist (startIngest); commands are only
    // published after that (commands.resume(), agents on their interval or on ingested events).
    const mqttLink: MqttLink = {};
    const services = await startServices(ctx, store, link, mqttLink, leases);
    const agents = await startAgents(ctx, store, services, leases);
    const configs = openGatewayConfigs(ctx, store, link, mqttLink);
    const apiUrl: { url?: string } = {};
    const releases = openReleases(ctx, store, services, link, mqttLink, apiUrl);
    const { mqttClient, ingest } = await startIngest(ctx, store, link, mqttLink, services, configs, releases);
    openBrokerGate(ctx, link);
    await services.commands.resume();
    await services.review.start();
    const live = await openLiveFeed(ctx, store, services, leases.holder);
    const api = await startWebApi(ctx, store, services, agents, configs, releases, live);
    if (api) apiUrl.url = api.url;
    // The embedded broker keeps retained messages in memory: gateways told and not heard from are told again.
    if (link.broker && releases) await releases.deployments.republish().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'in-flight desired updates could not be published again'));
    scheduleRetention(ctx, store, leases);
    log.info({ broker: config.broker.mode, url: link.url, clientId: link.clientId, persistentSession: link.persistent, store: store.kind, ...(config.store.kind === 'sqlite' ? { storePath: config.store.path } : {}), ...(config.store.kind === 'postgres' && config.store.journal ? { journal: config.store.journal } : {}), ...(config.releases ? { releasesDir: config.releases.dir } : {}) }, 'hub started');
    let stopping: Promise<void> | undefined;
    return { config, store, broker: link.broker, mqtt: mqttClient, ingest, ...services, leases, events, metrics, agents, configs, live, api, ...(releases ? { releases } : {}), stop: () => (stopping ??= cleanup()) };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export { loadHubConfig, parseHubConfig, HubConfigSchema, type HubConfig } from './config.js';
export { HubEvents, type HubEventMap, type HubEventName, type HubListener } from './events.js';
export { Ingest, type IngestOptions, type IngestStats } from './ingest/ingest.js';
export { GatewayRegistry } from './registry/registry.js';
export { CommandService, type CreateCommand } from './commands/service.js';
export { HubMetrics } from './metrics.js';
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './broker/embedded.js';
export { upsertUser, removeUser, loadCredentials, type UserSpec } from './broker/credentials.js';
export { generatePassword } from './broker/passwords.js';
export { writeMosquittoFiles, resolveFileOwner, emitMosquittoAcl, emitMosquittoPasswordFile, emitMosquittoConf } from './broker/mosquitto.js';
export * from './store/index.js';
export { commandStoreConfig, openHubStore } from './features.js';
