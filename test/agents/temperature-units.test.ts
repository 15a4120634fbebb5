/**
 * Temperature units in the facility model: the specialists reason in °C, so a point in degF or K
 * is read in °C and written in its own unit; a temperature point in a unit they cannot convert is
 * refused when the model loads.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  AgentRoster,
  ComfortSpecialist,
  Coordinator,
  EnergySpecialist,
  EquipmentHealthSpecialist,
  Executor,
  FacilityIndex,
  MemoryExecutedSet,
  SafetySpecialist,
  buildSnapshot,
  createSpecialists,
  type FacilityModel,
  type FacilitySnapshot,
  type Proposal,
  type ProposalDraft,
  type SnapshotInput,
} from '../../hub/agents/index.js';
import { loadFacilityModel } from '../../hub/agents/runtime/index.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';
import { FakeClock, FakeCommands, MemoryReviews, MemoryTelemetry, T0, facilityModel } from './support.js';

const MIN = 60_000;
const TUESDAY_15H = Date.UTC(2025, 0, 7, 15, 0, 0); // the office is occupied
type Readings = NonNullable<SnapshotInput['readings']>;

/** The support fixture with every degC point in `unit`. */
function modelIn(unit: string): FacilityModel {
  const m = facilityModel();
  return {
    ...m,
    sites: m.sites.map((s) => ({
      ...s,
      zones: s.zones.map((z) => ({ ...z, gateways: z.gateways.map((g) => ({ ...g, points: g.points.map((p) => (p.unit === 'degC' ? { ...p, unit } : p)) })) })),
    })),
  };
}

const office = (point: string, value: number | boolean) => ({ gateway: 'gw-office-1', device: 'ahu', point, value });
const cold = (point: string, value: number | boolean) => ({ gateway: 'gw-cold', device: 'coldroom', point, value });
const steady = (value: number, ts: number) => Array.from({ length: 25 }, (_, i) => ({ ts: ts - 2 * 3_600_000 + i * 5 * MIN, value }));

function snap(unit: string, readings: Readings, ts: number, extra: Partial<SnapshotInput> = {}): FacilitySnapshot {
  return buildSnapshot({ ts, site: 's1', facility: new FacilityIndex(modelIn(unit)), readings, ...extra });
}

/** A freezer steady at `value` (in the point's unit) for 2 h, main compressor stopped, relay off. */
function freezer(unit: string, value: number): FacilitySnapshot {
  return snap(unit, [cold('temperature', value), cold('compressor_running', false), { gateway: 'gw-cold', device: 'gpio', point: 'backup_compressor_relay', value: false }], T0, {
    history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', samples: steady(value, T0) }],
  });
}

function asProposal(d: ProposalDraft, agent = 'x'): Proposal {
  const { dedupeKey: _k, rollback, ...rest } = d;
  return { ...rest, id: 'p-test', agent, domain: 'energy', rawConfidence: d.confidence, rollback: rollback ?? true, ts: T0 };
}

