/**
 * Comfort specialist: keeps temperature, CO2 and humidity within bands that depend on occupancy
 * (schedule or sensors). Votes against energy measures that would push an occupied zone out of band.
 * Bands are in °C; zone temperatures and setpoints may read and take °F or K (specialist.ts converts).
 */
import { DEFAULT_COMFORT, ROLES, type Zone } from '../../facility.js';
import { approve, asCelsius, celsiusOf, effectOn, inPointUnit, kelvinsInPointUnit, reject, showTemperature, Specialist, writeDraft, writtenPoint } from '../specialist.js';
import { boolOf, isOccupied, numberOf, type FacilitySnapshot } from '../../snapshot.js';
import type { Proposal, ProposalDraft, VoteDraft } from '../../types.js';

export interface ComfortOptions {
  readonly id?: string;
  /** Deviation from the band before acting (K). */
  readonly toleranceK?: number;
  readonly settleMs?: number;
}

const RELEVANCE = {
  'comfort-restore': 1,
  ventilation: 1,
  humidity: 1,
  setback: 0.9,
  'peak-shed': 0.8,
  'simultaneous-heat-cool': 0.6,
} as const;

interface Band {
  readonly tempMin: number;
  readonly tempMax: number;
  readonly co2Max?: number;
  readonly humidityMin?: number;
  readonly humidityMax?: number;
}

export class ComfortSpecialist extends Specialist {
  private readonly toleranceK: number;
  private readonly settleMs: number;

  constructor(options: ComfortOptions = {}) {
    super(options.id ?? 'comfort', 'comfort', RELEVANCE);
    this.toleranceK = options.toleranceK ?? 0.5;
    this.settleMs = options.settleMs ?? 30 * 60_000;
  }

  private band(snapshot: FacilitySnapshot, zoneId: string): { band: Band; occupied: boolean; zone: Zone } | undefined {
    const found = snapshot.facility.zone(zoneId);
    if (!found || found.zone.kind === 'cold-room' || found.zone.kind === 'plant') return undefined;
    const occupied = isOccupied(snapshot, found.site, found.zone);
    const bands = found.zone.comfort ?? DEFAULT_COMFORT;
    return { band: occupied ? bands.occupied : bands.unoccupied, occupied, zone: found.zone };
  }

  propose(snapshot: FacilitySnapshot): ProposalDraft[] {
    const site = snapshot.facility.site(snapshot.site);
    if (!site) return [];
    const out: ProposalDraft[] = [];
    for (const z of site.zones) {
      const b = this.band(snapshot, z.id);
      if (b) out.push(...this.zoneProposals(snapshot, b.zone, b.band, b.occupied));
    }
    return out;
  }

