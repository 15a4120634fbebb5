/**
 * The emergence monitor on alarms the gateway's real anomaly monitor raises in the simulator
 * (bench/incidents-sim.ts): eight simulated facilities on two sites learn a day, then a heat-wave
 * fault hits every facility of site-1 and a return-air sensor drifts on one of site-2. The
 * outside- and mixed-air alarms of site-1 become one fleet incident of that site; the drifting
 * sensor stays an equipment incident of its gateway, outside every fleet incident.
 */
import { describe, expect, it } from 'vitest';
import { runSimulatedFleet } from '../../bench/incidents-sim.js';

describe('simulated heat wave', () => {
  it('groups one site\'s heat-wave alarms into one fleet incident and keeps a drifting sensor apart', async () => {
    const r = await runSimulatedFleet({ seed: 2 });
    const primary = r.alarms.filter((a) => a.cause === 'heat-wave' && (a.point === 'outdoor_air_temp' || a.point === 'mixed_air_temp'));
    expect(new Set(primary.map((a) => a.gateway)).size).toBe(4);
    const ids = new Set(primary.map((a) => r.incidentOf.get(a.id)?.id));
    expect(ids.size).toBe(1);
    const heat = r.incidents.find((i) => ids.has(i.id));
    expect(heat).toMatchObject({ kind: 'fleet', scope: 'site', site: 'site-1', gateways: 4 });
    const drift = r.alarms.filter((a) => a.cause === 'drift');
    expect(drift.length).toBeGreaterThan(0);
    for (const a of drift) expect(r.incidentOf.get(a.id)?.kind).toBe('equipment');
    expect(r.score.equipmentAlarmsInFleet).toBe(0);
  }, 120_000);
});
