/**
 * Energy specialist: off-hours setback, peak-demand shedding and simultaneous heating/cooling.
 * Votes against proposals that spend energy unless they protect comfort or product. Setbacks and
 * bands are in °C; setpoints may read and take °F or K (specialist.ts converts).
 */
import { DEFAULT_COMFORT, DEFAULT_SETBACK, ROLES, type BoundPoint, type Site, type Zone } from '../../facility.js';
import { approve, asCelsius, celsiusOf, effectOn, inPointUnit, kelvinsInPointUnit, reject, showDifference, showTemperature, Specialist, writeDraft, writtenPoint } from '../specialist.js';
import { isOccupied, numberOf, boolOf, type FacilitySnapshot } from '../../snapshot.js';
import type { Proposal, ProposalDraft, VoteDraft } from '../../types.js';

export interface EnergyOptions {
  readonly id?: string;
  /** Ignore setpoint differences smaller than this (K). */
  readonly setpointSlackK?: number;
  /** A valve counts as open above this position (%). */
  readonly valveOpenPct?: number;
  /** How far to raise cooling setpoints when no sheddable load is left (K). */
  readonly peakSetpointStepK?: number;
  readonly settleMs?: number;
}

const RELEVANCE = {
  setback: 1,
  'peak-shed': 1,
  'simultaneous-heat-cool': 1,
  'comfort-restore': 0.4,
  ventilation: 0.3,
  humidity: 0.3,
  'backup-equipment': 0.2,
  'cold-chain': 0.1,
  interlock: 0.1,
} as const;

const ENERGY_KINDS = new Set(['setback', 'peak-shed', 'simultaneous-heat-cool']);

export class EnergySpecialist extends Specialist {
  private readonly opts: Required<Omit<EnergyOptions, 'id'>>;

  constructor(options: EnergyOptions = {}) {
    super(options.id ?? 'energy', 'energy', RELEVANCE);
    this.opts = {
      setpointSlackK: options.setpointSlackK ?? 0.25,
      valveOpenPct: options.valveOpenPct ?? 5,
      peakSetpointStepK: options.peakSetpointStepK ?? 1,
      settleMs: options.settleMs ?? 15 * 60_000,
    };
  }

  propose(snapshot: FacilitySnapshot): ProposalDraft[] {
    const site = snapshot.facility.site(snapshot.site);
    if (!site) return [];
    const out: ProposalDraft[] = [];
    for (const zone of site.zones) {
      if (zone.kind === 'cold-room') continue; // product temperature is not ours to trade
      if (!isOccupied(snapshot, site, zone)) out.push(...this.setback(snapshot, site, zone));
      out.push(...this.simultaneousHeatCool(snapshot, zone));
    }
    out.push(...this.peakShed(snapshot, site));
    return out;
  }

  private setback(snapshot: FacilitySnapshot, site: Site, zone: Zone): ProposalDraft[] {
    const target = zone.setback ?? DEFAULT_SETBACK;
    const power = snapshot.facility.first(zone.id, ROLES.zonePower);
    const kw = numberOf(snapshot, power);
    const out: ProposalDraft[] = [];
    const candidates: Array<[BoundPoint | undefined, number, 'heat' | 'cool']> = [
      [snapshot.facility.first(zone.id, ROLES.setpointHeat), target.heatC, 'heat'],
      [snapshot.facility.first(zone.id, ROLES.setpointCool), target.coolC, 'cool'],
    ];
    for (const [sp, value, mode] of candidates) {
      const current = celsiusOf(snapshot, sp);
      if (!sp || !sp.writable || current === undefined) continue;
      const wasteful = mode === 'heat' ? current > value + this.opts.setpointSlackK : current < value - this.opts.setpointSlackK;
      if (!wasteful) continue;
      // An occupancy sensor saying "empty" is better evidence than the schedule alone.
      const confidence = snapshot.occupancy?.[zone.id] === false ? 0.92 : 0.88;
      out.push(
        writeDraft(snapshot, {
          kind: 'setback',
          point: sp,
          value: inPointUnit(sp, value),
          confidence,
          rationale: `zone ${zone.id} is unoccupied (site ${site.id}); ${mode}ing setpoint ${showTemperature(sp, current)} -> ${showTemperature(sp, value)} setback`,
          evidence: { zone: zone.id, occupied: false, zonePowerKw: kw ?? null },
          expectedEffect:
            power && kw !== undefined && kw > 0
              ? effectOn(power, 'decrease', Math.max(0.1, kw * 0.05), this.opts.settleMs)
              : effectOn(sp, 'reach', 0, this.opts.settleMs, { target: inPointUnit(sp, value), tolerance: kelvinsInPointUnit(sp, 0.1) }),
        }),
      );
    }
    return out;
  }

