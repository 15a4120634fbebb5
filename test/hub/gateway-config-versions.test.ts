/**
 * Remote configuration versions after the hub forgot them (its store rebuilt, restored or moved):
 * the gateway refuses a version older than the one it runs out loud, naming the applied version,
 * and the hub numbers its next push above every version it knows of, that one included. End to
 * end: API, embedded broker, a real gateway (startEdgeApp with federation).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import type { ConfigDocument } from '../../shared/wire/index.js';
import { addGatewayUser, credentialsFile } from '../e2e/support/hub.js';
import { waitFor } from '../e2e/support/util.js';
import { tempDir } from '../support/tmp.js';

const AHU = fileURLToPath(new URL('../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const ADMIN_PW = 'remote-config-versions-pw';
const dir = tempDir('swg-hub-rcfg-ver-');
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

const reportedVersion = (version: number): Promise<View> =>
  waitFor(async () => {
    const v = (await api('GET', '/api/v1/gateways/gw-ver/config')).json as View;
    return v.reported?.version === version && v.reported.config.status !== 'running' ? v : undefined;
  }, 10_000, `report of version ${version}`, 50);

beforeAll(async () => {
  process.env.SWG_TEST_RCFG_VER_PW = ADMIN_PW;
  const yaml =
    `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml }\n` +
    `store: { kind: sqlite, path: hub.db }\n` +
    `api: { host: 127.0.0.1, port: 0, initialAdmin: { username: root, passwordEnv: SWG_TEST_RCFG_VER_PW } }\n`;
  hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
  const login = await fetch(`${hub.api?.url ?? ''}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: ADMIN_PW }) });
  expect(login.status).toBe(200);
  cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const auth = await addGatewayUser(credentialsFile(dir.path), 'site-ver', 'gw-ver');
  configFile = join(dir.path, 'gateway.yaml');
  const federation = { mqtt: { url: hub.broker?.url ?? '', username: auth.username, password: auth.password, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 };
  writeFileSync(
    configFile,
    `gateway: { id: gw-ver, site: site-ver }\ndataDir: ${join(dir.path, 'data')}\npolling: { defaultIntervalMs: 5000 }\nfederation: ${JSON.stringify(federation)}\n` +
      `devices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: 127.0.0.1, port: 1, timeoutMs: 200, retries: 0 } }\n`,
  );
  edge = await startEdgeApp(loadConfig(configFile, builtinDrivers()), builtinDrivers(), { onRestart: (v) => restarts.push(v) });
}, 120_000);

afterAll(async () => {
  await edge?.stop(true);
  await hub?.stop();
  delete process.env.SWG_TEST_RCFG_VER_PW;
  dir.remove();
});

describe('remote configuration versions after the hub lost its own', () => {
  it('the gateway refuses an older version naming the one it runs; the hub numbers the next push above it', async () => {
    await waitFor(async () => ((await api('GET', '/api/v1/gateways/gw-ver/config')).json as View).reported?.config.status === 'running', 10_000, 'running report', 50);
    // This gateway applied version 7 from the hub's store before it was rebuilt: the new store knows nothing of it.
    await edge?.federation?.state.setConfigVersion(7);
    const config = (pollMs: number): Record<string, unknown> => ({ ...(parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>), polling: { defaultIntervalMs: pollMs } });

    const first = await api('PUT', '/api/v1/gateways/gw-ver/config', { config: config(4000) });
    expect(first.status).toBe(200);
    expect((first.json as ConfigDocument).version).toBe(1);
    const refused = await reportedVersion(1);
    expect(refused.reported?.config).toMatchObject({ status: 'rejected', applied: 7 });
    expect(JSON.stringify(refused.reported?.config.problems)).toContain('version 1 <= applied 7');
    expect(restarts).toEqual([]);

    // The next push is numbered above the version the gateway runs, and applied.
    const second = await api('PUT', '/api/v1/gateways/gw-ver/config', { config: config(3000) });
    expect((second.json as ConfigDocument).version).toBe(8);
    const applied = await reportedVersion(8);
    expect(applied.reported?.config.status).toBe('applied-pending-restart');
    expect(restarts).toEqual([8]);
    expect((parse(readFileSync(configFile, 'utf8')) as { polling: unknown }).polling).toEqual({ defaultIntervalMs: 3000 });

    // A report of a higher running version (the gateway reconnecting to a hub that lost more) counts too.
    await hub.configs?.recordReported('site-ver', 'gw-ver', { v: 1, version: 20, ts: Date.now(), config: { status: 'running' } });
    const third = await api('PUT', '/api/v1/gateways/gw-ver/config', { config: config(2000) });
    expect((third.json as ConfigDocument).version).toBe(21);
  });
});
