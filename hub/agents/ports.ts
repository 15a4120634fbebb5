/**
 * What the agents need from the rest of the hub, as small interfaces the lead adapts to the real
 * store, command service and review queue. Agents never talk HTTP or MQTT themselves.
 */
import type { Action } from '../../shared/wire/messages.js';
import type { Decision } from './consensus/types.js';
import type { Priority, PointValue, Vote, WorkOrder } from './types.js';

export interface CommandResult {
  /** Command id as sent to the gateway. */
  readonly id: string;
  readonly outcome: 'applied' | 'rejected' | 'timeout';
  readonly reason?: string;
}

export interface CommandOptions {
  /** Same key, same command: the command service must not apply it twice. */
  readonly idempotencyKey: string;
  /** Who asked ("agent:<id>"), for the command's origin field. */
  readonly origin: string;
  readonly expiresAt?: number;
}

/** Sends one action to a gateway and resolves when it is applied, rejected or timed out. */
export interface CommandPort {
  send(gateway: string, action: Action, options: CommandOptions): Promise<CommandResult>;
}

export interface TelemetrySample {
  readonly ts: number;
  readonly value: PointValue;
}

/** Reads stored telemetry of one point. */
export interface TelemetryPort {
  /** Samples with fromMs <= ts <= toMs, oldest first. */
  window(gateway: string, device: string, point: string, fromMs: number, toMs: number): Promise<readonly TelemetrySample[]>;
  latest(gateway: string, device: string, point: string): Promise<TelemetrySample | undefined>;
}

/** Decisions already executed (idempotency); persist it so a restart never re-executes. */
export interface ExecutedSet {
  /** Marks the key; resolves false when it was already marked (then do not execute). */
  claim(key: string): Promise<boolean>;
  has(key: string): Promise<boolean>;
}

/** Why a decision goes to the technicians; 'execution-refused': it was sent on its own confidence and the gateway refused it. */
export type ReviewReason = 'low-confidence' | 'rejected' | 'no-quorum' | 'advice' | 'conflict' | 'execution-refused';

/** What the coordinator hands the review queue: a decision it may not execute alone, with its evidence (the runtime turns it into a review item). */
export interface ReviewSubmission {
  /** The decision id (stable: resubmitting the same item must not duplicate it). */
  readonly id: string;
  readonly reason: ReviewReason;
  readonly site: string;
  readonly zone?: string;
  readonly gateway: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly priority: Priority;
  /** What would be executed on approval; null for advice (work orders). */
  readonly action: Action | null;
  readonly workOrder?: WorkOrder;
  readonly kind: string;
  readonly confidence: number;
  readonly rationale: string;
  readonly evidence: {
    readonly proposal: Readonly<Record<string, unknown>>;
    readonly telemetry: ReadonlyArray<{ readonly point: string; readonly samples: readonly TelemetrySample[] }>;
    readonly votes: readonly Vote[];
    readonly dissent: readonly Vote[];
    readonly outcome: Decision['outcome'];
    readonly weights: Readonly<Record<string, number>>;
  };
  readonly decision: Decision;
}

/** The technician review queue (comes later); submit must be idempotent on item.id. */
export interface ReviewSink {
  submit(item: ReviewSubmission): Promise<void> | void;
}