describe('temperature units of facility points', () => {
  it('a healthy degF freezer (-4 °F = -20 °C for 2 h) is no breach; one at 10 °F (-12.2 °C) is, in its own unit', () => {
    const safety = new SafetySpecialist();
    expect(safety.propose(freezer('degF', -4))).toEqual([]);
    const breach = safety.propose(freezer('degF', 10)).find((d) => d.kind === 'cold-chain');
    expect(breach?.action).toEqual({ kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true });
    expect(breach?.rationale).toContain('cold-chain breach in cold-1: 10 °F, above 5 °F for 120 min');
    // The effect is checked on the point's own readings: 0.5 K is 0.9 °F (a difference: no offset).
    expect(breach?.expectedEffect).toMatchObject({ point: 'temperature', direction: 'decrease', magnitude: 0.9 });
    expect(breach?.evidence).toMatchObject({ limitC: -15 });
    expect(breach?.evidence?.temperature).toBeCloseTo(-12.2222);
  });

  it('kelvin works the same way', () => {
    const safety = new SafetySpecialist();
    expect(safety.propose(freezer('K', 253.15))).toEqual([]);
    expect(safety.propose(freezer('K', 261)).map((d) => d.kind)).toEqual(['cold-chain']);
    expect(new EquipmentHealthSpecialist().propose({ ...freezer('K', 253.15), trigger: anomaly() }).map((d) => d.kind)).toEqual(['maintenance']);
  });

  it('equipment health compares a degF cold room with its degF setpoint in °C and says so in °F', () => {
    const s = freezer('degF', 1); // -17.2 °C, 2.8 K above a -4 °F (-20 °C) setpoint
    const withSetpoint = { ...s, readings: new Map([...s.readings, ['gw-cold/coldroom/setpoint', { value: -4, quality: 'good' as const, ts: T0 }]]), trigger: anomaly() };
    const drafts = new EquipmentHealthSpecialist().propose(withSetpoint);
    const backup = drafts.find((d) => d.kind === 'backup-equipment');
    expect(backup?.rationale).toContain('is at 1 °F, 5 °F above its -4 °F setpoint');
    expect(backup?.expectedEffect?.magnitude).toBeCloseTo(0.9);
    // -1 °F is -18.3 °C: 1.7 K above the setpoint, within the 2 K the cold room may drift.
    const calm = { ...withSetpoint, readings: new Map([...withSetpoint.readings, ['gw-cold/coldroom/temperature', { value: -1, quality: 'good' as const, ts: T0 }]]) };
    expect(new EquipmentHealthSpecialist().propose(calm).some((d) => d.kind === 'backup-equipment')).toBe(false);
  });

  it('a 73 °F office is comfortable; at 80 °F the cooling setpoint gets 23 °C written as 73.4 °F', () => {
    const comfort = new ComfortSpecialist();
    expect(comfort.propose(snap('degF', [office('zone_temp', 73), office('heat_sp', 68), office('cool_sp', 75)], TUESDAY_15H))).toEqual([]);
    const [restore] = comfort.propose(snap('degF', [office('zone_temp', 80), office('heat_sp', 68), office('cool_sp', 75)], TUESDAY_15H));
    expect(restore?.action).toEqual({ kind: 'write', device: 'ahu', point: 'cool_sp', value: 73.4 });
    expect(restore?.rationale).toBe('zone office-1 is at 80 °F, outside 20-24 °C (occupied); setpoint -> 73.4 °F');
    expect(restore?.expectedEffect).toMatchObject({ point: 'zone_temp', direction: 'decrease', magnitude: 0.9 });
    // A degF setpoint of 73.4 °F is inside the band; 80 °F (26.7 °C) is not.
    const proposal = asProposal(restore as ProposalDraft);
    const day = snap('degF', [office('zone_temp', 73)], TUESDAY_15H);
    expect(comfort.vote({ ...proposal, kind: 'peak-shed' }, day).choice).toBe('approve');
    expect(comfort.vote({ ...proposal, kind: 'peak-shed', action: { kind: 'write', device: 'ahu', point: 'cool_sp', value: 80 } }, day)).toMatchObject({ choice: 'reject', reason: 'setpoint 80 °F leaves the 20-24 °C band' });
  });

  it('energy writes setbacks and peak steps in the setpoint unit', () => {
    const energy = new EnergySpecialist();
    // Monday 22:00: unoccupied. 70 °F (21.1 °C) heating, 75 °F (23.9 °C) cooling.
    const setbacks = energy.propose(snap('degF', [office('heat_sp', 70), office('cool_sp', 75)], T0)).filter((d) => d.kind === 'setback');
    expect(setbacks.map((d) => d.action)).toEqual([
      { kind: 'write', device: 'ahu', point: 'heat_sp', value: 60.8 },
      { kind: 'write', device: 'ahu', point: 'cool_sp', value: 82.4 },
    ]);
    expect(setbacks[0]?.expectedEffect).toMatchObject({ direction: 'reach', target: 60.8, tolerance: 0.18 });
    expect(setbacks[0]?.rationale).toContain('heating setpoint 70 °F -> 60.8 °F setback');
    // Already set back (61 °F is 16.1 °C, within the slack): nothing to do.
    expect(energy.propose(snap('degF', [office('heat_sp', 61)], T0)).filter((d) => d.kind === 'setback')).toEqual([]);
  });

  it('safety vetoes a degF cold-room setpoint too close to the °C limit, judged in °C', () => {
    const safety = new SafetySpecialist();
    const s = freezer('degF', -4);
    const write = (value: number): Proposal =>
      asProposal({ kind: 'setback', site: 's1', gateway: 'gw-cold', action: { kind: 'write', device: 'coldroom', point: 'setpoint', value }, confidence: 0.9, rationale: '', evidence: {}, priority: 'normal' });
    // -18 °C is -0.4 °F: 0 °F (-17.8 °C) is within 3 K of -15 °C, -4 °F (-20 °C) is not.
    expect(safety.vote(write(0), s)).toMatchObject({ choice: 'reject', veto: true, reason: 'cold-room setpoint 0 °F is within 5.4 °F of the 5 °F cold-chain limit' });
    expect(safety.vote(write(-4), s).veto).toBeUndefined();
  });

  it('the whole round: a healthy degF site sends nothing and asks nobody', async () => {
    const clock = new FakeClock(TUESDAY_15H);
    const commands = new FakeCommands();
    const reviews = new MemoryReviews();
    const executor = new Executor({ commands, telemetry: new MemoryTelemetry(), executed: new MemoryExecutedSet(), clock: clock.read, sleep: clock.sleep, lateTelemetryMs: 0 });
    const coordinator = new Coordinator({ roster: new AgentRoster(createSpecialists()), executor, review: reviews, clock: clock.read });
    const f = freezer('degF', -4);
    const report = await coordinator.evaluate(
      snap('degF', [office('zone_temp', 73), office('heat_sp', 68), office('cool_sp', 75), cold('temperature', -4), { gateway: 'gw-cold', device: 'gpio', point: 'backup_compressor_relay', value: false }], TUESDAY_15H, {
        history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', samples: steady(-4, TUESDAY_15H) }],
      }),
    );
    await coordinator.idle();
    expect(f.facility.first('cold-1', 'cold_room_temp')?.temperature).toBe('degF');
    expect(report.decisions.map((d) => d.proposal.kind)).toEqual([]);
    expect(commands.sent).toEqual([]);
    expect(reviews.items).toEqual([]);
  });

  it('a temperature point in a unit the agents cannot convert is refused at load, naming file, point and unit', () => {
    try {
      new FacilityIndex(modelIn('degR'));
      expect.unreachable();
    } catch (err) {
      expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^\/sites\/0\/zones\/0\/gateways\/0\/points\/0\/unit: point gw-office-1\/ahu\/zone_temp \(role zone_temp\) has unit "degR"/);
      expect((err as Error).message).toMatch(/degC, °C, ℃, C, degF, °F, ℉, F, K, degK, °K/);
    }
    const dir = tempDir('swarmgate-facility-units-');
    try {
      const file = join(dir.path, 'facility.yaml');
      writeFileSync(file, stringify(modelIn('%')));
      // Named with its file, line and field (runtime/facility-file.ts).
      expect(() => loadFacilityModel(file)).toThrow(/:\d+:\d+: sites\[0\]\.zones\[0\]\.gateways\[0\]\.points\[0\]\.unit: point gw-office-1\/ahu\/zone_temp \(role zone_temp\) has unit "%"/);
      expect(() => loadFacilityModel(file)).toThrow(`${file}:`);
    } finally {
      dir.remove();
    }
    // Every spelling the gateways use converts; no unit is degC; other roles keep any unit.
    for (const unit of ['°F', 'F', '℉']) expect(new FacilityIndex(modelIn(unit)).first('office-1', 'zone_temp')?.temperature).toBe('degF');
    const m = facilityModel();
    for (const z of m.sites[0]?.zones ?? []) for (const g of z.gateways) for (const p of g.points) delete p.unit;
    expect(new FacilityIndex(m).first('cold-1', 'cold_room_temp')?.temperature).toBe('degC');
    expect(new FacilityIndex(modelIn('degC')).first('office-1', 'co2')).not.toHaveProperty('temperature');
  });
});

function anomaly() {
  return { v: 1 as const, id: 'evt-1', gateway: 'gw-cold', ts: T0, kind: 'anomaly' as const, severity: 'critical' as const, device: 'coldroom', point: 'temperature', message: 'anomaly on coldroom/temperature: rising' };
}
