/**
 * Semantic tags end to end: a real gateway reading the simulated facility through the demo's
 * tagged profiles federates to a real hub (embedded broker, SQLite, web API over HTTP); the birth
 * carries the points' Haystack markers, the hub indexes them, and GET /api/v1/points?tags=...
 * finds "every discharge air temp" and "every door sensor" without knowing the profiles' names.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../devices/facility.js';
import type { Hub } from '../../hub/index.js';
import { tempDir } from '../support/tmp.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { startBusyFacility } from './support/facility.js';
import { addGatewayUser, adminCookie, credentialsFile, startEmbeddedHub } from './support/hub.js';
import { uniqueId, waitFor } from './support/util.js';

const ADMIN_PW = 'tags-admin-password-1';
const PW_ENV = 'SWG_TEST_TAGS_ADMIN_PW';

interface Page {
  readonly items: { site: string; gateway: string; device: string; point: string; unit?: string; tags: string[] }[];
  readonly next?: string;
}

describe('semantic tags: gateway birth -> hub point index -> API', () => {
  const dir = tempDir('swg-e2e-tags-');
  const site = uniqueId('site');
  const gateway = uniqueId('gw');
  let facility: Facility | undefined;
  let hub: Hub | undefined;
  let edge: InProcessEdge | undefined;
  let cookie = '';

  const points = async (query: string): Promise<Page> => {
    const res = await fetch(`${hub?.api?.url ?? ''}/api/v1/points?${query}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };
  const keys = (page: Page): string[] => page.items.map((p) => `${p.device}/${p.point}`);

  beforeAll(async () => {
    process.env[PW_ENV] = ADMIN_PW;
    facility = await startBusyFacility(23);
    hub = await startEmbeddedHub({ dir: dir.path, apiAdminPasswordEnv: PW_ENV });
    cookie = await adminCookie(hub, ADMIN_PW);
    const auth = await addGatewayUser(credentialsFile(dir.path), site, gateway);
    const file = writeEdgeConfig(dir.path, {
      id: gateway,
      site,
      dataDir: join(dir.path, 'gw'),
      facility: facility.endpoints,
      devices: ['ahu1', 'coldroom', 'io'],
      federation: { mqtt: { url: hub.broker?.url ?? '', ...auth, reconnectPeriodMs: 200 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
    });
    edge = await startEdge(file);
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await hub?.stop();
    await facility?.stop();
    delete process.env[PW_ENV];
    dir.remove();
  });

  it('finds every discharge air temp of the gateway by its markers', async () => {
    const page = await waitFor(async () => {
      const p = await points(`tags=discharge,air,temp&gateway=${gateway}`);
      return p.items.length > 0 ? p : undefined;
    }, 20_000, 'tagged points indexed from the birth');
    expect(page.items).toEqual([
      { site, gateway, device: 'ahu1', point: 'supply_air_temp', unit: 'degC', tags: ['discharge', 'air', 'temp', 'sensor'], writable: false, updatedAt: expect.any(Number) as number },
      { site, gateway, device: 'ahu1', point: 'supply_temp_setpoint', unit: 'degC', tags: ['discharge', 'air', 'temp', 'sp'], writable: true, limits: { min: 5, max: 35 }, updatedAt: expect.any(Number) as number },
    ]);
    expect(keys(await points(`tags=discharge,air,temp,sensor&site=${site}`))).toEqual(['ahu1/supply_air_temp']);
  });

  it('finds the same kind of point across devices and protocols (Modbus, OPC UA, GPIO)', async () => {
    expect(keys(await points(`tags=door,sensor&gateway=${gateway}`))).toEqual(['coldroom/door_open', 'io/door_contact']);
    expect(keys(await points(`tags=compressor,run,cmd&gateway=${gateway}`))).toEqual(['coldroom/backup_compressor', 'io/backup_compressor_relay']);
    const temps = await points(`tags=air,temp,sensor&gateway=${gateway}&limit=2`);
    expect(temps.items).toHaveLength(2);
    expect(temps.next).toBe(`${gateway}/ahu1/outdoor_air_temp`);
    // Two-state alarms about a temperature are not temperature sensors.
    expect(keys(await points(`tags=alarm,sensor&gateway=${gateway}`))).toEqual(['ahu1/filter_alarm', 'ahu1/freeze_stat', 'coldroom/compressor_fault', 'coldroom/high_temperature_alarm']);
    const rest = await points(`tags=air,temp,sensor&gateway=${gateway}&after=${encodeURIComponent(temps.next ?? '')}`);
    expect([...keys(temps), ...keys(rest)]).toEqual(['ahu1/mixed_air_temp', 'ahu1/outdoor_air_temp', 'ahu1/return_air_temp', 'ahu1/supply_air_temp', 'coldroom/temperature']);
  });

  it('shows the tags in the gateway record too', async () => {
    const res = await fetch(`${hub?.api?.url ?? ''}/api/v1/gateways/${gateway}`, { headers: { cookie } });
    const record = (await res.json()) as { devices: { id: string; tags?: Record<string, string[]> }[] };
    expect(record.devices.find((d) => d.id === 'io')?.tags).toEqual({
      door_contact: ['door', 'sensor'],
      occupancy: ['occupied', 'sensor'],
      backup_compressor_relay: ['compressor', 'run', 'cmd'],
      ahu_enable_relay: ['enable', 'cmd'],
    });
  });
});
