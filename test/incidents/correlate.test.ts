/**
 * The correlator's rules one by one (hub/incidents/correlate.ts): a fleet-wide incident over
 * several sites; a stray alarm at another site does not widen a site incident; a rollout's
 * gateways alarming together form a fleet incident with the release named, counted against the
 * gateways on that version; another kind of point on the same gateways joins an open fleet
 * incident only when it shares a marker and two or more of them alarm; a restored correlator
 * goes on where the stored one stopped; one site's alarms spread over an hour form one site
 * incident when a stricter share of its gateways raise them, and fewer stay apart.
 */
import { describe, expect, it } from 'vitest';
import { Correlator, signatureOf, type AnomalyInput, type Incident } from '../../hub/incidents/correlate.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const VOLT = { tags: ['elec', 'volt', 'sensor'], unit: 'V' };
const POWER = { tags: ['elec', 'power', 'sensor'], unit: 'kW' };
const OAT = { tags: ['outside', 'air', 'temp', 'sensor'], unit: 'degC' };
const FILTER = { tags: ['filter', 'delta', 'pressure', 'sensor'], unit: 'Pa' };
const MAT = { tags: ['mixed', 'air', 'temp', 'sensor'], unit: 'degC' };
const RAT = { tags: ['return', 'air', 'temp', 'sensor'], unit: 'degC' };
const DAT = { tags: ['discharge', 'air', 'temp', 'sensor'], unit: 'degC' };
const ZONE = { tags: ['zone', 'air', 'temp', 'sensor'], unit: 'degC' };

let n = 0;
function alarm(site: string, gateway: string, point: string, kind: { tags: string[]; unit: string }, ts: number, version?: string): AnomalyInput {
  return { eventId: `e${++n}`, ts, site, gateway, device: point === 'voltage' || point === 'active_power' ? 'meter1' : 'ahu1', point, tags: kind.tags, unit: kind.unit, severity: 'warning', ...(version ? { version } : {}) };
}

/** 10 gateways on each of sites s1..s3. */
const everywhere = new Map([['s1', 10], ['s2', 10], ['s3', 10]]);

