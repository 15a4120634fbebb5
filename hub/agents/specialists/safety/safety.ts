/**
 * Safety & compliance specialist: cold-chain limits (e.g. a freezer above -15 °C for more than N
 * minutes) and hard interlocks from the facility model. It holds delegated authority: its veto
 * stops any proposal that would break an interlock or weaken cold-chain protection. Limits are in
 * °C; cold-room points may read in °F or K (specialist.ts converts). Interlocks compare the
 * point's own values, in its own unit, as the facility model writes them.
 */
import { compare, ROLES, type BoundPoint, type Interlock, type Site, type Zone } from '../../facility.js';
import { abstain, approve, asCelsius, celsiusOf, effectOn, inPointUnit, kelvinsInPointUnit, showDifference, showTemperature, Specialist, writeDraft, writtenPoint } from '../specialist.js';
import { boolOf, msAbove, valueOf, type FacilitySnapshot } from '../../snapshot.js';
import type { PointValue, Proposal, ProposalDraft, VoteDraft } from '../../types.js';

export interface SafetyOptions {
  readonly id?: string;
  /** Margin below the cold-chain limit that cold-room setpoints must keep (K). */
  readonly coldChainMarginK?: number;
  readonly settleMs?: number;
}

const RELEVANCE = {
  'cold-chain': 1,
  interlock: 1,
  'backup-equipment': 1,
  maintenance: 0.4,
  ventilation: 0.4,
  setback: 0.3,
  'peak-shed': 0.3,
  'simultaneous-heat-cool': 0.2,
  'comfort-restore': 0.2,
  humidity: 0.2,
} as const;

const COLD_CHAIN_DEFAULT = { maxC: -15, maxMinutes: 10 };

export class SafetySpecialist extends Specialist {
  override readonly vetoAuthority = true;
  private readonly marginK: number;
  private readonly settleMs: number;

  constructor(options: SafetyOptions = {}) {
    super(options.id ?? 'safety', 'safety', RELEVANCE);
    this.marginK = options.coldChainMarginK ?? 3;
    this.settleMs = options.settleMs ?? 10 * 60_000;
  }

  propose(snapshot: FacilitySnapshot): ProposalDraft[] {
    const site = snapshot.facility.site(snapshot.site);
    if (!site) return [];
    const out: ProposalDraft[] = [];
    for (const zone of site.zones) out.push(...this.coldChain(snapshot, zone));
    for (const lock of site.interlocks) {
      const d = this.restoreInterlock(snapshot, site, lock);
      if (d) out.push(d);
    }
    return out;
  }

  private coldChain(snapshot: FacilitySnapshot, zone: Zone): ProposalDraft[] {
    const limits = zone.coldChain ?? (zone.kind === 'cold-room' ? COLD_CHAIN_DEFAULT : undefined);
    if (!limits) return [];
    const f = snapshot.facility;
    return f.role(zone.id, ROLES.coldRoomTemp).flatMap((temp) => {
      // The limit in the point's unit: every unit grows with temperature, so "above" is the same.
      const above = msAbove(snapshot, temp, inPointUnit(temp, limits.maxC));
      if (above === 0 || above < limits.maxMinutes * 60_000) return [];
      const t = celsiusOf(snapshot, temp);
      const evidence = { zone: zone.id, temperature: t ?? null, limitC: limits.maxC, minutesAbove: Math.round(above / 60_000), allowedMinutes: limits.maxMinutes };
      const relay = f.first(zone.id, ROLES.backupCompressorRelay);
      if (relay?.writable && boolOf(snapshot, relay) !== true) {
        return [
          writeDraft(snapshot, {
            kind: 'cold-chain',
            point: relay,
            value: true,
            confidence: 0.95,
            rationale: `cold-chain breach in ${zone.id}: ${t === undefined ? 'unknown' : showTemperature(temp, t)}, above ${showTemperature(temp, limits.maxC)} for ${evidence.minutesAbove} min (limit ${limits.maxMinutes} min); switching on the backup compressor`,
            evidence,
            expectedEffect: effectOn(temp, 'decrease', kelvinsInPointUnit(temp, 0.5), this.settleMs),
            priority: 'critical',
            rollback: false,
          }),
        ];
      }
      if (relay && boolOf(snapshot, relay) === true) {
        // Backup already runs and the room is still too warm: only people can save the product now.
        return [
          {
            kind: 'cold-chain',
            site: temp.site,
            zone: zone.id,
            gateway: temp.gateway,
            action: null,
            confidence: 0.95,
            rationale: `cold-chain breach in ${zone.id} persists with the backup compressor on`,
            evidence,
            workOrder: { equipment: temp.equipment ?? zone.id, problem: 'cold-chain breach with backup running', task: 'move product to another cold room; inspect refrigeration', urgency: 'critical' },
            priority: 'critical',
            dedupeKey: `breach-${Math.floor(snapshot.ts / 3_600_000)}`,
          },
        ];
      }
      return [];
    });
  }

