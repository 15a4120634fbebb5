/**
 * The catalogue of energy measures and which gateways can carry them (by the roles of their
 * points). Savings are rough shares of the gateway's baseline load; comfort risk grows with
 * intensity. Numbers are planning estimates, corrected by feedback at run time.
 */
import { ROLES, type FacilityGateway, type Site, type Zone } from '../facility.js';
import type { Domain } from '../types.js';
import type { MeasureKind, Objective } from './model.js';

export interface MeasureSpec {
  readonly kind: MeasureKind;
  /** Every role listed in one inner array must be present (any of the outer alternatives). */
  readonly needs: ReadonlyArray<readonly string[]>;
  readonly needsSchedule: boolean;
  readonly savingPct: (level: number) => number;
  readonly comfortRisk: (level: number) => number;
  readonly maxLevel: number;
  readonly specialists: readonly Domain[];
}

export const MEASURES: readonly MeasureSpec[] = [
  {
    kind: 'hc-lockout',
    needs: [[ROLES.heatingValve, ROLES.coolingValve]],
    needsSchedule: false,
    savingPct: () => 4,
    comfortRisk: () => 0.05,
    maxLevel: 1,
    specialists: ['energy', 'comfort', 'equipment'],
  },
  {
    kind: 'lighting-schedule',
    needs: [[ROLES.lighting]],
    needsSchedule: true,
    savingPct: (l) => 6 + 3 * (l - 1),
    comfortRisk: (l) => 0.05 + 0.1 * (l - 1),
    maxLevel: 2,
    specialists: ['energy', 'comfort'],
  },
  {
    kind: 'setback',
    needs: [[ROLES.setpointHeat], [ROLES.setpointCool]],
    needsSchedule: true,
    savingPct: (l) => 8 + 3 * (l - 1),
    comfortRisk: (l) => 0.1 + 0.1 * (l - 1),
    maxLevel: 3,
    specialists: ['energy', 'comfort'],
  },
  {
    kind: 'peak-shed',
    needs: [[ROLES.sheddableLoad]],
    needsSchedule: false,
    savingPct: (l) => 2 + (l - 1),
    comfortRisk: (l) => 0.1 + 0.1 * (l - 1),
    maxLevel: 2,
    specialists: ['energy', 'equipment'],
  },
  {
    kind: 'deadband-widen',
    needs: [[ROLES.setpointHeat, ROLES.setpointCool]],
    needsSchedule: false,
    savingPct: (l) => 4 + 2 * (l - 1),
    comfortRisk: (l) => 0.3 + 0.15 * (l - 1),
    maxLevel: 3,
    specialists: ['energy', 'comfort'],
  },
];

export const MEASURE_BY_KIND: ReadonlyMap<MeasureKind, MeasureSpec> = new Map(MEASURES.map((m) => [m.kind, m]));

export interface Candidate {
  readonly key: string;
  readonly spec: MeasureSpec;
  readonly site: string;
  readonly zone: string;
  readonly gateway: string;
  readonly baselineKw: number;
  readonly points: ReadonlyArray<{ readonly device: string; readonly point: string; readonly role: string }>;
}

export const DEFAULT_GATEWAY_KW = 5;

export function gatewayKw(g: FacilityGateway): number {
  return g.baselineKw ?? DEFAULT_GATEWAY_KW;
}

export function siteBaselineKw(site: Site): number {
  let kw = 0;
  for (const z of site.zones) for (const g of z.gateways) kw += gatewayKw(g);
  return kw;
}

/** May the plan touch this zone at all? */
export function zoneAllowed(zone: Zone, objective: Objective): boolean {
  if (objective.constraints.excludeZones.includes(zone.id)) return false;
  return !(zone.kind === 'cold-room' && objective.constraints.protectColdChain);
}

/** Every (gateway, measure) the site can carry, in a stable order. */
export function candidates(site: Site, objective: Objective): Candidate[] {
  const out: Candidate[] = [];
  for (const zone of site.zones) {
    if (!zoneAllowed(zone, objective)) continue;
    for (const g of zone.gateways) {
      const roles = new Map<string, { device: string; point: string; role: string }>();
      for (const p of g.points) if (p.writable && !roles.has(p.role)) roles.set(p.role, { device: p.device, point: p.point, role: p.role });
      for (const spec of MEASURES) {
        if (spec.needsSchedule && !zone.schedule) continue;
        const alt = spec.needs.filter((set) => set.every((r) => roles.has(r)));
        if (alt.length === 0) continue;
        const points = [...new Set(alt.flat())].map((r) => roles.get(r)).filter((p): p is NonNullable<typeof p> => p !== undefined);
        out.push({ key: `${g.id}:${spec.kind}`, spec, site: site.id, zone: zone.id, gateway: g.id, baselineKw: gatewayKw(g), points });
      }
    }
  }
  return out;
}

export function savingKw(c: Candidate, level: number): number {
  return (c.baselineKw * c.spec.savingPct(level)) / 100;
}
