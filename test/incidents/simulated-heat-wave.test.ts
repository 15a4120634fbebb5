/**
 * The emergence monitor on alarms the gateway's real anomaly monitor raises in the simulator
 * (bench/incidents-sim.ts): eight simulated facilities on two sites learn a day, then a heat-wave
 * fault hits every facility of site-1 and a return-air sensor drifts on one of site-2. Every
 * heat-wave alarm of site-1 (outside and mixed air within 20 min, return air up to 1.5 h after
 * them, past the quiet period) becomes one fleet incident of that site; the drifting sensor stays
 * an equipment incident of its gateway, outside every fleet incident, and so does one site-1 AHU's
 * discharge-air sensor drifting while the heat wave lasts.
 */
import { describe, expect, it } from 'vitest';
import { runSimulatedFleet } from '../../bench/incidents-sim.js';

describe('simulated heat wave', () => {
  it('groups one site\'s heat-wave alarms, return air trailing by more than the quiet period included, into one fleet incident and keeps a drifting sensor apart', async () => {
    const r = await runSimulatedFleet({ seed: 2 });
    const heatAlarms = r.alarms.filter((a) => a.cause === 'heat-wave');
    const primary = heatAlarms.filter((a) => a.point === 'outdoor_air_temp' || a.point === 'mixed_air_temp');
    expect(new Set(primary.map((a) => a.gateway)).size).toBe(4);
    // Some of this seed's return-air alarms come more than the quiet period (60 min) after the last outside/mixed-air alarm.
    const lastPrimary = Math.max(...primary.map((a) => a.ts));
    const returnAir = heatAlarms.filter((a) => a.point === 'return_air_temp');
    expect(returnAir.filter((a) => a.ts > lastPrimary + 60 * 60_000).length).toBeGreaterThan(0);
    const ids = new Set(heatAlarms.map((a) => r.incidentOf.get(a.id)?.id));
    expect(ids.size).toBe(1);
    const heat = r.incidents.find((i) => ids.has(i.id));
    expect(heat).toMatchObject({ kind: 'fleet', scope: 'site', site: 'site-1', gateways: 4, memberCount: heatAlarms.length });
    const drift = r.alarms.filter((a) => a.cause === 'drift');
    expect(drift.length).toBeGreaterThan(0);
    for (const a of drift) expect(r.incidentOf.get(a.id)?.kind).toBe('equipment');
    expect(r.score.equipmentAlarmsInFleet).toBe(0);
  }, 120_000);

  it('keeps one heat-wave AHU\'s own discharge-air sensor drift an equipment incident', async () => {
    const r = await runSimulatedFleet({ seed: 2, hotSiteFaultAfterMin: 60 });
    const own = r.alarms.filter((a) => a.cause === 'hot-site-drift');
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((a) => a.site === 'site-1')).toBe(true);
    for (const a of own) expect(r.incidentOf.get(a.id)?.kind).toBe('equipment');
    const heat = new Set(r.alarms.filter((a) => a.cause === 'heat-wave').map((a) => r.incidentOf.get(a.id)?.id));
    expect(heat.size).toBe(1);
    expect(r.score.equipmentCausesRecovered).toBe(r.score.equipmentCauses);
  }, 120_000);
});
