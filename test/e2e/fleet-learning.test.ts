/**
 * Fleet learning end to end: real gateways (startEdgeApp, as `swarmgate edge` runs them) read
 * their own simulated AHU (Modbus TCP, own seed) and federate to a real hub (embedded broker,
 * SQLite, web API over HTTP).
 * - A and B share (analytics.fleetLearning.share): once their detector on the supply air
 *   temperature scores, each publishes its prior; the hub builds the key's fleet prior from both.
 * - C uses (analytics.fleetLearning.use), starting after that with no saved state: it asks for
 *   the key, starts its detector from the fleet prior and scores after a few readings instead of
 *   the hundreds A and B needed; restarted, it keeps its own saved state.
 * - D runs the same point without opting in: it publishes nothing on the prior channels and
 *   receives nothing (a hub-role observer sees every prior topic of the site).
 * - A rogue client with gateway credentials publishes a prior failing the schema and one beyond
 *   the size bound: both are quarantined with their reason, neither is stored nor served.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAhuServer, type AhuServer } from '../../devices/modbus/ahu-server.js';
import { exportPrior, PointDetector } from '../../edge/analytics/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import type { Hub } from '../../hub/index.js';
import { PriorService } from '../../hub/priors/service.js';
import { encode, gatewayTopic, PriorMessageSchema, priorKey, type DetectorPrior } from '../../shared/wire/index.js';
import { tempDir } from '../support/tmp.js';
import { ROOT, startEdge, type InProcessEdge } from './support/edge.js';
import { addGatewayUser, addHubUser, credentialsFile, startEmbeddedHub } from './support/hub.js';
import { uniqueId, waitFor } from './support/util.js';

const POINT = 'ahu1/supply_air_temp';
const KEY = priorKey({ profile: 'ahu-modbus', point: 'supply_air_temp' });
/** A small detector budget so a gateway learns in a few hundred polls (about 400 readings from nothing). */
const DETECTOR = '{ warmup: 20, minTrain: 100, retrainEvery: 100000, maxHistory: 300, epochs: 1 }';