  private simultaneousHeatCool(snapshot: FacilitySnapshot, zone: Zone): ProposalDraft[] {
    const heat = snapshot.facility.first(zone.id, ROLES.heatingValve);
    const cool = snapshot.facility.first(zone.id, ROLES.coolingValve);
    const h = numberOf(snapshot, heat);
    const c = numberOf(snapshot, cool);
    if (!heat || !cool || h === undefined || c === undefined) return [];
    if (h <= this.opts.valveOpenPct || c <= this.opts.valveOpenPct) return [];
    const band = zone.comfort?.occupied ?? DEFAULT_COMFORT.occupied;
    const temp = celsiusOf(snapshot, snapshot.facility.first(zone.id, ROLES.zoneTemp));
    const mid = (band.tempMin + band.tempMax) / 2;
    // Close whichever valve works against where the zone already is.
    const closeHeating = temp === undefined ? h <= c : temp >= mid;
    const valve = closeHeating ? heat : cool;
    if (!valve.writable) return [];
    return [
      writeDraft(snapshot, {
        kind: 'simultaneous-heat-cool',
        point: valve,
        value: 0,
        confidence: temp === undefined ? 0.7 : 0.86,
        rationale: `zone ${zone.id} heats (${h}%) and cools (${c}%) at once; closing the ${closeHeating ? 'heating' : 'cooling'} valve`,
        evidence: { zone: zone.id, heatingPct: h, coolingPct: c, zoneTemp: temp ?? null },
        expectedEffect: effectOn(valve, 'reach', 0, this.opts.settleMs, { target: 0, tolerance: 2 }),
      }),
    ];
  }

  private peakShed(snapshot: FacilitySnapshot, site: Site): ProposalDraft[] {
    if (site.peakLimitKw === undefined) return [];
    const meter = snapshot.facility.siteRole(site.id, ROLES.sitePower)[0];
    const kw = numberOf(snapshot, meter);
    if (!meter || kw === undefined || kw <= site.peakLimitKw) return [];
    const excess = kw - site.peakLimitKw;
    const evidence = { siteKw: kw, limitKw: site.peakLimitKw, excessKw: excess };
    const decrease = effectOn(meter, 'decrease', Math.max(0.1, excess * 0.5), this.opts.settleMs);
    const load = snapshot.facility.siteRole(site.id, ROLES.sheddableLoad).find((p) => p.writable && boolOf(snapshot, p) === true);
    if (load) {
      return [
        writeDraft(snapshot, {
          kind: 'peak-shed',
          point: load,
          value: false,
          confidence: 0.84,
          rationale: `site ${site.id} draws ${kw} kW, ${excess.toFixed(1)} kW over its ${site.peakLimitKw} kW limit; shedding ${load.key}`,
          evidence,
          expectedEffect: decrease,
          priority: 'high',
        }),
      ];
    }
    const out: ProposalDraft[] = [];
    for (const zone of site.zones) {
      if (zone.kind === 'cold-room') continue;
      const sp = snapshot.facility.first(zone.id, ROLES.setpointCool);
      const current = celsiusOf(snapshot, sp);
      if (!sp || !sp.writable || current === undefined) continue;
      out.push(
        writeDraft(snapshot, {
          kind: 'peak-shed',
          point: sp,
          value: inPointUnit(sp, current + this.opts.peakSetpointStepK),
          confidence: 0.72,
          rationale: `site ${site.id} is ${excess.toFixed(1)} kW over its demand limit and has no sheddable load; raising cooling setpoint of ${zone.id}`,
          evidence: { ...evidence, zone: zone.id },
          expectedEffect: decrease,
          priority: 'high',
        }),
      );
    }
    return out;
  }

  protected judge(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    if (ENERGY_KINDS.has(proposal.kind)) return approve(0.85, 'saves energy');
    const w = writtenPoint(snapshot, proposal);
    if (proposal.kind === 'backup-equipment' || proposal.kind === 'cold-chain') {
      return reject(0.3, 'runs extra equipment; accepted cost only if product is at risk');
    }
    if (proposal.kind === 'comfort-restore' && w) {
      const current = celsiusOf(snapshot, w.point);
      const zone = snapshot.facility.zone(w.point.zone);
      if (zone && !isOccupied(snapshot, zone.site, zone.zone)) return reject(0.7, 'conditioning an unoccupied zone');
      const step = current !== undefined && typeof w.value === 'number' ? Math.abs(asCelsius(w.point, w.value) - current) : 0;
      if (step > 3) return reject(0.5, `setpoint step of ${showDifference(w.point, step)} is costly`);
    }
    return approve(0.6, 'acceptable energy cost');
  }
}
