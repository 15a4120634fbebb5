/**
 * Equipment-health specialist: turns anomaly events, runtime hours and short-cycling into
 * maintenance work orders, and brings in backup equipment when a cold room warms while its main
 * compressor is not running.
 */
import type { GatewayEvent } from '../../../../shared/wire/messages.js';
import { ROLES, type BoundPoint, type Site, type Zone } from '../../facility.js';
import { approve, celsiusOf, effectOn, kelvinsInPointUnit, reject, showDifference, showTemperature, Specialist, writeDraft, writtenPoint } from '../specialist.js';
import { boolOf, historyOf, numberOf, type FacilitySnapshot } from '../../snapshot.js';
import type { Priority, Proposal, ProposalDraft, VoteDraft } from '../../types.js';

export interface EquipmentHealthOptions {
  readonly id?: string;
  /** How far above its setpoint a cold room may drift before backup is worth it (K). */
  readonly coldRoomDriftK?: number;
  readonly settleMs?: number;
}

const RELEVANCE = {
  maintenance: 1,
  'backup-equipment': 0.9,
  'cold-chain': 0.6,
  'peak-shed': 0.3,
  setback: 0.2,
  'simultaneous-heat-cool': 0.4,
  interlock: 0.4,
} as const;

const HOUR = 3_600_000;

export class EquipmentHealthSpecialist extends Specialist {
  private readonly driftK: number;
  private readonly settleMs: number;

  constructor(options: EquipmentHealthOptions = {}) {
    super(options.id ?? 'equipment-health', 'equipment', RELEVANCE);
    this.driftK = options.coldRoomDriftK ?? 2;
    this.settleMs = options.settleMs ?? 15 * 60_000;
  }

  propose(snapshot: FacilitySnapshot): ProposalDraft[] {
    const site = snapshot.facility.site(snapshot.site);
    if (!site) return [];
    const out: ProposalDraft[] = [];
    const handled = new Set<string>();
    for (const event of this.anomalies(snapshot)) {
      if (!event.device || !event.point) continue;
      const p = snapshot.facility.point(event.gateway, event.device, event.point);
      if (!p || handled.has(p.key)) continue;
      handled.add(p.key);
      out.push(...this.onAnomaly(snapshot, site, p, event));
    }
    for (const zone of site.zones) out.push(...this.runtime(snapshot, site, zone), ...this.shortCycling(snapshot, site, zone));
    return out;
  }

  private anomalies(snapshot: FacilitySnapshot): GatewayEvent[] {
    const list = snapshot.trigger ? [snapshot.trigger, ...snapshot.events] : [...snapshot.events];
    return list.filter((e) => e.kind === 'anomaly');
  }

  private onAnomaly(snapshot: FacilitySnapshot, site: Site, p: BoundPoint, event: GatewayEvent): ProposalDraft[] {
    const zone = snapshot.facility.zone(p.zone)?.zone;
    const score = typeof event.data?.score === 'number' ? event.data.score : undefined;
    const severityFactor = event.severity === 'critical' ? 1 : event.severity === 'warning' ? 0.94 : 0.85;
    const evidence = { event: event.id, severity: event.severity, message: event.message, score: score ?? null };
    if (p.role === ROLES.coldRoomTemp && zone) {
      const out = this.coldRoomBackup(snapshot, p, zone, severityFactor, evidence);
      if (out.length > 0) return out;
    }
    const urgency: Priority = event.severity === 'critical' ? 'high' : 'normal';
    // The gateway's message already says "anomaly on <device>/<point>: …".
    const problem = event.message.startsWith('anomaly on') ? event.message : `anomaly on ${p.point}: ${event.message}`;
    return [this.workOrder(p, site, problem, `inspect ${p.equipment ?? p.device}`, urgency, 0.6 * severityFactor, evidence, event.id)];
  }

