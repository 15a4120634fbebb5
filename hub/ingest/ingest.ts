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
 * With a persistent session (clean session off) stop() keeps the subscriptions: they belong to
 * the broker-side session, which queues what gateways publish until the next start.
 */
import type { Static } from '@sinclair/typebox';
import type { MqttClient } from 'mqtt';
import { errorMessage } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { MAX_PAYLOAD_BYTES, decode } from '../../shared/wire/codec.js';
import { CHANNEL_SCHEMAS, type CommandAck, type ConfigDocument } from '../../shared/wire/messages.js';
import { TOPIC_ROOT, WIRE_VERSION, allGatewaysFilter, parseTopic, type GatewayChannel } from '../../shared/wire/topics.js';
import { refusalLog } from '../broker/log-limiter.js';
import { HubMetrics } from '../broker/metrics.js';
import type { GatewayRegistry } from '../registry/registry.js';
import type { HubStore } from '../store/types.js';
import type { HubEvents } from './events.js';

/** Channels split across hub processes. */
export const SHARED_CHANNELS = ['telemetry', 'gaps', 'events', 'reviews', 'commands/ack', 'config/reported'] as const satisfies readonly GatewayChannel[];
/** Channels every hub process receives. */
export const BROADCAST_CHANNELS = ['state'] as const satisfies readonly GatewayChannel[];

type IngestChannel = (typeof SHARED_CHANNELS)[number] | (typeof BROADCAST_CHANNELS)[number];
/** Built once: handle() checks every message's topic tail against it. */
const INGEST_CHANNELS: ReadonlySet<string> = new Set<IngestChannel>([...SHARED_CHANNELS, ...BROADCAST_CHANNELS]);

export type AckOutcome = { accepted: true } | { accepted: false; reason: 'unknown-command' | 'mismatch'; error: string };

export interface AckHandler {
  handleAck(site: string, gateway: string, ack: CommandAck): Promise<AckOutcome>;
}

/** Keeps what gateways report about their config (the GatewayConfigService). */
export interface ReportedConfigSink {
  recordReported(site: string, gateway: string, doc: ConfigDocument): Promise<void>;
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
  /** Shared-subscription group; undefined subscribes plainly (a single hub process). */
  readonly shareGroup?: string;
  /** Sites this ingest serves (default every site, '+'). */
  readonly sites?: readonly string[];
  readonly maxPayloadBytes?: number;
  readonly metrics?: HubMetrics;
  readonly logger?: Logger;
  /** Longest wait between store retries; default 5000 ms. */
  readonly maxRetryDelayMs?: number;
}

export interface IngestStats {
  received: number;
  handled: number;
  rejected: number;
  duplicates: number;
}

/** Thrown out of a store retry loop by stop(): the message is left unacknowledged. */
class IngestStopped extends Error {}

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

  constructor(private readonly options: IngestOptions) {
    this.log = options.logger ?? createLogger('hub-ingest');
    this.metrics = options.metrics ?? new HubMetrics();
    this.maxBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    const share = (f: string): string => (options.shareGroup ? `$share/${options.shareGroup}/${f}` : f);
    const sites = options.sites ?? ['+'];
    const filter = (site: string, channel: GatewayChannel): string => (site === '+' ? allGatewaysFilter(channel) : `${TOPIC_ROOT}/${WIRE_VERSION}/${site}/+/${channel}`);
    this.filters = sites.flatMap((site) => [...SHARED_CHANNELS.map((c) => share(filter(site, c))), ...BROADCAST_CHANNELS.map((c) => filter(site, c))]);
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
    const granted = await client.subscribeAsync(this.filters, { qos: 1 });
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length > 0) this.log.error({ refused }, 'broker refused ingest subscriptions; check the hub user ACL');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping.abort();
    const client = this.options.client;
    // Let messages being handled finish before the caller closes the store (store retries end now).
    const outcomes = await Promise.allSettled([...this.inflight]);
    // A message left unacknowledged blocks the client's packet processing, UNSUBACK included.
    const blocked = outcomes.some((o) => o.status === 'fulfilled' && !o.value);
    // A persistent session's subscriptions are what makes the broker queue while the hub is down.
    if (!this.options.persistentSession && client.connected && !blocked) await client.unsubscribeAsync(this.filters).catch(() => undefined);
  }

  private async reject(topic: string, channel: string, reason: string, error: string): Promise<void> {
    this.stats.rejected++;
    this.metrics.payloadRejected.inc({ channel, reason });
    refusalLog(this.log).warn(topic, reason, { topic, channel, reason, error }, 'message rejected');
    await this.options.events.emit('rejected', { topic, channel, reason, error });
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
    // An empty retained payload clears a birth; there is nothing to ingest.
    if (ch === 'state' && payload.length === 0) return true;
    const now = Date.now();
    try {
      await this.route(topic, site, gateway, ch, payload, now);
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
  private async persist<T>(channel: IngestChannel, what: () => Promise<T>): Promise<T> {
    const maxDelay = this.options.maxRetryDelayMs ?? 5000;
    for (let i = 1; ; i++) {
      try {
        return await what();
      } catch (err) {
        if (this.stopping.signal.aborted) throw new IngestStopped();
        this.metrics.storeFailures.inc({ channel });
        const delay = Math.min(maxDelay, 100 * 2 ** (i - 1));
        this.log[i === 1 ? 'warn' : 'error']({ err: errorMessage(err), channel, attempt: i, retryInMs: delay }, 'store write failed; the message waits, unacknowledged, and is retried');
        await this.wait(delay);
        if (this.stopping.signal.aborted) throw new IngestStopped();
      }
    }
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
    const r = decode(CHANNEL_SCHEMAS[channel], topic, payload, this.maxBytes);
    if (!r.ok) {
      await this.reject(topic, channel, r.reason, r.error);
      return undefined;
    }
    const named = r.value as { gateway?: unknown; site?: unknown };
    const mismatch = async (field: string, value: string): Promise<undefined> => {
      await this.reject(topic, channel, 'mismatch', `${topic}: /${field}: "${value}" does not match the topic`);
      return undefined;
    };
    if (typeof named.gateway === 'string' && named.gateway !== gateway) return mismatch('gateway', named.gateway);
    if (typeof named.site === 'string' && named.site !== site) return mismatch('site', named.site);
    return r.value;
  }

  private async route(topic: string, site: string, gateway: string, channel: IngestChannel, payload: Buffer, now: number): Promise<void> {
    const { store, events, registry } = this.options;
    switch (channel) {
      case 'telemetry': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        const result = await this.persist(channel, () => store.ingestBatch(value, now, payload));
        this.metrics.messages.inc({ channel });
        if (result.stored) this.metrics.readingsStored.inc(result.readings);
        else {
          this.stats.duplicates++;
          this.metrics.duplicates.inc();
        }
        await this.persist(channel, () => registry.seen(site, gateway, now));
        await events.emit('telemetry', { site, gateway, batch: value, stored: result.stored });
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
          if (!outcome.accepted) return this.reject(topic, channel, outcome.reason, outcome.error);
        }
        await events.emit('ack', { site, gateway, ack: value });
        return;
      }
      case 'config/reported': {
        const value = await this.accept(topic, site, gateway, channel, payload);
        if (!value) return;
        this.metrics.messages.inc({ channel });
        await this.persist(channel, () => registry.seen(site, gateway, now));
        const configs = this.options.configs;
        if (configs) await this.persist(channel, () => configs.recordReported(site, gateway, value));
        return;
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
