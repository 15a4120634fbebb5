/** A hub API over a temp SQLite store with real command, review and registry services; no broker. */
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { Accounts, buildApi, type Api, type Role } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { TrackRecordBook } from '../../hub/agents/learning/track-record.js';
import { CommandService } from '../../hub/commands/service.js';
import { HubEvents } from '../../hub/events.js';
import { featureMigrations } from '../../hub/features.js';
import { GatewayRegistry } from '../../hub/registry/registry.js';
import { ReviewService } from '../../hub/review/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import type { ApiConfig } from '../../hub/config.js';
import type { Registry } from 'prom-client';
import { facility } from '../agents/support.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { PointIndex } from '../../hub/registry/points.js';

export const PASSWORD = 'correct-horse-battery';
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

export interface Published {
  readonly topic: string;
  readonly payload: unknown;
}

export interface TestApi {
  readonly app: Api;
  readonly store: HubStore;
  readonly events: HubEvents;
  readonly commands: CommandService;
  readonly review: ReviewService;
  readonly trackRecords: TrackRecordBook;
  readonly published: Published[];
  /** Cookie header of a logged-in session per role. */
  readonly cookies: Record<Role, string>;
  /** Bearer header value of an API token per role. */
  readonly tokens: Record<Role, string>;
  close(): Promise<void>;
}

export async function login(app: Api, username: string, password = PASSWORD): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
}

export function cookieOf(res: LightMyRequestResponse): string {
  const raw = res.headers['set-cookie'];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return String(first ?? '').split(';')[0] ?? '';
}

export async function makeApi(options: { config?: Partial<ApiConfig>; webDir?: string; metrics?: Registry; store?: HubStore } = {}): Promise<TestApi> {
  const dir = tempDir('swarmgate-api-');
  const store = options.store ?? SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
  const events = new HubEvents();
  const published: Published[] = [];
  // The simulated gateway's acks still in flight: close() waits for them, so none reaches a store
  // already closed (or a PostgreSQL schema already dropped) as an unhandled rejection.
  const acking = new Set<Promise<unknown>>();
  const registry = new GatewayRegistry({ store, events });
  const commands = new CommandService({
    store,
    events,
    timeoutMs: 60_000,
    retries: 0,
    // Plays the gateway: every command is acknowledged as applied right after it is published.
    publish: async (topic, payload) => {
      const command = JSON.parse(payload.toString()) as { id: string };
      published.push({ topic, payload: command });
      const gateway = topic.split('/')[3] ?? '';
      const ack = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => commands.handleAck('', gateway, { v: 1, id: command.id, ts: Date.now(), status: 'applied' }))
        .finally(() => acking.delete(ack));
      acking.add(ack);
    },
  });
  // As startHub wires it: a modified write is checked against the point index's births.
  const review = await ReviewService.open({ store, commands, writes: new PointIndex(sqlFor(store)) });
  const trackRecords = new TrackRecordBook();
  await trackRecords.record('energy-1', 'energy', 'technician-approved');
  const app = await buildApi({
    store,
    commands,
    registry,
    events,
    review,
    agents: { trackRecords, facility: facility(), agents: () => [{ id: 'energy-1', domain: 'energy', vetoAuthority: false }] },
    config: options.config,
    metrics: options.metrics,
    scryptCost: FAST_SCRYPT,
    webDir: options.webDir ?? `${dir.path}/no-web`,
    heartbeatMs: 200,
  });
  const roles: Role[] = ['viewer', 'technician', 'admin'];
  const cookies = {} as Record<Role, string>;
  const tokens = {} as Record<Role, string>;
  const acc = new Accounts(sqlFor(store), { sessionTtlMs: 3_600_000, scryptCost: FAST_SCRYPT });
  for (const role of roles) {
    await acc.createUser(role, role, PASSWORD);
    cookies[role] = cookieOf(await login(app, role));
    tokens[role] = `Bearer ${(await acc.createToken(`t-${role}`, role, 'test')).token}`;
  }
  return {
    app,
    store,
    events,
    commands,
    review,
    trackRecords,
    published,
    cookies,
    tokens,
    close: async () => {
      await app.close();
      await Promise.all(acking);
      commands.stop();
      await review.stop();
      if (!options.store) await store.close();
      dir.remove();
    },
  };
}

/** Seeds a gateway (online) with a few readings. */
export async function seedGateway(t: TestApi, gateway = 'gw-1', site = 'site-a', now = Date.now()): Promise<void> {
  await t.store.upsertGateway({ gateway, site, status: 'online', lastSeen: now, stateTs: now, version: '1.2.3', health: { outboxDepth: 0, outboxBytes: 0, rssBytes: 50_000_000, uptimeS: 100 } }, now);
  await t.store.ingestBatch({
    v: 1,
    gateway,
    bootId: 'boot-0001',
    seq: 1,
    sentAt: now,
    historical: false,
    readings: Array.from({ length: 60 }, (_, i) => ({ d: 'ahu1', p: 'temp', v: 20 + i / 10, q: 'good' as const, ts: now - (60 - i) * 60_000 })),
  });
}

/** A pending review item; one per gateway and action, so several on one gateway need other `value`s. */
export async function seedReview(t: TestApi, id = 'rv-1', priority = 50, gateway = 'gw-1', value = 21, target: { device: string; point: string } = { device: 'ahu1', point: 'setpoint' }): Promise<void> {
  const now = Date.now();
  await t.review.submit({
    id,
    site: 'site-a',
    gateway,
    priority,
    source: 'gateway',
    actionClass: 'setpoint',
    action: { kind: 'write', ...target, value },
    confidence: 0.6,
    rationale: 'zone is 2 K above its band',
    evidence: { telemetry: [{ device: 'ahu1', point: 'temp', samples: [{ ts: now - 60_000, value: 23 }, { ts: now, value: 24 }] }], votes: [], dissent: [] },
  });
}

export interface ApiOnStore {
  readonly name: string;
  /** false when the store's server is not reachable (the suite skips, or fails under CI). */
  readonly enabled: boolean;
  open(): Promise<{ t: TestApi; cleanup: () => Promise<void> }>;
}

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

/** The API on SQLite and on PostgreSQL (a schema of its own, dropped at cleanup), for suites that run on both. */
export const API_STORES: readonly ApiOnStore[] = [
  {
    name: 'SQLite',
    enabled: true,
    open: async () => {
      const t = await makeApi();
      return { t, cleanup: () => t.close() };
    },
  },
  {
    name: 'PostgreSQL',
    enabled: pgAvailable,
    open: async () => {
      const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, migrations: featureMigrations('postgres') });
      const t = await makeApi({ store });
      return {
        t,
        cleanup: async () => {
          await t.close();
          await store.dropSchema();
          await store.close();
        },
      };
    },
  },
];
