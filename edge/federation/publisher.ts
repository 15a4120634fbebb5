/**
 * The gateway's MQTT link to the hub. A persistent session (clean: false, client id = gateway id)
 * so the broker keeps command subscriptions through an outage; a retained GatewayState birth on
 * every connect and the same document with status offline as the will.
 *
 * Outbox rows go out with QoS 1, at most `inflight` unacknowledged at once. A row is deleted only
 * when the hub's stored receipt names it (a telemetry batch by bootId and seq, anything else by
 * its payload's digest): a PUBACK only moves it to waiting for that receipt; without one within
 * storedTimeoutS, or after a reconnect, it is sent again and the hub keeps one copy. After a reconnect two cursors run side by side: rows committed while
 * connected (live, first) and the backlog from before the connection (flagged historical: true),
 * each in seq order, so live data keeps flowing while the backlog drains.
 */
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../shared/kit/errors.js';
import { GatewayStateSchema, StoredReceiptSchema, decode, encode, gatewayTopic, messageDigest, type GatewayState } from '../../shared/wire/index.js';
import { FederationMetrics } from './metrics.js';
import { clientOptions, topicMatches } from './mqtt-link.js';
import type { Outbox, OutboxRow } from './outbox.js';
import { Backoff, reconnectWithBackoff } from './reconnect.js';
import type { ResolvedFederationConfig } from './schema.js';
import { retagBatch } from './telemetry.js';

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

export interface PublisherOptions {
  readonly mqtt: ResolvedFederationConfig['mqtt'];
  readonly site: string;
  readonly gateway: string;
  readonly outbox: Outbox;
  /** Counters and gauges; or give `registry` and they are registered there. */
  readonly metrics?: FederationMetrics;
  readonly registry?: Registry;
  readonly log: Logger;
  /** The retained state document (status online) published on connect and every stateIntervalS. */
  readonly birth: () => GatewayState;
  readonly stateIntervalS?: number;
  readonly clock?: () => number;
  /** Keep telemetry until the hub's stored receipt (default), resending after timeoutMs; undefined: delete on PUBACK. */
  readonly untilStored?: { readonly timeoutMs: number } | undefined;
}

const END = Number.MAX_SAFE_INTEGER;

export class Publisher {
  private client: MqttClient | undefined;
  private readonly handlers: { filter: string; qos: 0 | 1; handler: MessageHandler }[] = [];
  /** Filters the broker's session for this client holds (subscribed since the session began). */
  private readonly sessionFilters = new Set<string>();
  private readonly connectListeners = new Set<() => void>();
  private readonly stateTopic: string;
  private readonly window: number;
  private readonly clock: () => number;
  private watermark = 1;
  private liveCursor = 0;
  private histCursor = 0;
  private inflight = 0;
  private pumpQueued = false;
  private stopping = false;
  private stateTimer: NodeJS.Timeout | undefined;
  private receiptTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribeOutbox: () => void;
  private stopRetrying: () => void = () => undefined;
  readonly metrics: FederationMetrics;
  private hubClockSkewMs: number | undefined;

  constructor(private readonly options: PublisherOptions) {
    this.metrics = options.metrics ?? new FederationMetrics(options.registry);
    this.stateTopic = gatewayTopic(options.site, options.gateway, 'state');
    this.window = options.mqtt.inflight;
    this.clock = options.clock ?? Date.now;
    this.unsubscribeOutbox = options.outbox.onAppend(() => this.schedulePump());
    if (options.untilStored) this.subscribe(gatewayTopic(options.site, options.gateway, 'stored'), 1, (topic, payload) => this.receipt(topic, payload));
  }

