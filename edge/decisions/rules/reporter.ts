/**
 * Where the local decision layer tells the world what it saw and did: anomaly and local-action
 * events, and recommendations waiting for a technician. The lead wires a Reporter to federation
 * (enqueueEvent / enqueueReview, queued while the hub is away); without a hub it only logs.
 * Reporting never throws into the caller: a failing sink must not stop a rule or the advisor.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../../../shared/kit/errors.js';
import type { GatewayEvent, ReviewRequest } from '../../../shared/wire/messages.js';

export interface Reporter {
  event(e: GatewayEvent): void;
  review(r: ReviewRequest): void;
}

/** Reporter used when no hub is configured: structured log lines, nothing else. */
export function loggingReporter(log: Logger): Reporter {
  return {
    event(e) {
      const level = e.severity === 'critical' ? 'error' : e.severity === 'warning' ? 'warn' : 'info';
      log[level]({ event: e.kind, id: e.id, device: e.device, point: e.point, data: e.data }, e.message);
    },
    review(r) {
      log.info({ review: r.id, actionClass: r.actionClass, action: r.action, confidence: r.confidence, expiresAt: r.expiresAt }, `recommendation for review: ${r.rationale}`);
    },
  };
}

/** Sends everything to each reporter in turn (e.g. federation and the log); one failing does not stop the others. */
export function teeReporter(reporters: readonly Reporter[], log?: Logger): Reporter {
  const each = (fn: (r: Reporter) => void): void => {
    for (const r of reporters) {
      try {
        fn(r);
      } catch (err) {
        log?.error({ err: errorMessage(err) }, 'reporter failed');
      }
    }
  };
  return { event: (e) => each((r) => r.event(e)), review: (r) => each((x) => x.review(r)) };
}

/** Keeps everything it is given (tests, the local API). */
export class MemoryReporter implements Reporter {
  readonly events: GatewayEvent[] = [];
  readonly reviews: ReviewRequest[] = [];
  event(e: GatewayEvent): void {
    this.events.push(e);
  }
  review(r: ReviewRequest): void {
    this.reviews.push(r);
  }
}

export interface EventInput {
  readonly kind: GatewayEvent['kind'];
  readonly severity: GatewayEvent['severity'];
  readonly message: string;
  readonly device?: string;
  readonly point?: string;
  readonly data?: Record<string, unknown>;
  readonly ts?: number;
}

/** A wire-valid event (EventSchema): fresh id, message cut to the schema's limit. */
export function makeEvent(gateway: string, input: EventInput): GatewayEvent {
  return {
    v: 1,
    id: randomUUID(),
    gateway,
    ts: Math.max(0, Math.round(input.ts ?? Date.now())),
    kind: input.kind,
    severity: input.severity,
    ...(input.device !== undefined ? { device: input.device } : {}),
    ...(input.point !== undefined ? { point: input.point } : {}),
    message: clip(input.message, 2000),
    ...(input.data !== undefined ? { data: input.data } : {}),
  };
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Calls reporter.event, logging instead of throwing when the sink fails. */
export function safeReport(reporter: Reporter, log: Logger, e: GatewayEvent): void {
  try {
    reporter.event(e);
  } catch (err) {
    log.error({ err: errorMessage(err), event: e.kind }, 'reporter failed to take an event');
  }
}
