/**
 * What the four specialists have in common: a relevance table per proposal kind, abstaining
 * outside their expertise, building write proposals from facility points (so device and point
 * names always come from the facility model), and temperatures in °C whatever the point's unit.
 */
import type { BoundPoint } from '../facility.js';
import { differenceText, fromCelsius, kelvinsIn, temperatureText, toCelsius } from '../quantity.js';
import { numberOf, valueOf, type FacilitySnapshot } from '../snapshot.js';
import type { Agent, Domain, ExpectedEffect, PointValue, Priority, Proposal, ProposalDraft, ProposalKind, VoteDraft } from '../types.js';
import { clamp01 } from '../types.js';

export type RelevanceTable = Readonly<Partial<Record<ProposalKind, number>>>;

export abstract class Specialist implements Agent {
  readonly vetoAuthority: boolean = false;

  protected constructor(
    readonly id: string,
    readonly domain: Domain,
    private readonly relevanceTable: RelevanceTable,
  ) {}

  relevance(kind: ProposalKind): number {
    return clamp01(this.relevanceTable[kind] ?? 0);
  }

  abstract propose(snapshot: FacilitySnapshot): readonly ProposalDraft[];

  vote(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft {
    if (this.relevance(proposal.kind) === 0) return abstain(`${this.domain}: outside my expertise`);
    return this.judge(proposal, snapshot);
  }

  /** The vote on a proposal within this specialist's expertise. */
  protected abstract judge(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft;
}

export function approve(confidence: number, reason: string): VoteDraft {
  return { choice: 'approve', confidence: clamp01(confidence), reason };
}

export function reject(confidence: number, reason: string): VoteDraft {
  return { choice: 'reject', confidence: clamp01(confidence), reason };
}

export function abstain(reason: string): VoteDraft {
  return { choice: 'abstain', confidence: 0, reason };
}

export interface WriteDraftInput {
  readonly kind: ProposalKind;
  readonly point: BoundPoint;
  readonly value: PointValue;
  readonly confidence: number;
  readonly rationale: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
  readonly expectedEffect?: ExpectedEffect;
  readonly priority?: Priority;
  readonly rollback?: boolean;
  readonly dedupeKey?: string;
}

/** A write proposal on a facility point; the previous value is taken from the snapshot for rollback. */
export function writeDraft(snapshot: FacilitySnapshot, input: WriteDraftInput): ProposalDraft {
  const previous = valueOf(snapshot, input.point);
  return {
    kind: input.kind,
    site: input.point.site,
    zone: input.point.zone,
    gateway: input.point.gateway,
    action: { kind: 'write', device: input.point.device, point: input.point.point, value: input.value },
    ...(previous === undefined ? {} : { previous }),
    confidence: clamp01(input.confidence),
    rationale: input.rationale,
    evidence: { point: input.point.key, role: input.point.role, current: previous ?? null, ...(input.evidence ?? {}) },
    ...(input.expectedEffect === undefined ? {} : { expectedEffect: input.expectedEffect }),
    priority: input.priority ?? 'normal',
    ...(input.rollback === undefined ? {} : { rollback: input.rollback }),
    ...(input.dedupeKey === undefined ? {} : { dedupeKey: input.dedupeKey }),
  };
}

/** An expected effect on a facility point. */
export function effectOn(
  p: BoundPoint,
  direction: ExpectedEffect['direction'],
  magnitude: number,
  settleMs: number,
  target?: { target: number; tolerance: number },
): ExpectedEffect {
  return { gateway: p.gateway, device: p.device, point: p.point, direction, magnitude, settleMs, ...(target ?? {}) };
}

/** The written point of a proposal, if it is a write on a known facility point. */
export function writtenPoint(snapshot: FacilitySnapshot, proposal: Proposal): { point: BoundPoint; value: PointValue } | undefined {
  const a = proposal.action;
  if (!a || a.kind !== 'write' || a.value === null) return undefined; // a relinquish sets no value of its own
  const point = snapshot.facility.point(proposal.gateway, a.device, a.point);
  return point ? { point, value: a.value } : undefined;
}

/*
 * Temperatures: the specialists reason in °C (differences in K), like the facility model's limits
 * and bands; a temperature-role point reads and takes its own unit (BoundPoint.temperature, checked
 * at load). Readings come in through celsiusOf/asCelsius; values written to a point, effects
 * expected on it and text about it go out through inPointUnit, kelvinsInPointUnit and the show*
 * helpers. Points of other roles pass through unchanged.
 */

/** A point's latest good reading in °C. */
export function celsiusOf(snapshot: FacilitySnapshot, p: BoundPoint | undefined): number | undefined {
  const v = numberOf(snapshot, p);
  return v === undefined || p === undefined ? v : asCelsius(p, v);
}

/** A value in the point's unit as °C. */
export function asCelsius(p: BoundPoint, value: number): number {
  return p.temperature ? toCelsius(value, p.temperature) : value;
}

/** A temperature in °C in the point's unit: what is written to it or expected of it. */
export function inPointUnit(p: BoundPoint, celsius: number): number {
  return p.temperature ? fromCelsius(celsius, p.temperature) : celsius;
}

/** A temperature difference (K) in the point's unit: an effect's magnitude or tolerance. */
export function kelvinsInPointUnit(p: BoundPoint, kelvins: number): number {
  return p.temperature ? kelvinsIn(kelvins, p.temperature) : kelvins;
}

/** A temperature in °C as people read it at this point ("73.4 °F"). */
export function showTemperature(p: BoundPoint, celsius: number): string {
  return temperatureText(celsius, p.temperature ?? 'degC');
}

/** A temperature difference (K) as people read it at this point ("3.6 °F"). */
export function showDifference(p: BoundPoint, kelvins: number): string {
  return differenceText(kelvins, p.temperature ?? 'degC');
}
