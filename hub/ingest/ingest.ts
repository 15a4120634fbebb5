/**
 * Ingest: one MQTT client's subscriptions to every gateway's channels, validated with the wire
 * codec and routed to the store, the registry and the command tracker. Channels other hub
 * processes should split use shared subscriptions ($share/<group>/...); state is subscribed by
 * every process (retained births must reach each registry writer, upserts are idempotent).
 * A message is acknowledged (PUBACK) only after it was handled, so a crash redelivers it and the
 * store's (gateway, bootId, seq) key keeps the second copy out: exactly-once storage.
 * Rejected messages are counted and logged with their topic; ingest never throws on input.
 * A store failure never drops a valid message: its write is retried with backoff (counted and
 * logged) and the message stays unacknowledged meanwhile, which holds back further deliveries to
 * this client (backpressure) instead of losing what gateways handed over.
 * A message the store refuses every time (poison: bad data, not a bad store) is kept in the
 * quarantine with the reason and ingest moves on, so one gateway's bad message never holds back
 * another's; so are messages that fail their schema. Telemetry readings outside the plausible time
 * window are quarantined alone (one entry per batch); the other readings of their batch are
 * stored. The quarantine keeps each refused message once, counting its repeats (hub/quarantine/key.ts).
 * What is stored (or quarantined) is receipted to its gateway (receipts.ts): the gateway deletes a
 * message from its outbox only then, not on the broker's PUBACK, so a broker that loses acknowledged
 * messages (a restart, a crash, a lost subscription) costs a resend, never the data.
 * The subscriptions are made again on every connect, whatever the broker says about the session:
 * Mosquitto restores a persistent session without its shared subscriptions. A watchdog also
 * resubscribes (and says so) when the subscriptions deliver nothing while gateways are online.
 * With a persistent session (clean session off) stop() keeps the subscriptions: they belong to
 * the broker-side session, which queues what gateways publish until the next start.
 */
import type { Static } from '@sinclair/typebox';
import type { MqttClient } from 'mqtt';
import { errorMessage } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import { MAX_PAYLOAD_BYTES, decode, decodeTelemetry, telemetryKey, type DecodeResult } from '../../shared/wire/codec.js';
import { CHANNEL_SCHEMAS, type CommandAck, type ConfigDocument, type TelemetryBatch, type UpdateStatus } from '../../shared/wire/messages.js';
import { priorSizeProblem, type PriorMessage, type PriorRequest } from '../../shared/wire/detector-prior.js';
import { TOPIC_ROOT, WIRE_VERSION, allGatewaysFilter, isValidId, parseTopic, type GatewayChannel } from '../../shared/wire/topics.js';
import { LogLimiter } from '../broker/log-limiter.js';
import { HubMetrics } from '../metrics.js';
import type { QuarantinePort } from '../quarantine/service.js';
import type { GatewayRegistry } from '../registry/registry.js';
import type { HubStore } from '../store/types.js';
import type { HubEvents } from '../events.js';
import { DEFAULT_TIME_WINDOW, splitByTime, type TimeSplit, type TimeWindow } from './plausibility.js';
import { StoredReceipts } from './receipts.js';
import { classifyStoreError } from './store-errors.js';

/** Channels split across hub processes. */
export const SHARED_CHANNELS = ['telemetry', 'gaps', 'events', 'reviews', 'commands/ack', 'config/reported', 'update/status', 'prior', 'prior/request'] as const satisfies readonly GatewayChannel[];
/** Channels every hub process receives. */
export const BROADCAST_CHANNELS = ['state'] as const satisfies readonly GatewayChannel[];

type IngestChannel = (typeof SHARED_CHANNELS)[number] | (typeof BROADCAST_CHANNELS)[number];
/** Built once: handle() checks every message's topic tail against it; in embedded mode the broker holds their PUBACK until ingest has them. */
export const INGEST_CHANNELS: ReadonlySet<string> = new Set<IngestChannel>([...SHARED_CHANNELS, ...BROADCAST_CHANNELS]);

export type AckOutcome = { accepted: true } | { accepted: false; reason: 'unknown-command' | 'mismatch'; error: string };

export interface AckHandler {
  handleAck(site: string, gateway: string, ack: CommandAck): Promise<AckOutcome>;
}