  /** The hub's clock minus this gateway's, from the last stored receipt; undefined before the first. */
  get clockSkewMs(): number | undefined {
    return this.hubClockSkewMs;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get inflightCount(): number {
    return this.inflight;
  }

  /** Starts connecting in the background; the gateway works on while the broker is away. */
  start(): void {
    if (this.client) return;
    const { mqtt: cfg, gateway } = this.options;
    // reconnectPeriod 0: the retries are ours, with backoff and jitter (reconnect.ts).
    const client = mqtt.connect(cfg.url, clientOptions(cfg, cfg.clientId ?? gateway, { will: this.will(), reconnectPeriod: 0 }));
    this.client = client;
    this.stopRetrying = reconnectWithBackoff(client, new Backoff({ baseMs: cfg.reconnectPeriodMs, maxMs: cfg.reconnectMaxPeriodMs }), (delayMs) => this.options.log.debug({ delayMs }, 'reconnecting to the hub broker after a backoff'));
    client.on('connect', (connack) => this.handleConnect(connack.sessionPresent));
    client.on('reconnect', () => {
      client.options.will = this.will();
    });
    client.on('close', () => this.metrics.connected.set({ link: 'hub' }, 0));
    client.on('error', (err) => this.options.log.warn({ err: errorMessage(err) }, 'hub broker connection error'));
    client.on('message', (topic, payload, packet) => this.route(topic, payload, packet));
    const every = this.options.stateIntervalS ?? 60;
    if (every > 0) this.stateTimer = setInterval(() => this.publishState(), every * 1000).unref();
    const untilStored = this.options.untilStored;
    if (untilStored) this.receiptTimer = setInterval(() => this.resendUnreceipted(untilStored.timeoutMs), Math.max(50, Math.floor(untilStored.timeoutMs / 4))).unref();
  }

  /** The hub stored these batches: their rows leave the outbox. */
  private receipt(topic: string, payload: Buffer): void {
    const r = decode(StoredReceiptSchema, topic, payload);
    if (!r.ok) {
      this.metrics.rejected.inc({ source: 'stored-receipt', reason: r.reason });
      this.options.log.warn({ topic, error: r.error }, 'stored receipt rejected');
      return;
    }
    // Sent within milliseconds of its ts, so this is the hub's clock against ours, give or take the transit.
    this.hubClockSkewMs = r.value.ts - Date.now();
    let rows = 0;
    for (const b of r.value.batches) rows += this.options.outbox.stored(b.bootId, b.from, b.to);
    if (rows > 0) this.metrics.acked.inc({ kind: 'telemetry' }, rows);
    for (const kind of r.value.messages ? this.options.outbox.storedMessages(r.value.messages) : []) this.metrics.acked.inc({ kind });
  }

  /** Batches the broker acknowledged but the hub never receipted: send them again. */
  private resendUnreceipted(timeoutMs: number): void {
    if (!this.client?.connected) return;
    const expired = this.options.outbox.expireAwaiting(this.clock() - timeoutMs);
    if (expired.length === 0) return;
    this.metrics.resent.inc({ cause: 'timeout' }, expired.length);
    this.options.log.warn({ batches: expired.length, timeoutS: timeoutMs / 1000 }, 'no stored receipt from the hub for batches the broker acknowledged; sending them again');
    for (const seq of expired) this.stepBack(seq);
    this.schedulePump();
  }

  /** The cursor that covers this row moves back so the row is looked at again. */
  private stepBack(seq: number): void {
    if (seq < this.watermark) this.histCursor = Math.min(this.histCursor, seq - 1);
    else this.liveCursor = Math.min(this.liveCursor, seq - 1);
  }

  /** Registers a handler; the subscription is (re)made on every connect. */
  subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): void {
    this.handlers.push({ filter, qos, handler });
    if (this.client?.connected) this.subscribeNow(this.client, filter, qos);
  }

  private subscribeNow(client: MqttClient, filter: string, qos: 0 | 1): void {
    this.sessionFilters.add(filter);
    client.subscribe(filter, { qos }, (err) => {
      if (!err) return;
      this.sessionFilters.delete(filter);
      this.subscribeFailed(filter, err);
    });
  }

  onConnect(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  /** Direct publish for live-only data (plain point topics); false when not connected. */
  publishLive(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean }): boolean {
    if (!this.client?.connected) return false;
    this.client.publish(topic, payload, opts, (err) => err && this.options.log.debug({ topic, err: errorMessage(err) }, 'live publish failed'));
    return true;
  }

  publishState(): void {
    if (!this.client?.connected) return;
    const doc = this.options.birth();
    this.client.publish(this.stateTopic, encode(GatewayStateSchema, doc), { qos: 1, retain: true }, (err) => {
      if (err) this.options.log.debug({ err: errorMessage(err) }, 'state publish failed');
    });
  }

  /**
   * Sends what is committed (the caller's final flush included) while drainMs allows, replaces the
   * retained state with status offline and disconnects cleanly. Rows not acknowledged by then
   * stay in the outbox for the next run.
   */
  async stop(drainMs = 2000): Promise<void> {
    if (this.stateTimer) clearInterval(this.stateTimer);
    if (this.receiptTimer) clearInterval(this.receiptTimer);
    const client = this.client;
    if (!client) {
      this.stopping = true;
      this.unsubscribeOutbox();
      return;
    }
    const deadline = this.clock() + drainMs;
    // Without this drain the last flush window (the final readings) reached the hub only with
    // the next start. The pump keeps going on each PUBACK until nothing is left to send.
    // Receipts included: a batch the hub has not receipted yet would be sent again by the next run.
    while (client.connected && (this.inflight > 0 || this.pumpQueued || this.options.outbox.awaitingCount > 0) && this.clock() < deadline) await sleep(20);
    this.stopping = true;
    this.unsubscribeOutbox();
    this.stopRetrying();
    if (client.connected) {
      const offline = { ...this.offlineState(), bootId: this.options.birth().bootId };
      await withTimeout(client.publishAsync(this.stateTopic, encode(GatewayStateSchema, offline), { qos: 1, retain: true }), 1000).catch(() => undefined);
      await withTimeout(client.endAsync(), 2000).catch(() => client.end(true));
    } else {
      client.end(true);
    }
    this.metrics.connected.set({ link: 'hub' }, 0);
  }

