import { describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import {
  AgentRoster,
  ComfortSpecialist,
  EnergySpecialist,
  EquipmentHealthSpecialist,
  FacilityIndex,
  SafetySpecialist,
  buildSnapshot,
  type FacilitySnapshot,
  type Proposal,
  type ProposalDraft,
  type SnapshotInput,
} from '../../hub/agents/index.js';
import { facility, facilityModel, T0 } from './support.js';

const MIN = 60_000;
const MONDAY_10H = Date.UTC(2025, 0, 6, 10, 0, 0);
type Readings = NonNullable<SnapshotInput['readings']>;

function snap(readings: Readings, extra: Partial<SnapshotInput> = {}, ts = T0): FacilitySnapshot {
  return buildSnapshot({ ts, site: 's1', facility: facility(), readings, ...extra });
}

const office = (point: string, value: number | boolean) => ({ gateway: 'gw-office-1', device: 'ahu', point, value });

function asProposal(d: ProposalDraft, agent = 'x'): Proposal {
  const { dedupeKey: _k, rollback, ...rest } = d;
  return { ...rest, id: 'p-test', agent, domain: 'energy', rawConfidence: d.confidence, rollback: rollback ?? true, ts: T0 };
}

describe('specialists', () => {
  it('energy: off-hours setback, simultaneous heating/cooling, peak shedding', () => {
    const e = new EnergySpecialist();
    const night = snap([office('heat_sp', 21), office('cool_sp', 24), office('zone_temp', 22), office('heat_valve', 40), office('cool_valve', 30)]);
    const drafts = e.propose(night);
    expect(drafts.map((d) => [d.kind, d.action])).toEqual([
      ['setback', { kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 }],
      ['setback', { kind: 'write', device: 'ahu', point: 'cool_sp', value: 28 }],
      ['simultaneous-heat-cool', { kind: 'write', device: 'ahu', point: 'heat_valve', value: 0 }],
    ]);
    expect(drafts[0]?.previous).toBe(21);
    // Occupied (Monday 10:00): no setback.
    const day = snap([office('heat_sp', 21)], {}, MONDAY_10H);
    expect(e.propose(day).filter((d) => d.kind === 'setback')).toHaveLength(0);
    // Peak: site meter over the 120 kW limit, no sheddable load -> raise cooling setpoints.
    const f = new FacilityIndex({
      ...facilityModel(),
      sites: facilityModel().sites.map((s) => ({
        ...s,
        zones: s.zones.map((z) =>
          z.id === 'office-1' ? { ...z, gateways: z.gateways.map((g) => ({ ...g, points: [...g.points, { device: 'meter', point: 'site_kw', role: 'site_power_kw' }] })) } : z,
        ),
      })),
    });
    const peak = buildSnapshot({ ts: MONDAY_10H, site: 's1', facility: f, readings: [office('cool_sp', 24), { gateway: 'gw-office-1', device: 'meter', point: 'site_kw', value: 150 }] });
    const shed = e.propose(peak).find((d) => d.kind === 'peak-shed');
    expect(shed?.action).toEqual({ kind: 'write', device: 'ahu', point: 'cool_sp', value: 25 });
    expect(shed?.expectedEffect).toMatchObject({ device: 'meter', point: 'site_kw', direction: 'decrease' });
  });

  it('comfort: bands depend on occupancy; it objects to setbacks in occupied zones', () => {
    const c = new ComfortSpecialist();
    const cold = snap([office('zone_temp', 17), office('heat_sp', 18), office('co2', 1400), office('fresh_air', 20)], {}, MONDAY_10H);
    const drafts = c.propose(cold);
    expect(drafts.map((d) => [d.kind, d.action])).toEqual([
      ['comfort-restore', { kind: 'write', device: 'ahu', point: 'heat_sp', value: 21 }],
      ['ventilation', { kind: 'write', device: 'ahu', point: 'fresh_air', value: 100 }],
    ]);
    // The same 17 °C at night is within the unoccupied band.
    expect(c.propose(snap([office('zone_temp', 17), office('heat_sp', 18)])).length).toBe(0);
    const setback = asProposal(new EnergySpecialist().propose(snap([office('heat_sp', 21)]))[0] as ProposalDraft);
    expect(c.vote(setback, snap([office('heat_sp', 21)], { occupancy: { 'office-1': true } })).choice).toBe('reject');
    expect(c.vote(setback, snap([office('heat_sp', 21)])).choice).toBe('approve');
  });

  it('equipment health: runtime hours and short-cycling become work orders', () => {
    const eh = new EquipmentHealthSpecialist();
    const starts = Array.from({ length: 7 }, (_, i) => ({ ts: T0 - 50 * MIN + i * 7 * MIN, value: 100 + i * 2 }));
    const s = snap([{ gateway: 'gw-cold', device: 'coldroom', point: 'compressor_starts', value: 112 }], {
      history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'compressor_starts', samples: starts }],
    });
    const wo = eh.propose(s);
    expect(wo).toHaveLength(1);
    expect(wo[0]).toMatchObject({ kind: 'maintenance', action: null, gateway: 'gw-cold', priority: 'high' });
    expect(wo[0]?.workOrder?.problem).toMatch(/short-cycling: 12 starts/);
    expect(wo[0]?.dedupeKey).toMatch(/^short-cycle-/);
    expect(wo[0]?.workOrder?.condition).toBeUndefined();
  });

  it('equipment health: work-order text is rounded with units; one condition per occurrence, not per hour', () => {
    const eh = new EquipmentHealthSpecialist();
    const warm = (ts: number) =>
      snap(
        [
          { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -15.280113246854881 },
          { gateway: 'gw-cold', device: 'coldroom', point: 'setpoint', value: -20 },
          { gateway: 'gw-cold', device: 'coldroom', point: 'compressor_running', value: false },
        ],
        { trigger: { v: 1, id: `ev-${ts}`, gateway: 'gw-cold', kind: 'anomaly', severity: 'warning', device: 'coldroom', point: 'temperature', ts, message: 'anomaly on coldroom/temperature: -15.28 is outside its learned range [-21, -17]' } },
        ts,
      );
    const orders = (ts: number) => eh.propose(warm(ts)).filter((d) => d.workOrder);
    const now = orders(T0);
    expect(now).toHaveLength(1);
    expect(now[0]?.workOrder?.problem).toBe('main compressor not running while cold-1 warms (-15.3 °C, 4.7 K above its -20 °C setpoint)');
    expect(now[0]?.rationale).not.toMatch(/\d\.\d{3}/);
    expect(orders(T0 + 3 * 60 * MIN)[0]?.workOrder?.condition).toBe(now[0]?.workOrder?.condition);
  });

  it('safety: cold-chain breach only after the allowed minutes; vetoes interlock and cold-chain violations', () => {
    const sf = new SafetySpecialist();
    const hist = (minutesAbove: number) => [
      { ts: T0 - (minutesAbove + 1) * MIN, value: -18 },
      ...Array.from({ length: minutesAbove + 1 }, (_, i) => ({ ts: T0 - (minutesAbove - i) * MIN, value: -14 })),
    ];
    const cold = (minutesAbove: number) =>
      snap([{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -14 }, { gateway: 'gw-cold', device: 'gpio', point: 'backup_compressor_relay', value: false }], {
        history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', samples: hist(minutesAbove) }],
      });
    expect(sf.propose(cold(5))).toHaveLength(0);
    const breach = sf.propose(cold(12));
    expect(breach).toHaveLength(1);
    expect(breach[0]).toMatchObject({ kind: 'cold-chain', priority: 'critical', rollback: false, action: { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true } });

    const warm = cold(12);
    const defrost = asProposal({ kind: 'maintenance', site: 's1', gateway: 'gw-cold', action: { kind: 'write', device: 'coldroom', point: 'defrost', value: true }, confidence: 0.9, rationale: '', evidence: {}, priority: 'normal' });
    expect(sf.vote(defrost, warm)).toMatchObject({ choice: 'reject', veto: true });
    const raiseSetpoint = { ...defrost, action: { kind: 'write' as const, device: 'coldroom', point: 'setpoint', value: -16 } };
    expect(sf.vote(raiseSetpoint, warm).veto).toBe(true);
    const relayOff = { ...defrost, action: { kind: 'write' as const, device: 'gpio', point: 'backup_compressor_relay', value: false } };
    expect(sf.vote(relayOff, warm).veto).toBe(true);
    const harmless = { ...defrost, kind: 'setback' as const, gateway: 'gw-office-1', action: { kind: 'write' as const, device: 'ahu', point: 'heat_sp', value: 16 } };
    expect(sf.vote(harmless, warm)).toMatchObject({ choice: 'approve' });
    expect(sf.vetoAuthority).toBe(true);
  });

  it('safety: restores a violated interlock', () => {
    const sf = new SafetySpecialist();
    const s = snap([{ gateway: 'gw-cold', device: 'coldroom', point: 'defrost', value: true }, { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -10 }]);
    const d = sf.propose(s).find((x) => x.kind === 'interlock');
    expect(d?.action).toEqual({ kind: 'write', device: 'coldroom', point: 'defrost', value: false });
  });

  it('registry throws on duplicate ids; facility model errors name the problem', () => {
    const reg = new AgentRoster([new EnergySpecialist()]);
    expect(() => reg.register(new EnergySpecialist())).toThrow(/registered twice/);
    reg.register(new EnergySpecialist({ id: 'energy-2' }));
    expect(reg.ids()).toEqual(['energy', 'energy-2']);
    try {
      new FacilityIndex({ v: 1, sites: [{ id: 'bad site', zones: [] }] });
      expect.unreachable();
    } catch (err) {
      expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/\/sites\/0\/id/);
    }
    const dup = facilityModel();
    const site = dup.sites[0];
    if (site?.zones[0]) site.zones.push({ ...site.zones[0] });
    expect(() => new FacilityIndex(dup)).toThrow(/appears twice/);
  });
});