/** Keeps what gateways report about their config (the GatewayConfigService). */
export interface ReportedConfigSink {
  recordReported(site: string, gateway: string, doc: ConfigDocument): Promise<void>;
}

/** Keeps what gateways report about their software updates (the DeploymentService). */
export interface UpdateStatusSink {
  recordStatus(site: string, gateway: string, status: UpdateStatus): Promise<void>;
}

/** Keeps the detector priors gateways publish and answers their requests for fleet priors (the PriorService). */
export interface PriorSink {
  recordPrior(site: string, gateway: string, message: PriorMessage): Promise<void>;
  requested(site: string, gateway: string, request: PriorRequest): Promise<void>;
}

export interface IngestOptions {
  /**
   * A client with hub rights on the broker. Ingest takes over its message handling. It may still
   * be connecting: start() installs the handler before its first await, so a caller connecting a
   * persistent session after calling start() has every queued message go through ingest.
   */
  readonly client: MqttClient;
  /**
   * The client's session outlives this ingest (connected with clean: false): stop() leaves the
   * subscriptions in place so the broker queues for the next process with the same client id, and
   * messages arriving after stop() are left unacknowledged for the broker to redeliver.
   */
  readonly persistentSession?: boolean;
  readonly store: HubStore;
  readonly events: HubEvents;
  readonly registry: GatewayRegistry;
  /** Receives command acks (the command tracker). */
  readonly acks?: AckHandler;
  /** Receives reported gateway configs; without it they are validated and dropped. */
  readonly configs?: ReportedConfigSink;
  /** Receives update progress; without it it is validated and dropped. */
  readonly updates?: UpdateStatusSink;
  /** Receives detector priors; without it they are validated and dropped. */
  readonly priors?: PriorSink;
  /** Shared-subscription group; undefined subscribes plainly (a single hub process). */
  readonly shareGroup?: string;
  /**
   * The shared channels come from another source (hub/ingest/sources/, e.g. a JetStream consumer)
   * that calls handle() itself: the MQTT client then subscribes to the broadcast channels only.
   */
  readonly sharedFromSource?: boolean;
  /** Sites this ingest serves (default every site, '+'). */
  readonly sites?: readonly string[];
  readonly maxPayloadBytes?: number;
  readonly metrics?: HubMetrics;
  readonly logger?: Logger;
  /** Longest wait between store retries; default 5000 ms. */
  readonly maxRetryDelayMs?: number;
  /** Where refused messages are kept for inspection; without it they are only counted and logged. */
  readonly quarantine?: QuarantinePort;
  /** Readings outside this window around the hub clock are quarantined; default 10 min ahead, 366 days back. */
  readonly timeWindow?: TimeWindow;
  /** Send stored receipts to gateways (default true). */
  readonly receipts?: boolean;
  /** Resubscribe, count and log when nothing arrived for this long while gateways are online; default 120 s, 0 off. */
  readonly stallAfterMs?: number;
  /**
   * Failures of one message, of a kind the error does not tell, before the store is asked whether
   * it is healthy: when it is, the message is poison and is quarantined. Default 5.
   */
  readonly poisonAfterAttempts?: number;
}

export interface IngestStats {
  received: number;
  handled: number;
  rejected: number;
  duplicates: number;
}

/** Thrown out of a store retry loop by stop(): the message is left unacknowledged. */
class IngestStopped extends Error {}

/** Thrown out of a store retry loop when the store refuses this message itself (see store-errors.ts). */
class PoisonMessage extends Error {}

/** Most quarantine writes per gateway and reason per minute for refused input; more are only counted. */
const QUARANTINE_PER_MINUTE = 120;

export class Ingest {
  readonly stats: IngestStats = { received: 0, handled: 0, rejected: 0, duplicates: 0 };
  private readonly log: Logger;
  private readonly metrics: HubMetrics;
  private readonly maxBytes: number;
  private started = false;
  private readonly inflight = new Set<Promise<boolean>>();
  /** Aborted by stop(): ends store retries (and their waits) at once. */
  private stopping = new AbortController();
  private readonly filters: string[];
  private readonly receipts: StoredReceipts | undefined;
  private subscribedOnce = false;
  private lastDelivery = Date.now();
  private stalled = false;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly quarantineBudget = new Map<string, { minute: number; used: number }>();
  /** Rejections are counted each; the log gets the first per (topic, reason), then summaries. */
  private readonly refusals: LogLimiter;
  private readonly onConnect = (): void => {
    if (this.subscribedOnce) void this.subscribe('reconnect');
  };

