/**
 * The whole chain with the real gateway: simulated facility (AHU over Modbus TCP) → edge app with
 * federation → hub (embedded broker, SQLite, web API). A technician approves a review item in the
 * browser; the gateway writes the setpoint to the device, and the new value comes back as telemetry.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import type { Facility } from '../../devices/facility.js';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { buildWeb } from '../../hub/web/build.js';
import { startBusyFacility } from '../e2e/support/facility.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from '../e2e/support/edge.js';
import { addGatewayUser, credentialsFile } from '../e2e/support/hub.js';
import { waitFor } from '../e2e/support/util.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { TECH, launchBrowser } from './support.js';

const SITE = 'site-e2e';
const GATEWAY = 'gw-edge';

describe.skipIf(!peerOrSkip(chromiumPeer()))('review page → real gateway → simulated AHU', () => {
  const dir = tempDir('swarmgate-web-edge-');
  const profile = tempDir('swarmgate-chromium-');
  let facility: Facility | undefined;
  let hub: Hub | undefined;
  let edge: InProcessEdge | undefined;
  let browser: BrowserContext | undefined;

  beforeAll(async () => {
    await buildWeb();
    facility = await startBusyFacility(7);
    const auth = await addGatewayUser(credentialsFile(dir.path), SITE, GATEWAY);
    const yaml = 'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\ncommands: { timeoutMs: 8000, retries: 1 }\napi: { host: 127.0.0.1, port: 0 }\n';
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
    await new Accounts(sqlFor(hub.store), { sessionTtlMs: 3_600_000, scryptCost: { N: 1024, r: 8, p: 1 } }).createUser(TECH.username, 'technician', TECH.password);
    const file = writeEdgeConfig(dir.path, {
      id: GATEWAY,
      site: SITE,
      dataDir: join(dir.path, 'gw'),
      facility: facility.endpoints,
      devices: ['ahu1'],
      federation: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
    });
    edge = await startEdge(file);
    await waitFor(async () => (await hub!.registry.get(GATEWAY))?.status === 'online', 15_000, 'gateway online');
    await waitFor(async () => (await hub!.store.latest(GATEWAY)).some((r) => r.point === 'supply_temp_setpoint'), 15_000, 'setpoint telemetry');
    await hub.review.submit({
      id: 'rv-edge-0001',
      site: SITE,
      gateway: GATEWAY,
      priority: 80,
      source: 'gateway',
      actionClass: 'setpoint',
      action: { kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 17.5 },
      confidence: 0.6,
      rationale: 'Supply air is warmer than the zones need; lower the setpoint.',
      evidence: { telemetry: [] },
    });
    browser = await launchBrowser(profile.path);
  });

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await hub?.stop();
    await facility?.stop();
    profile.remove();
    dir.remove();
  });

  it('approves in the browser; the gateway applies the write and reports the new setpoint', async () => {
    const page = browser!.pages()[0] ?? (await browser!.newPage());
    page.setDefaultTimeout(15_000);
    await page.goto(hub!.api!.url);
    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('.cards a.card[data-id="rv-edge-0001"]').click();
    await page.getByRole('heading', { name: 'Set ahu1.supply_temp_setpoint to 17.5' }).waitFor();
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    // A second tap confirms, naming what goes where.
    await page.getByRole('button', { name: /^Confirm: Set ahu1\./ }).click();
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 20_000 });
    const item = await hub!.review.get('rv-edge-0001');
    expect((await hub!.commands.get(item!.commandId!))?.status).toBe('applied');
    const latest = await waitFor(async () => {
      const r = (await hub!.store.latest(GATEWAY)).find((x) => x.point === 'supply_temp_setpoint');
      return r && Math.abs(Number(r.value) - 17.5) < 0.05 ? r : undefined;
    }, 15_000, 'the new setpoint reported back');
    expect(latest.device).toBe('ahu1');
  });
});