  /** An interlock currently violated: propose the nearest safe value when there is one. */
  private restoreInterlock(snapshot: FacilitySnapshot, site: Site, lock: Interlock): ProposalDraft | undefined {
    const gateway = lock.gateway ?? this.gatewayOf(snapshot, site, lock.device, lock.point);
    if (!gateway) return undefined;
    const p = snapshot.facility.point(gateway, lock.device, lock.point);
    const current = valueOf(snapshot, p);
    if (!p || !p.writable || current === undefined) return undefined;
    if (!compare(current, lock.forbid.op, lock.forbid.value) || !this.conditionHolds(snapshot, site, lock)) return undefined;
    const safe = safeValue(lock.forbid.op, lock.forbid.value);
    if (safe === undefined) return undefined;
    return writeDraft(snapshot, {
      kind: 'interlock',
      point: p,
      value: safe,
      confidence: 0.9,
      rationale: `interlock ${lock.id} violated: ${lock.description}; setting ${p.key} to ${String(safe)}`,
      evidence: { interlock: lock.id, current },
      priority: 'critical',
      rollback: false,
    });
  }

  private gatewayOf(snapshot: FacilitySnapshot, site: Site, device: string, point: string): string | undefined {
    for (const zone of site.zones) for (const g of zone.gateways) if (snapshot.facility.point(g.id, device, point)) return g.id;
    return undefined;
  }

  private conditionHolds(snapshot: FacilitySnapshot, site: Site, lock: Interlock): boolean {
    const when = lock.when;
    if (!when) return true;
    const gateway = when.gateway ?? this.gatewayOf(snapshot, site, when.device, when.point);
    const v = gateway ? valueOf(snapshot, snapshot.facility.point(gateway, when.device, when.point)) : undefined;
    // Unknown state: assume the dangerous condition holds (fail safe).
    return v === undefined ? true : compare(v, when.op, when.value);
  }

  override vote(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    const veto = this.vetoReason(proposal, snapshot);
    if (veto) return { choice: 'reject', confidence: 0.99, veto: true, reason: veto };
    return super.vote(proposal, snapshot);
  }

  private vetoReason(proposal: Proposal, snapshot: FacilitySnapshot): string | undefined {
    const w = writtenPoint(snapshot, proposal);
    if (!w) return undefined;
    const site = snapshot.facility.site(w.point.site);
    if (!site) return undefined;
    for (const lock of site.interlocks) {
      if (lock.device !== w.point.device || lock.point !== w.point.point) continue;
      if (lock.gateway !== undefined && lock.gateway !== w.point.gateway) continue;
      if (compare(w.value, lock.forbid.op, lock.forbid.value) && this.conditionHolds(snapshot, site, lock)) {
        return `interlock ${lock.id}: ${lock.description}`;
      }
    }
    return this.coldChainVeto(snapshot, w.point, w.value);
  }

  private coldChainVeto(snapshot: FacilitySnapshot, p: BoundPoint, value: PointValue): string | undefined {
    const zone = snapshot.facility.zone(p.zone)?.zone;
    const limits = zone?.coldChain ?? (zone?.kind === 'cold-room' ? COLD_CHAIN_DEFAULT : undefined);
    if (!zone || !limits) return undefined;
    const tempPoint = snapshot.facility.first(zone.id, ROLES.coldRoomTemp);
    const t = celsiusOf(snapshot, tempPoint);
    const warm = t === undefined || t > limits.maxC - this.marginK;
    if (p.role === ROLES.coldRoomSetpoint && typeof value === 'number' && asCelsius(p, value) > limits.maxC - this.marginK) {
      return `cold-room setpoint ${showTemperature(p, asCelsius(p, value))} is within ${showDifference(p, this.marginK)} of the ${showTemperature(p, limits.maxC)} cold-chain limit`;
    }
    if ((p.role === ROLES.backupCompressorRelay || p.role === ROLES.compressorRunning) && value === false && warm) {
      return `switching off refrigeration in ${zone.id} while it is at ${t === undefined || !tempPoint ? 'an unknown temperature' : showTemperature(tempPoint, t)} risks the cold chain`;
    }
    return undefined;
  }

  protected judge(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    if (proposal.kind === 'cold-chain' || proposal.kind === 'backup-equipment' || proposal.kind === 'interlock') {
      const w = writtenPoint(snapshot, proposal);
      const zone = w ? snapshot.facility.zone(w.point.zone)?.zone : undefined;
      const limits = zone?.coldChain ?? COLD_CHAIN_DEFAULT;
      const tempPoint = zone ? snapshot.facility.first(zone.id, ROLES.coldRoomTemp) : undefined;
      const t = celsiusOf(snapshot, tempPoint);
      if (tempPoint && t !== undefined && t > limits.maxC - this.marginK) return approve(0.95, `product at risk: ${showTemperature(tempPoint, t)} vs limit ${showTemperature(tempPoint, limits.maxC)}`);
      return approve(0.7, 'adds protection');
    }
    if (proposal.action === null) return abstain('advice only; no safety impact');
    return approve(0.8, 'no interlock or cold-chain rule affected');
  }
}

function safeValue(op: Interlock['forbid']['op'], forbidden: PointValue): PointValue | undefined {
  if (typeof forbidden === 'boolean' && (op === 'eq' || op === 'ne')) return op === 'eq' ? !forbidden : forbidden;
  if (typeof forbidden !== 'number') return op === 'ne' ? forbidden : undefined;
  if (op === 'gt') return forbidden;
  if (op === 'lt') return forbidden;
  if (op === 'ne') return forbidden;
  return undefined;
}