  private zoneProposals(snapshot: FacilitySnapshot, zone: Zone, band: Band, occupied: boolean): ProposalDraft[] {
    const f = snapshot.facility;
    const out: ProposalDraft[] = [];
    const tempPoint = f.first(zone.id, ROLES.zoneTemp);
    const temp = celsiusOf(snapshot, tempPoint);
    const evidence = { zone: zone.id, occupied, band };
    if (tempPoint && temp !== undefined) {
      const low = band.tempMin - temp;
      const high = temp - band.tempMax;
      const sp = low > this.toleranceK ? f.first(zone.id, ROLES.setpointHeat) : high > this.toleranceK ? f.first(zone.id, ROLES.setpointCool) : undefined;
      const target = low > this.toleranceK ? band.tempMin + 1 : band.tempMax - 1;
      const current = celsiusOf(snapshot, sp);
      const needs = low > this.toleranceK ? current === undefined || current < target : current === undefined || current > target;
      if (sp && sp.writable && needs) {
        const dev = Math.max(low, high);
        out.push(
          writeDraft(snapshot, {
            kind: 'comfort-restore',
            point: sp,
            value: inPointUnit(sp, target),
            confidence: Math.min(0.95, 0.7 + 0.1 * dev) * (occupied ? 1 : 0.85),
            rationale: `zone ${zone.id} is at ${showTemperature(tempPoint, temp)}, outside ${band.tempMin}-${band.tempMax} °C (${occupied ? 'occupied' : 'unoccupied'}); setpoint -> ${showTemperature(sp, target)}`,
            evidence: { ...evidence, zoneTemp: temp },
            expectedEffect: effectOn(tempPoint, low > 0 ? 'increase' : 'decrease', kelvinsInPointUnit(tempPoint, Math.min(0.5, dev)), this.settleMs),
            priority: occupied ? 'high' : 'normal',
          }),
        );
      }
    }
    const co2Point = f.first(zone.id, ROLES.co2);
    const co2 = numberOf(snapshot, co2Point);
    const vent = f.first(zone.id, ROLES.ventilation);
    if (co2Point && vent?.writable && band.co2Max !== undefined && co2 !== undefined && co2 > band.co2Max) {
      // Ventilation is either a switch or a 0-100 % command; ask for full fresh air either way.
      const pct = numberOf(snapshot, vent);
      const isSwitch = pct === undefined && boolOf(snapshot, vent) !== undefined;
      const value = isSwitch ? true : 100;
      const already = isSwitch ? boolOf(snapshot, vent) === true : pct !== undefined && pct >= 100;
      if (!already) {
        out.push(
          writeDraft(snapshot, {
            kind: 'ventilation',
            point: vent,
            value,
            confidence: Math.min(0.95, 0.75 + (co2 - band.co2Max) / 2000),
            rationale: `CO2 in ${zone.id} is ${co2} ppm, above ${band.co2Max} ppm; more fresh air`,
            evidence: { ...evidence, co2 },
            expectedEffect: effectOn(co2Point, 'decrease', 50, this.settleMs),
          }),
        );
      }
    }
    const rhPoint = f.first(zone.id, ROLES.humidity);
    const rh = numberOf(snapshot, rhPoint);
    const dehum = f.first(zone.id, ROLES.dehumidifier);
    if (rhPoint && dehum?.writable && band.humidityMax !== undefined && rh !== undefined && rh > band.humidityMax && boolOf(snapshot, dehum) !== true) {
      out.push(
        writeDraft(snapshot, {
          kind: 'humidity',
          point: dehum,
          value: true,
          confidence: 0.8,
          rationale: `humidity in ${zone.id} is ${rh} %, above ${band.humidityMax} %; dehumidifying`,
          evidence: { ...evidence, humidity: rh },
          expectedEffect: effectOn(rhPoint, 'decrease', 2, this.settleMs),
        }),
      );
    }
    return out;
  }

  protected judge(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    if (proposal.kind === 'comfort-restore' || proposal.kind === 'ventilation' || proposal.kind === 'humidity') {
      return approve(0.85, 'restores comfort');
    }
    const w = writtenPoint(snapshot, proposal);
    const ctx = w ? this.band(snapshot, w.point.zone) : undefined;
    if (!w || !ctx) return approve(0.5, 'no comfort impact found');
    const { band, occupied } = ctx;
    if (proposal.kind === 'setback') {
      if (occupied) return reject(0.9, `zone ${w.point.zone} is occupied; a setback would break comfort`);
      return approve(0.85, 'zone unoccupied; setback stays within the unoccupied band');
    }
    if (typeof w.value === 'number' && (w.point.role === ROLES.setpointCool || w.point.role === ROLES.setpointHeat)) {
      const value = asCelsius(w.point, w.value);
      const outside = value > band.tempMax + this.toleranceK || value < band.tempMin - this.toleranceK;
      if (outside) return reject(occupied ? 0.8 : 0.5, `setpoint ${showTemperature(w.point, value)} leaves the ${band.tempMin}-${band.tempMax} °C band`);
    }
    const tempPoint = snapshot.facility.first(w.point.zone, ROLES.zoneTemp);
    const temp = celsiusOf(snapshot, tempPoint);
    if (proposal.kind === 'simultaneous-heat-cool' && tempPoint && temp !== undefined && (temp < band.tempMin || temp > band.tempMax)) {
      return reject(0.5, `zone is already out of band at ${showTemperature(tempPoint, temp)}`);
    }
    return approve(0.7, 'keeps the zone in band');
  }
}
