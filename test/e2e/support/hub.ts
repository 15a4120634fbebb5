/**
 * Hubs for the end-to-end suites, started the way `swarmgate hub --config` starts them (a config
 * parsed from YAML text, then startHub): embedded aedes broker with a credentials file, or an
 * external broker (the machine's Mosquitto, or a standalone embedded broker) with a unique share
 * group; the store on SQLite or on a throwaway PostgreSQL schema.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { upsertUser } from '../../../hub/broker/credentials.js';
import { parseHubConfig } from '../../../hub/config.js';
import { startHub, type Hub, type StartHubOptions } from '../../../hub/index.js';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { gatewayTopic } from '../../../shared/wire/index.js';

export const MOSQUITTO = { host: '127.0.0.1', port: 1883, url: 'mqtt://127.0.0.1:1883' } as const;
/** The CI database (the brief's DATABASE_URL); root has no PostgreSQL role, so the user is named. */
export const PG_URL = process.env.DATABASE_URL ?? process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Auth {
  readonly username?: string;
  readonly password?: string;
}

export interface CommandTiming {
  readonly timeoutMs?: number;
  readonly retries?: number;
}

/** Adds (or rotates) a gateway user confined to its own subtree; returns the credentials. */
export async function addGatewayUser(credentialsFile: string, site: string, gateway: string, password = `pw-${gateway}-${randomUUID().slice(0, 8)}`): Promise<Required<Auth>> {
  // Few Mosquitto hash iterations: the embedded broker checks the scrypt hash, tests stay fast.
  await upsertUser(credentialsFile, { role: 'gateway', username: gateway, site, gateway }, password, { mosquittoIterations: 101 });
  return { username: gateway, password };
}

export async function addHubUser(credentialsFile: string, username = 'hub-proc'): Promise<Required<Auth>> {
  const password = `pw-${username}-${randomUUID().slice(0, 8)}`;
  await upsertUser(credentialsFile, { role: 'hub', username }, password, { mosquittoIterations: 101 });
  return { username, password };
}

function commandsYaml(c: CommandTiming = {}): string {
  return `commands: { timeoutMs: ${c.timeoutMs ?? 5000}, retries: ${c.retries ?? 0} }\n`;
}

function storeYaml(storePath: string | undefined): string {
  return `store: { kind: sqlite, path: ${storePath ?? 'hub.db'} }\n`;
}

export interface EmbeddedHubOptions {
  /** Folder of hub.yaml, users.yaml and (by default) hub.db. */
  readonly dir: string;
  /** 0 = ephemeral; give the previous port to restart on it. */
  readonly port?: number;
  readonly storePath?: string;
  readonly commands?: CommandTiming;
  readonly maxPayloadBytes?: number;
  /** With the web API on an ephemeral port, its first admin `root` taking the password from this environment variable. */
  readonly apiAdminPasswordEnv?: string;
  readonly options?: StartHubOptions;
}

export function credentialsFile(dir: string): string {
  return join(dir, 'users.yaml');
}

export async function startEmbeddedHub(o: EmbeddedHubOptions): Promise<Hub> {
  const yaml =
    `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: ${o.port ?? 0}, credentialsFile: users.yaml }\n` +
    (o.maxPayloadBytes ? `  maxPayloadBytes: ${o.maxPayloadBytes}\n` : '') +
    storeYaml(o.storePath) +
    commandsYaml(o.commands) +
    (o.apiAdminPasswordEnv ? `api: { host: 127.0.0.1, port: 0, initialAdmin: { username: root, passwordEnv: ${o.apiAdminPasswordEnv} } }\n` : '');
  return startHub(parseHubConfig(yaml, join(o.dir, 'hub.yaml')), { retentionIntervalMs: 0, ...o.options });
}

/** Logs `root` in on the hub's web API; the session cookie to send. */
export async function adminCookie(hub: Hub, password: string): Promise<string> {
  const login = await fetch(`${hub.api?.url ?? ''}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password }) });
  if (login.status !== 200) throw new Error(`admin login on ${hub.api?.url ?? '(no API)'}: HTTP ${login.status}`);
  return (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

export interface ExternalHubOptions {
  readonly dir: string;
  readonly url: string;
  readonly auth?: Auth;
  /** Unique per run on a shared broker. */
  readonly shareGroup: string;
  /** broker.external.clientId; the hub keeps a persistent session under it (default derived from host and group). */
  readonly clientId?: string;
  /**
   * broker.external.persistentSession. Default: true on the machine's Mosquitto, false on any
   * other broker, i.e. a standalone embedded (aedes) broker, which stores a persistent session's
   * `$share/...` subscription under its outer name and so never delivers to it.
   */
  readonly persistentSession?: boolean;
  readonly storePath?: string;
  readonly commands?: CommandTiming;
  readonly options?: StartHubOptions;
}

/** Hubs started against the machine's Mosquitto whose persistent sessions cleanMosquitto drops. */
const mosquittoHubs = new Set<Hub>();

export async function startExternalHub(o: ExternalHubOptions): Promise<Hub> {
  const auth = o.auth?.username ? `, username: ${o.auth.username}, password: "${o.auth.password ?? ''}"` : '';
  const id = o.clientId ? `, clientId: ${o.clientId}` : '';
  const session = `, persistentSession: ${o.persistentSession ?? o.url === MOSQUITTO.url}`;
  const yaml = `broker:\n  mode: external\n  external: { url: "${o.url}", shareGroup: ${o.shareGroup}${auth}${id}${session} }\n` + storeYaml(o.storePath) + commandsYaml(o.commands);
  const hub = await startHub(parseHubConfig(yaml, join(o.dir, 'hub.yaml')), { retentionIntervalMs: 0, ...o.options });
  if (o.url === MOSQUITTO.url) mosquittoHubs.add(hub);
  return hub;
}

/** A PostgreSQL store in a schema of its own; drop() removes the schema and closes the pool. */
export async function openPostgresStore(): Promise<{ store: PostgresStore; drop(): Promise<void> }> {
  const schema = `swg_e2e_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const store = await PostgresStore.open({ url: PG_URL, schema });
  return {
    store,
    async drop() {
      await store.dropSchema().catch(() => undefined);
      await store.close();
    },
  };
}

/** Ends the session Mosquitto keeps for clientId (and its queued messages): a clean-session connect. */
export async function dropMosquittoSession(clientId: string): Promise<void> {
  const s = await mqtt.connectAsync(MOSQUITTO.url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 5000 }).catch(() => undefined);
  await s?.endAsync();
}

/**
 * Leaves the shared Mosquitto as it was: no retained state documents of these gateways and no
 * persistent sessions under their client ids, nor under those of hubs startExternalHub started
 * there and that have stopped since (hubs keep a persistent session in external mode).
 */
export async function cleanMosquitto(site: string, clientIds: readonly string[]): Promise<void> {
  const c = await mqtt.connectAsync(MOSQUITTO.url, { clientId: `swg-e2e-clean-${randomUUID().slice(0, 8)}`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    for (const id of clientIds) await c.publishAsync(gatewayTopic(site, id, 'state'), '', { qos: 1, retain: true });
  } finally {
    await c.endAsync();
  }
  for (const id of clientIds) await dropMosquittoSession(id);
  for (const hub of mosquittoHubs) {
    // A running hub would be thrown off by a connect under its id.
    if (!hub.mqtt.disconnected) continue;
    mosquittoHubs.delete(hub);
    const id = hub.mqtt.options.clientId;
    if (id) await dropMosquittoSession(id);
  }
}