describe('correlator', () => {
  it('names points by sorted markers and unit, untagged ones by name', () => {
    expect(signatureOf({ tags: ['outside', 'air', 'temp', 'sensor'], unit: 'degC' })).toBe('air,outside,sensor,temp|degC');
    expect(signatureOf({ tags: [], point: 'x1' })).toBe('point:x1|');
  });

  it('makes a grid event over three sites one fleet-wide incident, and power alarms of the same meters join it', () => {
    const c = new Correlator();
    let last: Incident | undefined;
    for (let g = 0; g < 10; g++) for (const s of ['s1', 's2', 's3']) last = c.add(alarm(s, `${s}-g${g}`, 'voltage', VOLT, T0 + g * 10_000), everywhere);
    expect(last).toMatchObject({ kind: 'fleet', scope: 'fleet', state: 'open' });
    expect(last?.members).toHaveLength(30);
    expect(c.openIncidents().filter((i) => i.kind === 'equipment')).toEqual([]);
    // One power alarm alone stays with its meter; the second on another of the incident's meters joins both.
    const p1 = c.add(alarm('s1', 's1-g1', 'active_power', POWER, T0 + 3 * MIN), everywhere);
    expect(p1.kind).toBe('equipment');
    const p2 = c.add(alarm('s2', 's2-g4', 'active_power', POWER, T0 + 4 * MIN), everywhere);
    expect(p2.id).toBe(last?.id);
    expect(p2.members).toHaveLength(32);
    expect(p2.signatures).toEqual(['elec,sensor,volt|V', 'elec,power,sensor|kW']);
    expect(p2.tags).toEqual(['elec', 'sensor']);
  });

  it('keeps one site\'s incident and a stray alarm at another site apart', () => {
    const c = new Correlator();
    for (let g = 0; g < 6; g++) c.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + g * MIN), everywhere);
    const stray = c.add(alarm('s2', 's2-g0', 'outdoor_air_temp', OAT, T0 + 7 * MIN), everywhere);
    expect(stray).toMatchObject({ kind: 'equipment', site: 's2' });
    const site = c.openIncidents().find((i) => i.kind === 'fleet');
    expect(site).toMatchObject({ scope: 'site', site: 's1', population: 10 });
    expect(new Set(site?.members.map((m) => m.gateway)).size).toBe(6);
    // A different kind of point on one of the site's gateways is that gateway's own problem.
    expect(c.add(alarm('s1', 's1-g2', 'filter_dp', FILTER, T0 + 8 * MIN), everywhere).kind).toBe('equipment');
  });

  it('counts a rollout\'s alarms against the gateways on its version and names the release', () => {
    const c = new Correlator();
    // 6 of 30 gateways run 2.1.0 (a share of 0.2): 2 alarming are not enough, 3 of them are (0.3 of 6 is 1.8, and minGateways 3).
    const first = c.add(alarm('s1', 's1-g1', 'supply_air_temp', OAT, T0, '2.1.0'), everywhere, 0.2);
    expect(first.kind).toBe('equipment');
    c.add(alarm('s2', 's2-g1', 'supply_air_temp', OAT, T0 + MIN, '2.1.0'), everywhere, 0.2);
    const third = c.add(alarm('s3', 's3-g1', 'supply_air_temp', OAT, T0 + 2 * MIN, '2.1.0'), everywhere, 0.2);
    expect(third).toMatchObject({ kind: 'fleet', scope: 'fleet', release: '2.1.0', population: 6 });
    expect(third.cause).toContain('every one runs 2.1.0');
    // Without a version (or on the fleet's common one) three gateways of 30 over three sites are no fleet incident.
    const d = new Correlator();
    for (const [k, s] of ['s1', 's2', 's3'].entries()) d.add(alarm(s, `${s}-g1`, 'supply_air_temp', OAT, T0 + k * MIN, '2.0.3'), everywhere, 0.8);
    expect(d.openIncidents().every((i) => i.kind === 'equipment')).toBe(true);
  });

  it('joins return-air alarms trailing a heat wave past its quiet period (each building its own lag), reopening it', () => {
    // As the real detectors raised them in the simulator (bench/incidents-sim.ts, seed 2): four
    // AHUs of one site, outside then mixed air within 20 min, return air 53 to 92 min after the last.
    const site = new Map([['s1', 4]]);
    const c = new Correlator();
    const gws = ['s1-g1', 's1-g2', 's1-g3', 's1-g4'];
    gws.forEach((g, k) => c.add(alarm('s1', g, 'outdoor_air_temp', OAT, T0 + 2 * k * MIN), site));
    [11, 11, 13, 18].forEach((t, k) => c.add(alarm('s1', gws[k]!, 'mixed_air_temp', MAT, T0 + t * MIN), site));
    const heat = c.openIncidents().find((i) => i.kind === 'fleet');
    expect(heat).toMatchObject({ scope: 'site', site: 's1' });
    expect(heat?.members).toHaveLength(8);
    // The first return-air alarm alone is its AHU's own until another follows.
    expect(c.add(alarm('s1', 's1-g1', 'return_air_temp', RAT, T0 + 71 * MIN), site).kind).toBe('equipment');
    // 84 min: the heat wave closed quiet at 78 min (60 after its last alarm); the second AHU's return air reopens it.
    const second = c.add(alarm('s1', 's1-g3', 'return_air_temp', RAT, T0 + 84 * MIN), site);
    expect(second).toMatchObject({ id: heat?.id, kind: 'fleet', state: 'open' });
    expect(second.closedAt).toBeUndefined();
    expect(c.add(alarm('s1', 's1-g4', 'return_air_temp', RAT, T0 + 93 * MIN), site).id).toBe(heat?.id);
    expect(c.add(alarm('s1', 's1-g2', 'return_air_temp', RAT, T0 + 110 * MIN), site).id).toBe(heat?.id);
    expect(heat?.members).toHaveLength(12);
    expect(c.openIncidents().filter((i) => i.kind === 'equipment')).toEqual([]);
    const { incidents } = c.drain();
    expect(incidents.filter((i) => i.kind === 'equipment').every((i) => i.state === 'merged' && i.mergedInto === heat?.id)).toBe(true);
  });

  it('keeps one AHU\'s own fault, other equipment and two false alarms in a large incident apart from a heat wave', () => {
    const site = new Map([['s1', 10]]);
    const c = new Correlator();
    for (let g = 0; g < 10; g++) c.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + g * MIN), site);
    const heat = c.openIncidents().find((i) => i.kind === 'fleet');
    expect(heat?.members).toHaveLength(10);
    // One AHU's discharge-air sensor fails during the heat wave (one gateway, however long): its own incident.
    const own = c.add(alarm('s1', 's1-g2', 'supply_air_temp', DAT, T0 + 30 * MIN), site);
    expect(own.kind).toBe('equipment');
    expect(c.add(alarm('s1', 's1-g2', 'supply_air_temp', DAT, T0 + 35 * MIN), site).id).toBe(own.id);
    // Two cold rooms of the incident's gateways ("zone air temp", another device) within minutes: not the AHUs' heat wave.
    const zone = (g: string, t: number) => ({ ...alarm('s1', g, 'temperature', ZONE, t), device: 'freezer' });
    expect(c.add(zone('s1-g3', T0 + 40 * MIN), site).kind).toBe('equipment');
    expect(c.add(zone('s1-g4', T0 + 42 * MIN), site).kind).toBe('equipment');
    // After it closed, two of its ten AHUs' return air 40 min apart (less than 0.3 of them): false alarms, not its lag.
    expect(c.add(alarm('s1', 's1-g5', 'return_air_temp', RAT, T0 + 100 * MIN), site).kind).toBe('equipment');
    expect(c.add(alarm('s1', 's1-g6', 'return_air_temp', RAT, T0 + 140 * MIN), site).kind).toBe('equipment');
    // A third makes it the heat wave's (3 of 10), and the other two with it.
    const third = c.add(alarm('s1', 's1-g7', 'return_air_temp', RAT, T0 + 150 * MIN), site);
    expect(third).toMatchObject({ id: heat?.id, state: 'open' });
    expect(third.members).toHaveLength(13);
    expect(third.members.some((m) => m.point === 'supply_air_temp' || m.point === 'temperature')).toBe(false);
    // Past propagationMs after its latest member (here 60 min) nothing reopens it.
    const four = new Map([['s1', 4]]);
    const late = new Correlator({ propagationMs: 60 * MIN });
    for (let g = 0; g < 4; g++) late.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + g * MIN), four);
    late.add(alarm('s1', 's1-g0', 'return_air_temp', RAT, T0 + 62 * MIN), four);
    expect(late.add(alarm('s1', 's1-g1', 'return_air_temp', RAT, T0 + 63 * MIN), four).kind).toBe('fleet');
    late.add(alarm('s1', 's1-g2', 'mixed_air_temp', MAT, T0 + 124 * MIN), four);
    expect(late.add(alarm('s1', 's1-g3', 'mixed_air_temp', MAT, T0 + 125 * MIN), four).kind).toBe('equipment');
  });

  it('forms one site incident from outside-air alarms spread over an hour (each building\'s detector in its own time), with the mixed air held as equipment', () => {
    const site = new Map([['s1', 10]]);
    const c = new Correlator();
    // Nine of ten AHUs, 7 min apart: never three within the window.
    const gws = Array.from({ length: 9 }, (_, g) => `s1-g${g}`);
    for (const [g, gw] of gws.slice(0, 6).entries()) {
      expect(c.add(alarm('s1', gw, 'outdoor_air_temp', OAT, T0 + 7 * g * MIN), site).kind).toBe('equipment');
      // The first three buildings' mixed air follows their outside air by 5 min.
      if (g < 3) expect(c.add(alarm('s1', gw, 'mixed_air_temp', MAT, T0 + (7 * g + 5) * MIN), site).kind).toBe('equipment');
    }
    // The seventh of ten within the quiet period (0.7 of the site): one incident of the site, the earlier alarms in it.
    const heat = c.add(alarm('s1', 's1-g6', 'outdoor_air_temp', OAT, T0 + 42 * MIN), site);
    expect(heat).toMatchObject({ kind: 'fleet', scope: 'site', site: 's1', population: 10, firstSeen: T0 });
    expect(heat.members).toHaveLength(10);
    expect(heat.signatures).toEqual(['air,outside,sensor,temp|degC', 'air,mixed,sensor,temp|degC']);
    expect(heat.cause).toContain('spread over 42 min');
    expect(c.add(alarm('s1', 's1-g7', 'outdoor_air_temp', OAT, T0 + 49 * MIN), site).id).toBe(heat.id);
    expect(c.add(alarm('s1', 's1-g8', 'outdoor_air_temp', OAT, T0 + 56 * MIN), site).id).toBe(heat.id);
    expect(c.openIncidents().filter((i) => i.kind === 'equipment')).toEqual([]);
  });

  it('keeps spread alarms from fewer than 0.7 of a site (or all but one of a small site) apart, and a site incident with strays elsewhere a site incident', () => {
    // Six of ten over an hour: six faults are rarer than one cause, but not rare enough at six times the window.
    const ten = new Map([['s1', 10]]);
    const c = new Correlator();
    for (let g = 0; g < 6; g++) c.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + 11 * g * MIN), ten);
    expect(c.openIncidents().map((i) => i.kind)).toEqual(Array(6).fill('equipment'));
    // A site of four: three spread alarms (minGateways) stay apart, the fourth makes them one.
    const four = new Map([['s1', 4]]);
    const d = new Correlator();
    for (let g = 0; g < 3; g++) expect(d.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + 20 * g * MIN), four).kind).toBe('equipment');
    expect(d.add(alarm('s1', 's1-g3', 'outdoor_air_temp', OAT, T0 + 50 * MIN), four)).toMatchObject({ kind: 'fleet', scope: 'site' });
    // A heat wave on s1 and two strays at two other sites within the window: the strays are their own.
    const e = new Correlator();
    for (let g = 0; g < 9; g++) e.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + g * MIN), everywhere);
    expect(e.add(alarm('s2', 's2-g0', 'outdoor_air_temp', OAT, T0 + 9 * MIN), everywhere).kind).toBe('equipment');
    expect(e.add(alarm('s3', 's3-g0', 'outdoor_air_temp', OAT, T0 + 10 * MIN), everywhere).kind).toBe('equipment');
    expect(e.openIncidents().filter((i) => i.kind === 'fleet')).toMatchObject([{ scope: 'site', site: 's1' }]);
    // A third gateway beyond s1 (minGateways elsewhere): the heat wave reaches other sites, one fleet incident.
    const wide = e.add(alarm('s2', 's2-g1', 'outdoor_air_temp', OAT, T0 + 11 * MIN), everywhere);
    expect(wide).toMatchObject({ kind: 'fleet', scope: 'fleet' });
    expect(wide.members).toHaveLength(12);
  });

  it('closes quiet incidents, and a restored correlator grows the stored open incident', () => {
    const c = new Correlator({ quietMs: 30 * MIN });
    for (let g = 0; g < 5; g++) c.add(alarm('s1', `s1-g${g}`, 'outdoor_air_temp', OAT, T0 + g * MIN), everywhere);
    const open = c.openIncidents().filter((i) => i.kind === 'fleet');
    expect(open).toHaveLength(1);
    const restored = new Correlator({ quietMs: 30 * MIN });
    restored.restore(structuredClone(open));
    const joined = restored.add(alarm('s1', 's1-g7', 'outdoor_air_temp', OAT, T0 + 20 * MIN), everywhere);
    expect(joined.id).toBe(open[0]?.id);
    expect(restored.closeQuiet(T0 + 49 * MIN)).toEqual([]);
    const closed = restored.closeQuiet(T0 + 51 * MIN);
    expect(closed.map((i) => [i.id, i.state])).toEqual([[open[0]?.id, 'closed']]);
    expect(restored.add(alarm('s1', 's1-g8', 'outdoor_air_temp', OAT, T0 + 52 * MIN), everywhere).kind).toBe('equipment');
  });
});
