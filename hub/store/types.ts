/**
 * The hub store contract. Both implementations (SQLite, PostgreSQL) pass the same suite
 * (test/hub/store/contract.ts). All methods are async so callers never depend on which one runs.
 * Times are milliseconds since the epoch. Gateway ids are unique across sites.
 */
import type { Command, GapRecord, GatewayEvent, GatewayState, PointValue, Quality, TelemetryBatch } from '../../shared/wire/messages.js';

export type { PointValue, Quality };
/** A stored value: null where the reading was bad. */
export type StoredValue = PointValue | null;

export interface StoredReading {
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  readonly value: StoredValue;
  readonly quality: Quality;
  readonly ts: number;
  readonly cause?: string;
}

export interface RawSample {
  readonly ts: number;
  readonly value: StoredValue;
  readonly quality: Quality;
  readonly cause?: string;
}

/**
 * One downsampled bucket [start, start + bucketMs). Numbers and booleans (as 0/1) of good and
 * uncertain quality count; bad readings, nulls and strings do not. Empty buckets are omitted.
 */
export interface HistoryBucket {
  readonly start: number;
  readonly avg: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** The oldest raw samples of a range (TelemetryStore.historyHead). */
export interface SamplePage {
  /** from <= ts < next (to when next is absent), ordered as history() orders them. */
  readonly samples: RawSample[];
  /** Set when the range holds more: the ts the rest starts at (ask again with from = next). */
  readonly next?: number;
}

export interface IngestResult {
  /** false when (gateway, bootId, seq) was stored before: nothing was written. */
  readonly stored: boolean;
  readonly readings: number;
  /**
   * Set when the key was stored before with other readings (a gateway bug or a reused boot id):
   * not stored, the first batch is kept, the store has logged it. Absent for a plain duplicate.
   */
  readonly conflict?: true;
}

export interface StoredGap extends GapRecord {
  readonly receivedAt: number;
  /**
   * How many of the record's batches (fromSeq..toSeq) the hub stored after all: a dead letter
   * re-queued after its `refused` record, or a batch an `-unconfirmed` record says the hub may have.
   * Given by gapPage() while the hub still keeps the keys of those batches (readings newer than the
   * raw retention); absent for older records.
   */
  readonly storedBatches?: number;
}

export interface StoredEvent extends GatewayEvent {
  readonly site: string;
  readonly receivedAt: number;
}

export interface EventQuery {
  readonly gateway?: string;
  readonly site?: string;
  readonly kind?: GatewayEvent['kind'];
  readonly severity?: GatewayEvent['severity'];
  readonly from?: number;
  readonly to?: number;
  /** Newest first; default 100. */
  readonly limit?: number;
}

/** Events in the order the hub stored them (catching up on what other hub processes stored). */
export interface ReceivedEventQuery {
  readonly kind?: GatewayEvent['kind'];
  /** Received at or after this (ms, the storing process's clock). */
  readonly from: number;
  /** After this one (received_at, then id): the last of the previous page. */
  readonly after?: { readonly receivedAt: number; readonly id: string };
  readonly limit: number;
}

export type GatewayStatus = 'online' | 'offline' | 'unknown';

export interface GatewayRecord {
  readonly gateway: string;
  readonly site: string;
  readonly status: GatewayStatus;
  readonly firstSeen: number;
  /** Last message of any kind from this gateway. */
  readonly lastSeen: number | null;
  /** ts of the last state (birth/will) message applied. */
  readonly stateTs: number | null;
  readonly bootId?: string;
  readonly version?: string;
  readonly health?: NonNullable<GatewayState['health']>;
  readonly devices?: NonNullable<GatewayState['devices']>;
}

/** Fields left undefined keep their stored value; lastSeen only moves forward. */
export interface GatewayPatch {
  readonly gateway: string;
  readonly site: string;
  readonly status?: Exclude<GatewayStatus, 'unknown'>;
  readonly lastSeen?: number;
  readonly stateTs?: number;
  readonly bootId?: string;
  readonly version?: string;
  readonly health?: NonNullable<GatewayState['health']>;
  readonly devices?: NonNullable<GatewayState['devices']>;
}

export type CommandStatus = 'pending' | 'delivered' | 'applied' | 'rejected' | 'timed-out';

export interface CommandRecord {
  readonly id: string;
  readonly gateway: string;
  readonly site: string;
  readonly command: Command;
  readonly status: CommandStatus;
  /** How many times it was published (1 + retries). */
  readonly attempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the current attempt times out; null once final. */
  readonly deadline: number | null;
  readonly code?: string;
  readonly reason?: string;
  /** The gateway said it had applied this id before (a retry was acknowledged, not re-applied). */
  readonly duplicate?: boolean;
  readonly ackedAt?: number;
}

export interface CommandPatch {
  readonly status?: CommandStatus;
  readonly attempts?: number;
  readonly deadline?: number | null;
  readonly code?: string;
  readonly reason?: string;
  readonly duplicate?: boolean;
  readonly ackedAt?: number;
  readonly updatedAt: number;
}

export interface CommandQuery {
  readonly gateway?: string;
  readonly status?: readonly CommandStatus[];
  /** Newest first; default 100. */
  readonly limit?: number;
}

export interface RollupLevel {
  /** Bucket width in seconds. */
  readonly bucketS: number;
  readonly keepDays: number;
}

export interface RetentionPolicy {
  /** Raw readings older than this are rolled up into every level, then deleted. */
  readonly rawDays: number;
  readonly rollups: readonly RollupLevel[];
}

export interface RetentionResult {
  readonly rawDeleted: number;
  readonly rollupRowsDeleted: number;
}

/** The SQLite store's telemetry pipeline, for metrics. */
export interface TelemetryStoreStats {
  /** Readings journaled and not yet committed to the database. */
  readonly buffered: number;
  /** Bytes in the journal segment being written (0 when writing through). */
  readonly journalBytes: number;
  readonly lastFlushMs: number;
  /** Group commits failed in a row. */
  readonly flushFailures: number;
  /** Journal writes that carried several batches at once (SQLite store's ingest group commit). */
  readonly journalGroupWrites?: number;
}

/** Telemetry: batches in, latest values and history out. */
export interface TelemetryStore {
  /**
   * Stores a batch once per (gateway, bootId, seq), its key and readings all or nothing; durable
   * when the promise resolves. `raw` is the batch's payload as received, for a store that keeps it
   * as is (the SQLite journal).
   */
  ingestBatch(batch: TelemetryBatch, receivedAt?: number, raw?: Uint8Array): Promise<IngestResult>;
  /** Latest value per point (newest ts wins, late historical replays do not overwrite). */
  latest(gateway?: string): Promise<StoredReading[]>;
  /** Raw samples, from <= ts <= to, ordered by ts (arrival order on equal ts). */
  history(gateway: string, device: string, point: string, from: number, to: number): Promise<RawSample[]>;
  /**
   * Downsampled buckets aligned to multiples of bucketMs; raw data and rollups combined. Buckets are
   * whole: those at the edges count every reading of [start, start + bucketMs), also where it lies
   * outside [from, to] (rollups cannot be clipped to the ms, so raw data is not clipped either).
   */
  history(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]>;
  /** At most `limit` (>= 1) of the oldest raw samples of [from, to], reading and decoding no more than it needs. */
  historyHead(gateway: string, device: string, point: string, from: number, to: number, limit: number): Promise<SamplePage>;
}

/**
 * Where a page of gaps ends: gaps are ordered newest first by (ts, bootId, fromSeq, toSeq), the
 * stored key after ts, so records with equal ts (one per boot for one outbox drop) keep an order.
 */
export interface GapCursor {
  readonly ts: number;
  readonly bootId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
}

export interface GapPageQuery {
  /** At most this many gaps. */
  readonly limit: number;
  /** Gaps after this one in the order (older); a number takes the gaps with ts below it. */
  readonly before?: GapCursor | number;
}

/** The gaps gateways report in their telemetry. */
export interface GapStore {
  insertGap(gap: GapRecord, receivedAt?: number): Promise<{ stored: boolean }>;
  /** Every gap of the gateway, by fromTs, fromSeq. */
  gaps(gateway: string): Promise<StoredGap[]>;
  /** One page of the gateway's gaps, newest first (GapCursor's order), with storedBatches; only the page is read. */
  gapPage(gateway: string, query: GapPageQuery): Promise<StoredGap[]>;
}

/** The events gateways report. */
export interface EventStore {
  insertEvent(event: GatewayEvent, site: string, receivedAt?: number): Promise<{ stored: boolean }>;
  events(query?: EventQuery): Promise<StoredEvent[]>;
  /** Oldest received first (then by id). */
  eventsReceived(query: ReceivedEventQuery): Promise<StoredEvent[]>;
}

/** Gateways and their state. */
export interface GatewayStore {
  upsertGateway(patch: GatewayPatch, now?: number): Promise<GatewayRecord>;
  getGateway(gateway: string): Promise<GatewayRecord | undefined>;
  listGateways(): Promise<GatewayRecord[]>;
}

/** Commands to gateways and their progress. */
export interface CommandStore {
  insertCommand(record: CommandRecord): Promise<void>;
  /** Applies the patch only while the status is one of `fromStatuses` (any when omitted); the new record, or undefined when not applied. */
  /**
   * Applies the patch only when the command is in one of `fromStatuses` and, with `fromAttempts`,
   * at that attempt count (so of several hub processes only one re-publishes a retry).
   */
  updateCommand(id: string, patch: CommandPatch, fromStatuses?: readonly CommandStatus[], fromAttempts?: number): Promise<CommandRecord | undefined>;
  getCommand(id: string): Promise<CommandRecord | undefined>;
  listCommands(query?: CommandQuery): Promise<CommandRecord[]>;
}

/** Keeping the store itself: retention, schema, shutdown. */
export interface StoreUpkeep {
  /** Rolls up and deletes raw readings older than rawDays, drops rollup rows older than keepDays. */
  retention(now: number, policy?: RetentionPolicy): Promise<RetentionResult>;
  /** Highest applied migration version. */
  schemaVersion(): Promise<number>;
  /**
   * Resolves when the store takes writes now; throws, naming why, when it does not: its own
   * background telemetry writes (journaled group commits) keep failing, or a small write of its
   * bookkeeping does not go through. Ingest asks before it calls a message that keeps failing
   * poison: a store that answers reads but cannot write is having an outage (a full disk, a
   * read-only failover), which says nothing against the message.
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}

/** The whole store, one role per concern; a consumer that needs one role takes that role. */
export interface HubStore extends TelemetryStore, GapStore, EventStore, GatewayStore, CommandStore, StoreUpkeep {
  readonly kind: 'sqlite' | 'postgres';
}

export const DEFAULT_RETENTION: RetentionPolicy = { rawDays: 30, rollups: [{ bucketS: 300, keepDays: 365 }, { bucketS: 3600, keepDays: 1825 }] };
