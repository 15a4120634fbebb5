/**
 * The emergence monitor end to end: a real hub (embedded broker, SQLite, web API over HTTP) and a
 * labelled fleet scenario (devices/scenarios/fleet-incidents.ts: 30 gateways on 3 sites, a heat
 * wave on one site reaching return air later, a grid event on every meter, a bad release on part of the fleet, single
 * equipment faults, false alarms). Each simulated gateway connects with its own broker account,
 * publishes its birth (units, Haystack markers, version) and then its anomaly events over MQTT, in
 * time order; the hub's ingest, point index and IncidentService group them. Read back over the
 * API, the grouping must match the labels (pairwise precision and recall >= 0.9, every fleet cause
 * one fleet incident), show the heat wave as a site incident and the release by its version, and
 * the live stream must announce incidents.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetScenario, type ScenarioAlarm } from '../../devices/scenarios/fleet-incidents.js';
import type { Hub } from '../../hub/index.js';
import { gatewayTopic } from '../../shared/wire/index.js';
import { connectClient, endAll } from '../hub/helpers.js';
import { birthOf, eventOf, scoreGrouping } from '../support/incident-scenario.js';
import { tempDir } from '../support/tmp.js';
import { addGatewayUser, adminCookie, credentialsFile, startEmbeddedHub } from './support/hub.js';
import { waitFor } from './support/util.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ADMIN_PW = 'incidents-admin-password-1';
const PW_ENV = 'SWG_TEST_INCIDENTS_ADMIN_PW';
const SEED = 4;

describe('emergence monitor: gateway anomaly events over MQTT -> hub incidents -> API', () => {
  const dir = tempDir('swg-e2e-incidents-');
  const scenario = fleetScenario({ seed: SEED });
  // Scenario time moved so that its last alarm is a minute ago.
  const last = scenario.alarms[scenario.alarms.length - 1]?.ts ?? scenario.start;
  const shift = Date.now() - 60_000 - last;
  const clients = new Map<string, MqttClient>();
  const live: Json[] = [];
  const stream = new AbortController();
  let hub: Hub | undefined;
  let cookie = '';

  const api = async (path: string): Promise<Json> => {
    const res = await fetch(`${hub?.api?.url ?? ''}${path}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };

  beforeAll(async () => {
    process.env[PW_ENV] = ADMIN_PW;
    hub = await startEmbeddedHub({ dir: dir.path, apiAdminPasswordEnv: PW_ENV });
    cookie = await adminCookie(hub, ADMIN_PW);
    for (const gw of scenario.gateways) {
      const auth = await addGatewayUser(credentialsFile(dir.path), gw.site, gw.gateway);
      const client = await connectClient(hub.broker?.url ?? '', { ...auth, clientId: gw.gateway });
      clients.set(gw.gateway, client);
      // The version each runs by the end: the release reached some of them.
      const version = scenario.release.gateways.includes(gw.gateway) ? scenario.release.version : gw.version;
      await client.publishAsync(gatewayTopic(gw.site, gw.gateway, 'state'), JSON.stringify(birthOf(gw, Date.now(), version)), { qos: 1, retain: true });
    }
    await waitFor(async () => {
      const page = await api('/api/v1/points?limit=1000');
      return page.items.length === scenario.gateways.reduce((n, g) => n + g.devices.reduce((k, d) => k + d.points.length, 0), 0) || undefined;
    }, 20_000, 'every point indexed from the births');
    // The live stream, read in the background.
    const res = await fetch(`${hub.api?.url ?? ''}/api/v1/stream?topics=incident`, { headers: { cookie }, signal: stream.signal });
    const reader = res.body?.getReader();
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const chunk = await reader?.read().catch(() => undefined);
        if (!chunk || chunk.done) return;
        buf += decoder.decode(chunk.value, { stream: true });
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.includes('event: incident') && data) live.push(JSON.parse(data.slice(6)) as Json);
        }
      }
    })();
    for (const alarm of scenario.alarms) {
      const event = eventOf(alarm, alarm.ts + shift);
      await clients.get(alarm.gateway)?.publishAsync(gatewayTopic(alarm.site, alarm.gateway, 'events'), JSON.stringify(event), { qos: 1 });
    }
  }, 120_000);

  afterAll(async () => {
    stream.abort();
    await endAll([...clients.values()]);
    await hub?.stop();
    delete process.env[PW_ENV];
    dir.remove();
  });

  it('groups the alarms as the labels say', async () => {
    const incidents = (await api('/api/v1/incidents?limit=1000')).items as Json[];
    const incidentOf = new Map<string, { id: string; kind: 'fleet' | 'equipment' }>();
    const byEvent = new Map<string, ScenarioAlarm>(scenario.alarms.map((a) => [eventOf(a).id, a]));
    for (const i of incidents) {
      const detail = await api(`/api/v1/incidents/${encodeURIComponent(String(i.id))}`);
      for (const m of detail.members as Json[]) {
        const alarm = byEvent.get(String(m.eventId));
        if (alarm) incidentOf.set(alarm.id, { id: String(i.id), kind: i.kind === 'fleet' ? 'fleet' : 'equipment' });
      }
    }
    expect(incidentOf.size).toBe(scenario.alarms.length);
    const score = scoreGrouping(scenario, incidentOf);
    expect(score.pairwisePrecision).toBeGreaterThanOrEqual(0.9);
    expect(score.pairwiseRecall).toBeGreaterThanOrEqual(0.9);
    expect(score.fleetCausesRecovered).toBe(3);
    expect(score.incidents).toBeLessThan(scenario.alarms.length / 2);
  });

  it('shows the heat wave as one incident of its site, the grid event over every site, the release by its version', async () => {
    const fleet = (await api('/api/v1/incidents?kind=fleet')).items as Json[];
    const hot = scenario.alarms.find((a) => a.cause === 'heat-wave')?.site;
    const heat = fleet.find((i) => i.scope === 'site');
    // Outside air first, then mixed and return air of the same AHUs: the markers they share.
    expect(heat).toMatchObject({ site: hot, sites: [hot], tags: ['air', 'temp', 'sensor'], unit: 'degC' });
    expect(heat?.signatures[0]).toBe('air,outside,sensor,temp|degC');
    expect(heat?.signatures).toContain('air,return,sensor,temp|degC');
    const grid = fleet.find((i) => i.tags.includes('elec'));
    expect(grid).toMatchObject({ scope: 'fleet', sites: ['site-1', 'site-2', 'site-3'] });
    expect(grid?.signatures).toContain('elec,sensor,volt|V');
    const release = fleet.find((i) => i.release !== undefined);
    expect(release).toMatchObject({ release: scenario.release.version, tags: ['discharge', 'air', 'temp', 'sensor'] });
    expect(String(release?.cause)).toContain(`every one runs ${scenario.release.version}`);
    const site = (await api(`/api/v1/incidents?kind=fleet&site=${String(hot)}`)).items as Json[];
    expect(site.map((i) => i.id)).toContain(heat?.id);
  });

  it('announces incidents on the live stream', async () => {
    await waitFor(() => live.some((i) => i.kind === 'fleet') || undefined, 10_000, 'a fleet incident on the stream');
    expect(live.every((i) => typeof i.id === 'string' && i.members === undefined)).toBe(true);
  });
});