  private offlineState(): GatewayState {
    return { v: 1, gateway: this.options.gateway, site: this.options.site, status: 'offline', ts: this.clock() };
  }

  private will(): { topic: string; payload: Buffer; qos: 1; retain: true } {
    return { topic: this.stateTopic, payload: encode(GatewayStateSchema, this.offlineState()), qos: 1, retain: true };
  }

  private handleConnect(sessionPresent: boolean): void {
    const client = this.client;
    if (!client) return;
    // No Nagle: small publishes go out at once instead of waiting for the broker's delayed ACK
    // (which waits when the PUBACK follows the hub's store rather than the receipt).
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.metrics.connected.set({ link: 'hub' }, 1);
    // Everything committed before this moment is backlog; rows committed from now on are live.
    this.watermark = this.options.outbox.lastSeq + 1;
    this.histCursor = 0;
    this.liveCursor = this.watermark - 1;
    // A new connection may follow a broker restart that lost what it had acknowledged: everything
    // not receipted yet is backlog again (the hub keeps one copy of whatever arrives twice).
    const released = this.options.outbox.releaseAwaiting();
    if (released > 0) this.metrics.resent.inc({ cause: 'reconnect' }, released);
    this.options.log.info({ backlog: this.options.outbox.stats().messages }, 'connected to the hub broker');
    // A session the broker kept has our subscriptions: subscribing again only makes it send every
    // retained message again (and costs the hub work per gateway when a fleet reconnects).
    if (!sessionPresent) this.sessionFilters.clear();
    for (const h of this.handlers) if (!this.sessionFilters.has(h.filter)) this.subscribeNow(client, h.filter, h.qos);
    this.publishState();
    for (const l of this.connectListeners) {
      try {
        l();
      } catch (err) {
        this.options.log.error({ err: errorMessage(err) }, 'connect listener failed');
      }
    }
    this.schedulePump();
  }

  private subscribeFailed(filter: string, err: Error): void {
    this.options.log.error({ filter, err: errorMessage(err) }, 'subscribe failed');
  }

  private route(topic: string, payload: Buffer, packet: IPublishPacket): void {
    for (const h of this.handlers) {
      if (!topicMatches(h.filter, topic)) continue;
      try {
        h.handler(topic, payload, packet);
      } catch (err) {
        this.options.log.error({ topic, err: errorMessage(err) }, 'message handler failed');
      }
    }
  }

  private schedulePump(): void {
    if (this.pumpQueued || this.stopping) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    const { outbox } = this.options;
    while (this.client?.connected && !this.stopping && this.inflight < this.window) {
      const live = outbox.next(this.liveCursor, END, this.window - this.inflight);
      const liveMoved = live.last !== this.liveCursor;
      this.liveCursor = live.last;
      for (const row of live.rows) this.send(row, false);
      if (this.inflight >= this.window) break;
      const hist = outbox.next(this.histCursor, this.watermark, this.window - this.inflight);
      const histMoved = hist.last !== this.histCursor;
      this.histCursor = hist.last;
      for (const row of hist.rows) this.send(row, true);
      if (!liveMoved && !histMoved) break;
    }
    this.metrics.inflight.set(this.inflight);
  }

  private send(row: OutboxRow, historical: boolean): void {
    const client = this.client;
    if (!client) return;
    const { outbox, gateway } = this.options;
    const metrics = this.metrics;
    outbox.markSent(row.seq);
    this.inflight++;
    const payload =
      row.kind === 'telemetry' && row.batchSeq !== null
        ? retagBatch(row.payload, { gateway, bootId: row.bootId, seq: row.batchSeq, sentAt: this.clock(), historical })
        : row.payload;
    metrics.published.inc({ kind: row.kind });
    client.publish(row.topic, payload, { qos: 1 }, (err) => {
      this.inflight--;
      if (err) {
        // Not acknowledged: eligible again, and the cursor steps back so this connection retries it.
        outbox.unmarkSent(row.seq);
        if (historical) this.histCursor = Math.min(this.histCursor, row.seq - 1);
        else this.liveCursor = Math.min(this.liveCursor, row.seq - 1);
      } else if (this.options.untilStored) {
        outbox.awaitStored(row.seq, row.kind, row.kind === 'telemetry' && row.batchSeq !== null ? { bootId: row.bootId, batchSeq: row.batchSeq } : { digest: messageDigest(row.payload) });
      } else {
        outbox.ack(row.seq);
        metrics.acked.inc({ kind: row.kind });
      }
      metrics.inflight.set(this.inflight);
      this.schedulePump();
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