  private coldRoomBackup(snapshot: FacilitySnapshot, temp: BoundPoint, zone: Zone, factor: number, evidence: Record<string, unknown>): ProposalDraft[] {
    const f = snapshot.facility;
    const t = celsiusOf(snapshot, temp);
    const setpoint = celsiusOf(snapshot, f.first(zone.id, ROLES.coldRoomSetpoint)) ?? (zone.coldChain?.maxC ?? -15) - 3;
    if (t === undefined || t < setpoint + this.driftK) return [];
    const mainPoint = f.first(zone.id, ROLES.compressorRunning);
    const main = boolOf(snapshot, mainPoint);
    if (main === true) return [];
    const relay = f.first(zone.id, ROLES.backupCompressorRelay);
    const site = f.site(temp.site);
    const out: ProposalDraft[] = [];
    if (relay?.writable && boolOf(snapshot, relay) !== true) {
      out.push(
        writeDraft(snapshot, {
          kind: 'backup-equipment',
          point: relay,
          value: true,
          confidence: (main === false ? 0.88 : 0.75) * factor,
          rationale: `cold room ${zone.id} is at ${showTemperature(temp, t)}, ${showDifference(temp, t - setpoint)} above its ${showTemperature(temp, setpoint)} setpoint, and the main compressor is ${main === false ? 'not running' : 'in an unknown state'}; switching on the backup compressor`,
          evidence: { ...evidence, zone: zone.id, temperature: t, setpoint, mainCompressorRunning: main ?? null },
          expectedEffect: effectOn(temp, 'decrease', kelvinsInPointUnit(temp, 0.5), this.settleMs),
          priority: 'high',
          rollback: false,
        }),
      );
    }
    if (site && mainPoint) {
      out.push(
        this.workOrder(
          mainPoint,
          site,
          `main compressor not running while ${zone.id} warms (${showTemperature(temp, t)}, ${showDifference(temp, t - setpoint)} above its ${showTemperature(temp, setpoint)} setpoint)`,
          'check the main compressor, its contactor and thermostat',
          'high',
          0.85 * factor,
          evidence,
          `${zone.id}-main-compressor-${Math.floor(snapshot.ts / HOUR)}`,
        ),
      );
    }
    return out;
  }

  private runtime(snapshot: FacilitySnapshot, site: Site, zone: Zone): ProposalDraft[] {
    return snapshot.facility.role(zone.id, ROLES.runtimeHours).flatMap((p) => {
      const hours = numberOf(snapshot, p);
      if (hours === undefined || hours < site.serviceIntervalH) return [];
      const due = Math.floor(hours / site.serviceIntervalH);
      // Each interval reached is its own occurrence: service #2 is due even if #1 was closed.
      return [this.workOrder(p, site, `${Math.round(hours)} runtime hours, service interval ${site.serviceIntervalH} h`, `service ${p.equipment ?? p.device}`, 'normal', 0.9, { runtimeHours: hours }, `service-${due}`, `service-due-${due}`)];
    });
  }

  private shortCycling(snapshot: FacilitySnapshot, site: Site, zone: Zone): ProposalDraft[] {
    return snapshot.facility.role(zone.id, ROLES.compressorStarts).flatMap((p) => {
      const recent = historyOf(snapshot, p).filter((s) => s.ts >= snapshot.ts - HOUR);
      const now = numberOf(snapshot, p);
      const first = recent[0];
      if (!first || now === undefined) return [];
      const starts = now - first.value;
      const spanH = Math.max((snapshot.ts - first.ts) / HOUR, 0.25);
      const perHour = starts / Math.max(spanH, 1);
      if (perHour <= site.maxStartsPerHour) return [];
      return [
        this.workOrder(p, site, `short-cycling: ${starts} starts in ${(spanH * 60).toFixed(0)} min (limit ${site.maxStartsPerHour}/h)`, `check refrigerant charge, thermostat differential and controls of ${p.equipment ?? p.device}`, 'high', Math.min(0.95, 0.7 + 0.05 * (perHour - site.maxStartsPerHour)), { startsPerHour: perHour, starts }, `short-cycle-${Math.floor(snapshot.ts / HOUR)}`),
      ];
    });
  }

  private workOrder(p: BoundPoint, site: Site, problem: string, task: string, urgency: Priority, confidence: number, evidence: Record<string, unknown>, dedupeKey: string, condition?: string): ProposalDraft {
    return {
      kind: 'maintenance',
      site: site.id,
      zone: p.zone,
      gateway: p.gateway,
      action: null,
      confidence,
      rationale: `${p.equipment ?? p.device}: ${problem}`,
      evidence: { point: p.key, ...evidence },
      workOrder: { equipment: p.equipment ?? `${p.gateway}/${p.device}`, problem, task, urgency, ...(condition === undefined ? {} : { condition }) },
      priority: urgency,
      dedupeKey,
    };
  }

  protected judge(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    if (proposal.kind === 'maintenance') return approve(0.8, 'maintenance keeps equipment healthy');
    const w = writtenPoint(snapshot, proposal);
    if (proposal.kind === 'backup-equipment' || proposal.kind === 'cold-chain') {
      const main = w ? boolOf(snapshot, snapshot.facility.first(w.point.zone, ROLES.compressorRunning)) : undefined;
      return main === true ? approve(0.55, 'main compressor runs; backup adds margin') : approve(0.88, 'main compressor is not running; backup is needed');
    }
    if (w && this.isShortCycling(snapshot, w.point.zone) && typeof w.value === 'boolean') {
      return reject(0.6, 'equipment in this zone is short-cycling; avoid more switching');
    }
    return approve(0.6, 'no equipment concern');
  }

  private isShortCycling(snapshot: FacilitySnapshot, zone: string): boolean {
    const site = snapshot.facility.zone(zone);
    if (!site) return false;
    return this.shortCycling(snapshot, site.site, site.zone).length > 0;
  }
}