  constructor(private readonly options: IngestOptions) {
    this.log = options.logger ?? createLogger('hub-ingest');
    this.refusals = new LogLimiter(this.log);
    this.metrics = options.metrics ?? new HubMetrics();
    this.maxBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    const share = (f: string): string => (options.shareGroup ? `$share/${options.shareGroup}/${f}` : f);
    const sites = options.sites ?? ['+'];
    const filter = (site: string, channel: GatewayChannel): string => (site === '+' ? allGatewaysFilter(channel) : `${TOPIC_ROOT}/${WIRE_VERSION}/${site}/+/${channel}`);
    const shared = options.sharedFromSource ? [] : SHARED_CHANNELS;
    this.filters = sites.flatMap((site) => [...shared.map((c) => share(filter(site, c))), ...BROADCAST_CHANNELS.map((c) => filter(site, c))]);
    this.receipts = options.receipts === false ? undefined : new StoredReceipts(options.client, { metrics: this.metrics, log: this.log });
  }

  /** The subscriptions this ingest makes. */
  get subscriptions(): readonly string[] {
    return this.filters;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = new AbortController();
    const client = this.options.client;
    client.handleMessage = (packet, done) => {
      // Stopped with a persistent session: no PUBACK, so the broker redelivers the message to the
      // next session. Withholding done() also stops MQTT.js from reading further packets.
      if (!this.started && this.options.persistentSession) {
        this.log.debug({ topic: packet.topic }, 'message after stop left to the broker');
        return;
      }
      const work = this.handle(packet.topic, packet.payload as Buffer);
      this.inflight.add(work);
      work.finally(() => this.inflight.delete(work)).then(
        (handled) => {
          // Not handled: stopped while the store was failing. No PUBACK: with a persistent session
          // the broker delivers it again to the next start (a clean session cannot keep it).
          if (handled) done();
          else this.log.warn({ topic: packet.topic }, 'message left unacknowledged at stop (the store was failing)');
        },
        (err: unknown) => {
          // handle() never rejects by design; this is a last guard so a bug cannot stall the client.
          this.log.error({ err: errorMessage(err), topic: packet.topic }, 'ingest failed');
          done();
        },
      );
    };
    // Every connect after the first subscribes again: a broker may restore a persistent session
    // without some of its subscriptions (Mosquitto drops shared ones on restart) while saying the
    // session is present, and then nothing would reach this hub.
    client.on('connect', this.onConnect);
    this.lastDelivery = Date.now();
    const stallAfter = this.options.stallAfterMs ?? 120_000;
    if (stallAfter > 0) {
      this.watchdog = setInterval(() => void this.checkStall(stallAfter), Math.max(250, Math.min(30_000, Math.floor(stallAfter / 4))));
      this.watchdog.unref();
    }
    await this.subscribe('start');
    this.subscribedOnce = true;
  }

