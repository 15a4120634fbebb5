/**
 * Remote gateway configuration end to end: the API stores a desired config and publishes it
 * retained on the gateway's config/desired topic through the hub's embedded broker; a real gateway
 * (startEdgeApp with federation) installs it and reports; GET shows both documents.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { ConfigDocumentSchema, decode, type ConfigDocument } from '../../shared/wire/index.js';
import { addGatewayUser, addHubUser, credentialsFile } from '../e2e/support/hub.js';
import { tempDir } from '../support/tmp.js';
import { redactSecrets } from '../../shared/kit/secrets.js';

const AHU = fileURLToPath(new URL('../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const ADMIN_PW = 'remote-config-admin-pw';
const dir = tempDir('swg-hub-rcfg-');
let hub: Hub;
let edge: EdgeApp | undefined;
let cookie = '';
let configFile = '';
const restarts: number[] = [];

interface View {
  desired?: ConfigDocument;
  reported?: ConfigDocument;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${hub.api?.url ?? ''}${path}`, {
    method,
    headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function edgeYaml(url: string, auth: { username: string; password: string }, pollMs: number): string {
  const federation = { mqtt: { url, username: auth.username, password: auth.password, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 };
  return (
    `gateway: { id: gw-rc, site: site-rc }\n` +
    `dataDir: ${join(dir.path, 'data')}\n` +
    `polling: { defaultIntervalMs: ${pollMs} }\n` +
    `federation: ${JSON.stringify(federation)}\n` +
    `devices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: 127.0.0.1, port: 1, timeoutMs: 200, retries: 0 } }\n`
  );
}

beforeAll(async () => {
  process.env.SWG_TEST_RCFG_ADMIN_PW = ADMIN_PW;
  const yaml =
    `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml }\n` +
    `store: { kind: sqlite, path: hub.db }\n` +
    `api: { host: 127.0.0.1, port: 0, initialAdmin: { username: root, passwordEnv: SWG_TEST_RCFG_ADMIN_PW } }\n`;
  hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
  const login = await fetch(`${hub.api?.url ?? ''}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: ADMIN_PW }) });
  expect(login.status).toBe(200);
  cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const auth = await addGatewayUser(credentialsFile(dir.path), 'site-rc', 'gw-rc');
  configFile = join(dir.path, 'gateway.yaml');
  writeFileSync(configFile, edgeYaml(hub.broker?.url ?? '', auth, 5000));
  edge = await startEdgeApp(loadConfig(configFile, builtinDrivers()), builtinDrivers(), { onRestart: (v) => restarts.push(v) });
}, 120_000);

afterAll(async () => {
  await edge?.stop(true);
  await hub?.stop();
  delete process.env.SWG_TEST_RCFG_ADMIN_PW;
  dir.remove();
});

describe('remote gateway configuration through the hub', () => {
  it('PUT publishes the desired config retained; the gateway installs it and GET shows desired and reported', async () => {
    // On connect the gateway reports the running version.
    const running = await until('running report', async () => {
      const r = await api('GET', '/api/v1/gateways/gw-rc/config');
      const view = r.json as View;
      return r.status === 200 && view.reported?.config.status === 'running' ? view : undefined;
    });
    expect(running.reported?.version).toBe(0);
    expect(running.desired).toBeUndefined();

    const next = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    next.polling = { defaultIntervalMs: 4000 };
    const put = await api('PUT', '/api/v1/gateways/gw-rc/config', { config: next });
    expect(put.status).toBe(200);
    // Secrets are write-only: the API shows the broker password redacted.
    const shownNext = redactSecrets(next) as Record<string, unknown>;
    expect(put.json).toMatchObject({ v: 1, version: 1, config: shownNext });

    const view = await until('applied report', async () => {
      const v = (await api('GET', '/api/v1/gateways/gw-rc/config')).json as View;
      return v.reported?.config.status === 'applied-pending-restart' ? v : undefined;
    });
    expect(view.desired).toMatchObject({ version: 1, config: shownNext });
    expect(view.reported).toMatchObject({ version: 1, config: { status: 'applied-pending-restart', config: shownNext } });
    const password = (next.federation as { mqtt: { password: string } }).mqtt.password;
    expect(JSON.stringify(view)).not.toContain(password);
    expect(restarts).toEqual([1]);
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual(next);

    // Retained: a client connecting later still gets the desired document.
    const hubUser = await addHubUser(credentialsFile(dir.path), 'rcfg-reader');
    const reader = await mqtt.connectAsync(hub.broker?.url ?? '', { ...hubUser, clientId: 'rcfg-reader', reconnectPeriod: 0 });
    try {
      const retained = new Promise<ConfigDocument>((resolve, reject) => {
        reader.on('message', (topic, payload, packet) => {
          const d = decode(ConfigDocumentSchema, topic, payload);
          if (packet.retain && d.ok) resolve(d.value);
          else reject(new Error(`unexpected message on ${topic}`));
        });
      });
      await reader.subscribeAsync('swarmgate/v1/site-rc/gw-rc/config/desired', { qos: 1 });
      expect(await retained).toMatchObject({ version: 1, config: next });
    } finally {
      await reader.endAsync();
    }

    // The next PUT counts up; the change is audited. Sent back as the API showed it, with the
    // password redacted, it keeps the gateway's password.
    const second = await api('PUT', '/api/v1/gateways/gw-rc/config', { config: view.desired?.config });
    expect((second.json as ConfigDocument).version).toBe(2);
    await until('second config applied', async () => (restarts.length === 2 ? true : undefined));
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual(next);
    const audit = (await api('GET', '/api/v1/audit?action=gateway.config.set')).json as { entries?: unknown[]; audit?: unknown[] };
    expect(JSON.stringify(audit)).toContain('gw-rc');
  });

  it('PUT for an unknown gateway is 404; a viewer-less caller is 401', async () => {
    const config = { gateway: { id: 'nope', site: 'site-rc' }, devices: [{ id: 'a', protocol: 'modbus-tcp', profile: 'p.yaml' }] };
    expect((await api('PUT', '/api/v1/gateways/nope/config', { config })).status).toBe(404);
    const anon = await fetch(`${hub.api?.url ?? ''}/api/v1/gateways/gw-rc/config`);
    expect(anon.status).toBe(401);
  });

  it('PUT refuses, before storing or publishing, a config that cannot be a config for this gateway', async () => {
    const before = ((await api('GET', '/api/v1/gateways/gw-rc/config')).json as View).desired?.version;
    const good = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    const refused = async (config: Record<string, unknown>, field: RegExp): Promise<void> => {
      const r = await api('PUT', '/api/v1/gateways/gw-rc/config', { config });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(JSON.stringify(r.json)).toMatch(field);
    };
    await refused({ gateway: good.gateway }, /body\.config\.devices/);
    await refused({ ...good, devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: 7, connection: {} }] }, /body\.config\.devices\.0\.profile/);
    await refused({ ...good, gateway: { id: 'gw-other', site: 'site-rc' } }, /config\.gateway\.id is \\"gw-other\\" but this is gateway \\"gw-rc\\"/);
    await refused({ ...good, gateway: { id: 'gw-rc', site: 'site-x' } }, /config\.gateway\.site is \\"site-x\\"/);
    // A body over the API's limit is refused as such; one just under it can still make a document
    // (version and ts added) over the MQTT message limit every gateway enforces.
    expect((await api('PUT', '/api/v1/gateways/gw-rc/config', { config: { ...good, dataDir: 'x'.repeat(300 * 1024) } })).status).toBe(413);
    const pad = 256 * 1024 - '{"config":}'.length - JSON.stringify({ ...good, dataDir: '' }).length - 8;
    await refused({ ...good, dataDir: 'x'.repeat(pad) }, /exceeds the 256 KiB limit of one MQTT message/);
    expect(((await api('GET', '/api/v1/gateways/gw-rc/config')).json as View).desired?.version).toBe(before);
  });

  it('a config naming /dev/zero as a profile is rejected by the gateway, which keeps running and does not restart', async () => {
    const next = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    const devices = next.devices as Record<string, unknown>[];
    next.devices = [{ ...devices[0], profile: '/dev/zero' }];
    const before = restarts.length;
    const put = await api('PUT', '/api/v1/gateways/gw-rc/config', { config: next });
    expect(put.status).toBe(200);
    const version = (put.json as ConfigDocument).version;
    const view = await until('rejected report', async () => {
      const v = (await api('GET', '/api/v1/gateways/gw-rc/config')).json as View;
      return v.reported?.version === version ? v : undefined;
    });
    expect(view.reported?.config.status).toBe('rejected');
    expect(JSON.stringify(view.reported?.config.problems)).toContain('devices[0].profile: /dev/zero: not a regular file (character device)');
    expect(restarts.length).toBe(before);
    expect(readFileSync(configFile, 'utf8')).not.toContain('/dev/zero');
  });
});

describe('the hub\'s desired-config envelope', () => {
  it('accepts every config the gateway accepts (checked on the shipped examples)', async () => {
    const { isValid } = await import('../../shared/wire/codec.js');
    const { DesiredGatewayConfigSchema } = await import('../../shared/wire/desired-config.js');
    for (const name of ['demo-gateway.yaml']) {
      const file = fileURLToPath(new URL(`../../deploy/examples/${name}`, import.meta.url));
      expect(loadConfig(file, builtinDrivers()).devices.length).toBeGreaterThan(0);
      expect(isValid(DesiredGatewayConfigSchema, parse(readFileSync(file, 'utf8')))).toBe(true);
    }
  });
});