describe('fleet learning: gateways share detector priors through the hub', () => {
  const dir = tempDir('swg-e2e-fleet-');
  const site = uniqueId('site');
  const ids = { a: uniqueId('gwa'), b: uniqueId('gwb'), c: uniqueId('gwc'), d: uniqueId('gwd'), rogue: uniqueId('gwr') };
  const ahus: AhuServer[] = [];
  const edges: InProcessEdge[] = [];
  const seen: string[] = [];
  let hub: Hub | undefined;
  let observer: mqtt.MqttClient | undefined;
  let priors: PriorService;

  const gatewayFile = async (id: string, seed: number, fleet: string | undefined): Promise<string> => {
    const ahu = await startAhuServer({ seed, speed: 60 });
    ahu.model.setAhuEnable(true);
    ahu.model.setFanCommand(true);
    ahu.model.setFanSpeed(60);
    ahus.push(ahu);
    const auth = await addGatewayUser(credentialsFile(dir.path), site, id);
    const file = join(dir.path, `${id}.yaml`);
    appendFileSync(
      file,
      `gateway: { id: ${id}, site: ${site} }\ndataDir: ${join(dir.path, id)}\nmetrics: { enabled: false }\n` +
        `polling: { defaultIntervalMs: 100, heartbeatMs: 5000 }\n` +
        `federation: ${JSON.stringify({ mqtt: { url: hub?.broker?.url ?? '', ...auth, reconnectPeriodMs: 200 }, outbox: { flushMs: 50 }, stateIntervalS: 0 })}\n` +
        `devices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${ROOT}devices/profiles/ahu-modbus.yaml\n` +
        `    connection: { host: 127.0.0.1, port: ${ahu.port}, timeoutMs: 500, retries: 0, backoffMs: 50 }\n    pollIntervalMs: 100\n` +
        `analytics:\n  detector: ${DETECTOR}\n` +
        (fleet ? `  fleetLearning: ${fleet}\n` : '') +
        `  points:\n    - { point: ${POINT} }\n`,
    );
    return file;
  };
  const status = (e: InProcessEdge) => e.app.local.monitor?.status('ahu1', 'supply_air_temp');

  beforeAll(async () => {
    hub = await startEmbeddedHub({ dir: dir.path });
    priors = new PriorService(sqlFor(hub.store));
    const auth = await addHubUser(credentialsFile(dir.path), uniqueId('observer'));
    observer = await mqtt.connectAsync(hub.broker?.url ?? '', { ...auth, clientId: uniqueId('observer') });
    observer.on('message', (topic) => seen.push(topic));
    // '…/prior/#' matches '…/prior' too.
    await observer.subscribeAsync(`swarmgate/v1/${site}/+/prior/#`, { qos: 1 });
  }, 60_000);

  afterAll(async () => {
    for (const e of edges) await e.stop();
    await observer?.endAsync(true);
    await hub?.stop();
    for (const a of ahus) await a.stop();
    dir.remove();
  });

  it('A and B share, C starts from the fleet prior and scores early, D neither publishes nor receives', async () => {
    const a = await startEdge(await gatewayFile(ids.a, 11, '{ share: true }'));
    edges.push(a);
    const b = await startEdge(await gatewayFile(ids.b, 12, '{ share: true }'));
    edges.push(b);
    const d = await startEdge(await gatewayFile(ids.d, 13, undefined));
    edges.push(d);

    // Both sharers' priors stored; the fleet prior chosen from the two.
    const fleet = await waitFor(async () => {
      const f = (await priors.listFleet({ key: KEY }))[0];
      return f && f.members === 2 ? f : undefined;
    }, 180_000, 'a fleet prior built from both sharers', 200);
    expect(fleet.verdicts.map((v) => v.role).sort()).toEqual(['chosen', 'kept']);
    expect([`${site}/${ids.a}/ahu1/supply_air_temp`, `${site}/${ids.b}/ahu1/supply_air_temp`]).toContain(fleet.source);
    const sharers = async (): Promise<string[]> =>
      (await sqlFor(hub?.store as Hub['store']).all('SELECT DISTINCT gateway FROM detector_priors WHERE site = ? ORDER BY gateway', [site])).map((r) => String(r.gateway));
    expect(await sharers()).toEqual([ids.a, ids.b].sort());
    const fromScratch = Math.min(...[a, b].map((e) => status(e)?.readings ?? 0));

    // D learned as long: its detector scores too, yet it published nothing and asked for nothing.
    await waitFor(() => status(d)?.phase === 'scoring', 120_000, 'D scoring', 100);

    const c = await startEdge(await gatewayFile(ids.c, 14, '{ use: true }'));
    edges.push(c);
    const first = await waitFor(() => {
      const s = status(c);
      return s?.phase === 'scoring' ? s : undefined;
    }, 60_000, 'C scoring', 10);
    expect(first.prior).toBe(`${KEY}@${fleet.version}`);
    // From the fleet prior it scores after a few readings (lags = 12), not the hundreds A and B needed.
    expect(first.readings).toBeLessThan(60);
    expect(fromScratch).toBeGreaterThan(300);
    // Its detector events are armed while its own range and stuck checks still learn.
    expect(first.learning).toBe(false);

    await waitFor(() => seen.includes(gatewayTopic(site, ids.c, 'prior/fleet')), 10_000, 'the fleet prior delivered to C');
    expect(seen).toContain(gatewayTopic(site, ids.c, 'prior/request'));
    expect(seen).toContain(gatewayTopic(site, ids.a, 'prior'));
    expect(seen).toContain(gatewayTopic(site, ids.b, 'prior'));
    // C only uses: it never publishes a prior; D does not take part at all.
    expect(seen.filter((t) => t.includes(`/${ids.d}/`))).toEqual([]);
    expect(seen).not.toContain(gatewayTopic(site, ids.c, 'prior'));
    expect(await sharers()).toEqual([ids.a, ids.b].sort());
    // What C started from is the document the hub chose.
    expect((await priors.getFleet(KEY)).summary.version).toBe(fleet.version);

    // Restarted, C keeps its own saved state: it never takes the fleet prior again.
    const cFile = join(dir.path, `${ids.c}.yaml`);
    await c.stop();
    edges.splice(edges.indexOf(c), 1);
    const c2 = await startEdge(cFile);
    edges.push(c2);
    const again = status(c2);
    expect(again?.readings).toBeGreaterThanOrEqual(first.readings);
    expect(again?.prior).toBe(`${KEY}@${fleet.version}`);
  }, 300_000);

  it('quarantines a prior that fails the schema or exceeds the size bound, and serves neither', async () => {
    const auth = await addGatewayUser(credentialsFile(dir.path), site, ids.rogue);
    const rogue = await mqtt.connectAsync(hub?.broker?.url ?? '', { ...auth, clientId: ids.rogue });
    try {
      const det = new PointDetector({ warmup: 20, minTrain: 100, retrainEvery: 100000, maxHistory: 300, forecaster: { epochs: 1 } });
      for (let i = 0; i < 500; i++) await det.score(1_700_000_000_000 + i * 60_000, 20 + Math.sin(i / 10) + ((i * 7919) % 13) / 50);
      await det.idle();
      const prior = await exportPrior(det);
      const key = priorKey({ profile: 'rogue-profile', point: 'x' });
      const topic = gatewayTopic(site, ids.rogue, 'prior');
      const broken = { v: 1, key, device: 'ahu1', point: 'x', prior: { ...prior, range: [1] } };
      // Within the schema's item bounds, beyond the prior's 240 KiB (still under the 256 KiB payload limit).
      const vectors = Array.from({ length: 11_800 }, (_, i) => 10 + i / 7.123456789);
      const patterns = prior.patterns.map((p, i) => (i === 0 ? { ...p, vectors: vectors.slice(0, vectors.length - (vectors.length % p.window)) } : p));
      const big: DetectorPrior = { ...prior, patterns };
      const bigPayload = encode(PriorMessageSchema, { v: 1, key, device: 'ahu1', point: 'x', prior: big });
      expect(bigPayload.byteLength).toBeGreaterThan(240 * 1024);
      expect(bigPayload.byteLength).toBeLessThan(256 * 1024);
      // Refused messages are acknowledged once quarantined.
      await rogue.publishAsync(topic, JSON.stringify(broken), { qos: 1 });
      await rogue.publishAsync(topic, bigPayload, { qos: 1 });
      const kept = await waitFor(async () => {
        const q = (await hub?.quarantine.list({ gateway: ids.rogue })) ?? [];
        return q.length >= 2 ? q : undefined;
      }, 20_000, 'both bad priors quarantined');
      const reasons = kept.map((m) => `${m.reason}: ${m.error}`);
      expect(reasons.some((r) => r.startsWith('schema') && r.includes('/prior/range'))).toBe(true);
      expect(reasons.some((r) => r.startsWith('too-large') && r.includes('exceeds the detector prior limit'))).toBe(true);
      expect(await priors.list({ key })).toEqual([]);
      expect(await priors.listFleet({ key })).toEqual([]);
    } finally {
      await rogue.endAsync(true);
    }
  }, 60_000);
});