  private async subscribe(cause: 'start' | 'reconnect' | 'stall'): Promise<void> {
    const client = this.options.client;
    try {
      const granted = await client.subscribeAsync(this.filters, { qos: 1 });
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) this.log.error({ refused }, 'broker refused ingest subscriptions; check the hub user ACL');
      if (cause !== 'start') {
        this.metrics.resubscribes.inc({ cause });
        this.log.info({ cause, subscriptions: this.filters.length }, 'ingest subscriptions made again');
      }
    } catch (err) {
      if (cause === 'start') throw err;
      this.log.warn({ cause, err: errorMessage(err) }, 'resubscribing failed; tried again on the next connect or stall check');
    }
  }

  /** Nothing on the shared channels for stallAfter while gateways are online: resubscribe and say so. */
  private async checkStall(stallAfter: number): Promise<void> {
    const client = this.options.client;
    if (!this.started || !client.connected) return;
    const quietMs = Date.now() - this.lastDelivery;
    if (quietMs < stallAfter) return;
    let online: number;
    try {
      const sites = this.options.sites;
      online = (await this.options.registry.list()).filter((g) => g.status === 'online' && (!sites || sites.includes('+') || sites.includes(g.site))).length;
    } catch {
      return;
    }
    if (online === 0) return;
    this.metrics.ingestStalls.inc();
    this.log[this.stalled ? 'warn' : 'error']({ quietS: Math.round(quietMs / 1000), onlineGateways: online }, 'ingest received nothing while gateways are online; resubscribing');
    this.stalled = true;
    this.lastDelivery = Date.now(); // the next check waits a whole period again
    await this.subscribe('stall');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping.abort();
    const client = this.options.client;
    client.off('connect', this.onConnect);
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    // Let messages being handled finish before the caller closes the store (store retries end now).
    const outcomes = await Promise.allSettled([...this.inflight]);
    // A message left unacknowledged blocks the client's packet processing, UNSUBACK included.
    const blocked = outcomes.some((o) => o.status === 'fulfilled' && !o.value);
    // A persistent session's subscriptions are what makes the broker queue while the hub is down.
    if (!this.options.persistentSession && client.connected && !blocked) await client.unsubscribeAsync(this.filters).catch(() => undefined);
    this.receipts?.stop();
    this.refusals.close();
  }

  /**
   * Refuses a message: counted, logged, announced, and kept in the quarantine (at most
   * QUARANTINE_PER_MINUTE per gateway and reason: a flood of junk must not fill the database).
   * A message kept already (a resend) is counted onto its entry, not kept again.
   * True when it is kept (now, or before).
   */
  private async reject(topic: string, channel: string, reason: string, error: string, payload?: Uint8Array): Promise<boolean> {
    this.stats.rejected++;
    this.metrics.payloadRejected.inc({ channel, reason });
    this.refusals.warn(topic, reason, { topic, channel, reason, error }, 'message rejected');
    await this.options.events.emit('rejected', { topic, channel, reason, error });
    const q = this.options.quarantine;
    if (!q || !payload) return false;
    const parsed = parseTopic(topic);
    const key = `${parsed?.gateway ?? ''}\u0000${reason}`;
    const minute = Math.floor(Date.now() / 60_000);
    const budget = this.quarantineBudget.get(key);
    if (budget && budget.minute === minute && budget.used >= QUARANTINE_PER_MINUTE) return false;
    if (!budget || budget.minute !== minute) {
      if (this.quarantineBudget.size > 10_000) this.quarantineBudget.clear();
      this.quarantineBudget.set(key, { minute, used: 1 });
    } else budget.used++;
    try {
      // A repeat (seen before) is counted on its entry: kept all the same, not counted as newly kept.
      const kept = await q.add({ topic, ...(parsed ? { site: parsed.site, gateway: parsed.gateway } : {}), channel, reason, error, payload }, Date.now());
      if (kept.seenCount === 1) this.metrics.quarantined.inc({ channel, reason });
      return true;
    } catch (err) {
      this.log.warn({ topic, err: errorMessage(err) }, 'could not keep the rejected message in the quarantine');
      return false;
    }
  }

  /**
   * Keeps a message the store refused (poison) in the quarantine. Unlike junk input this must not
   * be lost: the write is retried like any store write, and a quarantine that fails too means the
   * store is down after all, so the message waits unacknowledged.
   */
  private async quarantinePoison(topic: string, site: string, gateway: string, channel: IngestChannel, payload: Buffer, error: string): Promise<void> {
    this.stats.rejected++;
    this.metrics.payloadRejected.inc({ channel, reason: 'store-refused' });
    this.log.error({ topic, channel, error }, 'the store refuses this message every time; it is kept in the quarantine and ingest moves on');
    const q = this.options.quarantine;
    if (q) {
      const kept = await this.persist(channel, () => q.add({ topic, site, gateway, channel, reason: 'store-refused', error, payload }, Date.now()), false);
      if (kept.seenCount === 1) this.metrics.quarantined.inc({ channel, reason: 'store-refused' });
    }
    await this.options.events.emit('rejected', { topic, channel, reason: 'store-refused', error });
  }

  /**
   * Handles one message. Never throws. Resolves false only when stop() ended a store retry: the
   * message was not stored and must not be acknowledged.
   */
  async handle(topic: string, payload: Buffer): Promise<boolean> {
    this.stats.received++;
    const parsed = parseTopic(topic);
    const channel = parsed?.rest ?? 'unknown';
    if (!parsed || !INGEST_CHANNELS.has(channel)) {
      // 'unknown' as the metric label: a topic's tail is client-chosen and must not mint new series.
      await this.reject(topic, 'unknown', 'topic', `${topic}: not a hub ingest topic`);
      return true;
    }
    const { site, gateway } = parsed;
    const ch = channel as IngestChannel;
    if (ch !== 'state') {
      this.lastDelivery = Date.now();
      this.stalled = false;
    }
    // An empty retained payload clears a birth; there is nothing to ingest.
    if (ch === 'state' && payload.length === 0) return true;
    const now = Date.now();
    try {
      try {
        await this.route(topic, site, gateway, ch, payload, now);
      } catch (err) {
        if (!(err instanceof PoisonMessage)) throw err;
        await this.quarantinePoison(topic, site, gateway, ch, payload, err.message);
        if (ch === 'telemetry') this.receiptFor(site, gateway, payload);
      }
      // Every other message from a gateway's outbox is receipted by its digest once handled (stored,
      // or refused: sending a refused one again would be refused again). State is not from the outbox.
      if (ch !== 'telemetry' && ch !== 'state') this.receipts?.addMessage(site, gateway, payload);
      this.stats.handled++;
      return true;
    } catch (err) {
      if (err instanceof IngestStopped) return false;
      // route() lets only store errors out, and persist() retries those until stop().
      this.log.error({ topic, err: errorMessage(err) }, 'ingest failed');
      return true;
    }
  }

  /**
   * Runs a store write until it succeeds: a valid message is never dropped because the database
   * is down, full or locked. Each failure is counted and logged; waits grow to maxRetryDelayMs.
   */
  private async persist<T>(channel: IngestChannel, what: () => Promise<T>, mayBePoison = true): Promise<T> {
    const maxDelay = this.options.maxRetryDelayMs ?? 5000;
    const probeAfter = this.options.poisonAfterAttempts ?? 5;
    for (let i = 1; ; i++) {
      try {
        return await what();
      } catch (err) {
        if (this.stopping.signal.aborted) throw new IngestStopped();
        this.metrics.storeFailures.inc({ channel });
        if (mayBePoison) {
          const kind = classifyStoreError(err);
          if (kind === 'poison') throw new PoisonMessage(errorMessage(err));
          // Neither kind by its error: a store that answers and takes other writes while this
          // message keeps failing is refusing the message, not down.
          if (kind === 'unknown' && i >= probeAfter && (await this.storeTakesWrites(channel))) throw new PoisonMessage(errorMessage(err));
        }
        const delay = Math.min(maxDelay, 100 * 2 ** (i - 1));
        this.log[i === 1 ? 'warn' : 'error']({ err: errorMessage(err), channel, attempt: i, retryInMs: delay }, 'store write failed; the message waits, unacknowledged, and is retried');
        await this.wait(delay);
        if (this.stopping.signal.aborted) throw new IngestStopped();
      }
    }
  }

  /**
   * The store answers a read and takes a write (StoreUpkeep.probeWrite). Answering reads alone is
   * no evidence against a message: a full disk or a read-only failover still answers them.
   */
  private async storeTakesWrites(channel: IngestChannel): Promise<boolean> {
    try {
      await this.options.store.schemaVersion();
      await this.options.store.probeWrite();
      return true;
    } catch (err) {
      this.log.warn({ channel, err: errorMessage(err) }, 'the store does not take writes now; the failing message is kept for a retry, not called poison');
      return false;
    }
  }

  /** The receipt for a telemetry payload that was stored or quarantined, when it names its batch. */
  private receiptFor(site: string, gateway: string, payload: Buffer): void {
    if (!this.receipts) return;
    // Either encoding; unreadable: nothing names the batch, so nothing can be receipted.
    const head = telemetryKey(payload);
    if (!head || head.gateway !== gateway || !isValidId(head.bootId) || !Number.isSafeInteger(head.seq) || head.seq < 0) return;
    this.receipts.add(site, gateway, head.bootId, head.seq);
  }

  /** Sleeps, or returns at once when stop() is called. */
  private wait(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  /**
   * The payload decoded for its channel, or undefined once rejected: invalid, or naming another
   * gateway or site than its topic (checked on every channel whose payload names them).
   */
  private async accept<C extends IngestChannel>(topic: string, site: string, gateway: string, channel: C, payload: Buffer): Promise<Static<(typeof CHANNEL_SCHEMAS)[C]> | undefined> {
    // Telemetry comes as JSON or as the binary frame (shared/wire/telemetry-binary.ts), checked alike.
    const r = (channel === 'telemetry' ? decodeTelemetry(topic, payload, this.maxBytes) : decode(CHANNEL_SCHEMAS[channel], topic, payload, this.maxBytes)) as DecodeResult<Static<(typeof CHANNEL_SCHEMAS)[C]>>;
    if (!r.ok) {
      const kept = await this.reject(topic, channel, r.reason, r.error, payload);
      // Kept for inspection: the gateway may delete it (resending would be refused again).
      if (kept && channel === 'telemetry') this.receiptFor(site, gateway, payload);
      return undefined;
    }
    const named = r.value as { gateway?: unknown; site?: unknown };
    const mismatch = async (field: string, value: string): Promise<undefined> => {
      await this.reject(topic, channel, 'mismatch', `${topic}: /${field}: "${value}" does not match the topic`, payload);
      return undefined;
    };
    if (typeof named.gateway === 'string' && named.gateway !== gateway) return mismatch('gateway', named.gateway);
    if (typeof named.site === 'string' && named.site !== site) return mismatch('site', named.site);
    return r.value;
  }

  /** A channel whose message goes to one sink: decoded and checked, counted, the gateway seen, then handed over (stored retried like any store write). */
  private async toSink<C extends IngestChannel>(topic: string, site: string, gateway: string, channel: C, payload: Buffer, now: number, hand: ((value: Static<(typeof CHANNEL_SCHEMAS)[C]>) => Promise<unknown>) | undefined): Promise<void> {
    const value = await this.accept(topic, site, gateway, channel, payload);
    if (!value) return;
    this.metrics.messages.inc({ channel });
    await this.persist(channel, () => this.options.registry.seen(site, gateway, now));
    if (hand) await this.persist(channel, () => hand(value));
  }

  /**
   * Stores a telemetry batch (retried like any store write), counts it, receipts it when `receipt`,
   * marks the gateway seen and announces it. A batch whose key is stored already is a duplicate.
   */
  private async storeTelemetry(site: string, gateway: string, batch: TelemetryBatch, now: number, raw: Buffer | undefined, receipt: boolean): Promise<void> {
    const { store, events, registry } = this.options;
    const result = await this.persist('telemetry', () => store.ingestBatch(batch, now, raw));
    if (receipt) this.receipts?.add(site, gateway, batch.bootId, batch.seq);
    this.metrics.messages.inc({ channel: 'telemetry' });
    if (result.stored) this.metrics.readingsStored.inc(result.readings);
    else {
      this.stats.duplicates++;
      this.metrics.duplicates.inc();
      if (result.conflict) this.metrics.batchConflicts.inc();
    }
    await this.persist('telemetry', () => registry.seen(site, gateway, now));
    await events.emit('telemetry', { site, gateway, batch, stored: result.stored });
  }

  /**
   * Keeps the readings of a batch that lie outside the plausible time window in the quarantine:
   * one entry per batch, reason `implausible`, the error naming each reading's field path in the
   * batch as sent. Every reading outside: the payload as received. Some: a batch of the same
   * key holding only those readings (JSON), the others being stored. The quarantine keys it by the
   * batch, so a resend (same gateway, bootId, seq) adds no second entry. True when kept (now or before).
   */
  private async quarantineImplausible(topic: string, gateway: string, batch: TelemetryBatch, split: TimeSplit, payload: Buffer): Promise<boolean> {
    const bad = split.implausible;
    const all = split.plausible.length === 0;
    const SHOWN = 5;
    const problems = bad.slice(0, SHOWN).map((b) => b.problem).join('; ') + (bad.length > SHOWN ? `; and ${bad.length - SHOWN} more` : '');
    const error = all ? `${topic}: ${problems}` : `${topic}: ${problems} (${bad.length} of ${batch.readings.length} readings of batch ${gateway}/${batch.bootId}/${batch.seq} outside the time window, kept here in their order; the other ${split.plausible.length} were stored)`;
    const kept = all ? payload : Buffer.from(JSON.stringify({ ...batch, readings: bad.map((b) => b.reading) }));
    return this.reject(topic, 'telemetry', 'implausible', error, kept);
  }

  private async route(topic: string, site: string, gateway: string, channel: IngestChannel, payload: Buffer, now: number): Promise<void> {
    const { store, events, registry } = this.options;
    switch (channel) {
      case 'telemetry': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        const split = splitByTime(value, now, this.options.timeWindow ?? DEFAULT_TIME_WINDOW);
        let batch = value;
        let raw: Buffer | undefined = payload;
        if (split) {
          const kept = await this.quarantineImplausible(topic, gateway, value, split, payload);
          // Nothing else to store: done (receipted once kept; not kept, the gateway sends it again).
          if (split.plausible.length === 0) {
            if (kept) this.receipts?.add(site, gateway, value.bootId, value.seq);
            return;
          }
          // The rest is stored under the batch's key, so a resend stores it no second time. Not
          // the payload as received: the SQLite journal would bring the refused readings back.
          batch = { ...value, readings: split.plausible };
          raw = undefined;
          if (!kept) {
            // The good readings are stored; without a receipt the gateway sends the batch again,
            // and the quarantine is tried again then (the store keeps the key: no second copy).
            await this.storeTelemetry(site, gateway, batch, now, raw, false);
            return;
          }
        }
        await this.storeTelemetry(site, gateway, batch, now, raw, true);
        return;
      }
      case 'gaps': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        const result = await this.persist(channel, () => store.insertGap(value, now));
        this.metrics.messages.inc({ channel });
        this.log.warn({ site, gateway, fromSeq: value.fromSeq, toSeq: value.toSeq, dropped: value.readingsDropped, reason: value.reason }, 'gateway reported a data gap');
        await this.persist(channel, () => registry.seen(site, gateway, now));
        if (result.stored) await events.emit('gap', { site, gateway, gap: value });
        return;
      }
      case 'events': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        const result = await this.persist(channel, () => store.insertEvent(value, site, now));
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.seen(site, gateway, now));
        if (result.stored) await events.emit('event', { site, gateway, event: value });
        return;
      }
      case 'reviews': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.seen(site, gateway, now));
        await events.emit('review', { site, gateway, review: value });
        return;
      }
      case 'commands/ack': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.seen(site, gateway, now));
        const acks = this.options.acks;
        if (acks) {
          const outcome = await this.persist(channel, () => acks.handleAck(site, gateway, value));
          if (!outcome.accepted) {
            await this.reject(topic, channel, outcome.reason, outcome.error);
            return;
          }
        }
        await events.emit('ack', { site, gateway, ack: value });
        return;
      }
      case 'config/reported': {
        const configs = this.options.configs;
        return this.toSink(topic, site, gateway, channel, payload, now, configs && ((value) => configs.recordReported(site, gateway, value)));
      }
      case 'update/status': {
        const updates = this.options.updates;
        return this.toSink(topic, site, gateway, channel, payload, now, updates && ((value) => updates.recordStatus(site, gateway, value)));
      }
      case 'prior': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        // Within the payload limit yet beyond the prior's own: kept aside, never stored nor served.
        const tooBig = priorSizeProblem(value.prior);
        if (tooBig) {
          await this.reject(topic, channel, 'too-large', `${topic}: ${tooBig}`, payload);
          return;
        }
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.seen(site, gateway, now));
        const priors = this.options.priors;
        if (priors) await this.persist(channel, () => priors.recordPrior(site, gateway, value));
        return;
      }
      case 'prior/request': {
        const priors = this.options.priors;
        return this.toSink(topic, site, gateway, channel, payload, now, priors && ((value) => priors.requested(site, gateway, value)));
      }
      case 'state': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.applyState(site, gateway, value, now));
        return;
      }
    }
  }
}
