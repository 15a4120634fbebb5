/**
 * The gateway's MQTT link to the hub. A persistent session (clean: false, client id = gateway id)
 * so the broker keeps command subscriptions through an outage; a retained GatewayState birth on
 * every connect and the same document with status offline as the will.
 *
 * Outbox rows go out with QoS 1, at most `inflight` unacknowledged at once. A row is deleted only
 * when the hub's stored receipt names it (a telemetry batch by bootId and seq, anything else by
 * its payload's digest): a PUBACK only moves it to waiting for that receipt; without one within
 * storedTimeoutS it is sent again and the hub keeps one copy. At most `receiptWindow` rows are out
 * without a receipt; while the hub sends no receipt at all (hub down, ingest stalled) and more than
 * one in-flight window waits, only the longest-waiting window is sent again, as a probe, with the
 * wait doubling up to RESEND_MAX_MS: the broker already holds the rest for the hub, and a hub
 * outage must not multiply the broker's traffic. Any receipt resets that.
 *
 * A reconnect does not resend by itself (a flapping cellular link reconnects every few seconds):
 * rows the broker acknowledged stay waiting for their receipts, which the broker kept in our
 * session and delivers after the CONNACK. Rows the client never had a PUBACK for, MQTT.js sends
 * again itself on the new connection; a receipt that names one of them before its PUBACK (from an
 * earlier delivery) counts. Once the hub receipts a row sent on the new connection, the receipts
 * for what the broker had before are in (the broker delivers in order, the hub receipts in
 * order): rows acknowledged on an earlier connection and still waiting were lost (a broker that
 * lost what it acknowledged, or the session with their receipts) and go again, at once the first
 * time, then not again from a reconnect within storedTimeoutS, doubling up to RESEND_MAX_MS while
 * each reconnect finds rows to resend; one that finds none starts over.
 *
 * After a reconnect two cursors run side by side: rows committed while connected (live, first) and
 * the backlog from before the connection (flagged historical: true), each in seq order, so live
 * data keeps flowing while the backlog drains.
 *
 * A row goes out under the gateway's current identity: its topic is rebuilt from its channel and
 * the current site and gateway, and a payload naming the gateway names the current one, so what
 * was queued before a site move or a re-enrollment under a new id is delivered after it.
 *
 * A row the broker refuses by closing the connection (an ACL refusal, a message size limit) would
 * otherwise come first again on every reconnect, forever. A close within REFUSAL_CLOSE_MS of that
 * row's publish is a strike against it; after REFUSALS_BEFORE_SET_ASIDE strikes in a row spanning at
 * least REFUSAL_MIN_SPAN_MS, the row is set aside (the outbox's dead-letter table, a gap record with
 * reason 'refused', an error log naming it) and the rows behind it flow again. A flapping link (a
 * cellular link cut again and again, the client resending the unanswered publish first after every
 * CONNACK) can look like a refusal a few times; it must not lose a good row for good.
 */
import mqtt, { type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../shared/kit/errors.js';
import { GatewayStateSchema, StoredReceiptSchema, decode, encode, gatewayPrefix, gatewayTopic, messageDigest, parseTopic, type GatewayState } from '../../shared/wire/index.js';
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
  /** Milliseconds on a clock that never steps (default performance.now): probe backoff and refusal timing. */
  readonly monotonic?: () => number;
  /** Tests only: shorter refusal thresholds than the defaults (REFUSAL_CLOSE_MS, REFUSALS_BEFORE_SET_ASIDE, REFUSAL_MIN_SPAN_MS). */
  readonly refusal?: Partial<RefusalPolicy> | undefined;
  /**
   * Keep telemetry until the hub's stored receipt (default), resending after timeoutMs, with at most
   * `window` rows (default 1000) sent and not receipted; undefined: delete on PUBACK.
   */
  readonly untilStored?: { readonly timeoutMs: number; readonly window?: number } | undefined;
}

const END = Number.MAX_SAFE_INTEGER;
/** How fast the monotonic clock here and the hub's clock can drift apart (100 ppm: two cheap crystals, no NTP). */
const HUB_CLOCK_DRIFT = 1e-4;
/** Receipts behind the hub clock kept here for this long, without a silence as long, mean the hub's clock was set back. */
const HUB_CLOCK_STEP_BACK_MS = 60_000;
/**
 * A close counts against a row (a strike) only this soon after the row's publish was written: a
 * broker that refuses a publish closes the connection as soon as it reads it. A link that dies
 * later on (after the broker held the connection with that row) ends a run of strikes.
 */
export const REFUSAL_CLOSE_MS = 2000;
/**
 * Strikes in a row against the same row before it is set aside: a flapping link can cut the
 * connection right after the resent publish a few times (MQTT.js resends the unanswered publish
 * first after every CONNACK); a refusing broker does it on every connection.
 */
export const REFUSALS_BEFORE_SET_ASIDE = 5;
/**
 * And the strikes must span at least this long, first to last: a refusing broker keeps refusing
 * (with the reconnect backoff it gets there within a minute or two), while a burst of cuts on a
 * bad link is over in seconds.
 */
export const REFUSAL_MIN_SPAN_MS = 60_000;
/** When a row is set aside as refused by the broker (the constants above; tests shorten them). */
export interface RefusalPolicy {
  readonly closeWithinMs: number;
  readonly strikes: number;
  readonly minSpanMs: number;
}
/** The longest wait between probes while the hub sends no receipt (or storedTimeoutS, when longer); also between resends after reconnects. */
export const RESEND_MAX_MS = 5 * 60_000;

/** What a stored receipt names a row by: a telemetry batch by its key, any other message by its payload's digest. */
type ReceiptName = Parameters<Outbox['awaitStored']>[2];

/** A row handed to the MQTT client and not answered yet (no PUBACK, no error). */
interface Unanswered {
  readonly seq: number;
  readonly kind: OutboxRow['kind'];
  readonly bootId: string;
  readonly batchSeq: number | null;
  readonly topic: string;
  readonly payload: Buffer;
  /** What the hub's receipt names it by (until stored only). */
  readonly name: ReceiptName | undefined;
  /** A receipt named it before its PUBACK (the hub has it from an earlier delivery). */
  receipted: boolean;
  /** The MQTT packet id, once the client wrote the publish. */
  messageId?: number;
  /** The connection (this.connection) and time (monotonic) it was last written on. */
  writtenOn: number;
  writtenAt: number;
}

export class Publisher {
  private client: MqttClient | undefined;
  private readonly handlers: { filter: string; qos: 0 | 1; handler: MessageHandler }[] = [];
  /** Filters the broker's session for this client holds (subscribed since the session began). */
  private readonly sessionFilters = new Set<string>();
  private readonly connectListeners = new Set<() => void>();
  private readonly stateTopic: string;
  private readonly window: number;
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private readonly refusal: RefusalPolicy;
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
  /** The ts of the last stored receipt and the monotonic time it came: the hub's clock, whatever this one does since. */
  private hubClockAt: { hubTs: number; monotonic: number } | undefined;
  /** The run of receipts behind hubClockAt: first and last (monotonic); undefined when the last one agreed. */
  private hubClockBehind: { since: number; last: number } | undefined;
  private readonly receiptWindow: number;
  /** Counts successful connections; `linkUp` while one is open. */
  private connection = 0;
  private linkUp = false;
  /** Rows the client has and has not answered, in the order they were handed over (the client resends them in that order). */
  private readonly unanswered = new Map<number, Unanswered>();
  private readonly payloadSeq = new WeakMap<Buffer, number>();
  private readonly messageSeq = new Map<number, number>();
  /** The row whose publish the last publish packet written on this connection was (undefined: none, or not a row). */
  private lastWritten: number | undefined;
  /** The row the broker closed the connection on, how many times in a row, and when (monotonic) the first. */
  private strikes: { seq: number; count: number; firstAt: number } | undefined;
  /** Resends while the hub is silent: how many probes since the last receipt, and not before when the next (monotonic). */
  private probes = 0;
  private nextResendAt = 0;
  private receiptSinceResend = false;
  /**
   * Rows acknowledged on an earlier connection waited for their receipts at this connection's
   * CONNACK (monotonic `since`): once a receipt names one of the rows written on this connection
   * (`names`), those still waiting go again. Undefined when nothing waited or that was done.
   */
  private reconnectCheck: { since: number; names: ReceiptName[] } | undefined;
  /** Resends after reconnects: how many in a row found rows to resend, and not before when the next (monotonic). */
  private reconnectRounds = 0;
  private nextReconnectResendAt = 0;

  constructor(private readonly options: PublisherOptions) {
    this.metrics = options.metrics ?? new FederationMetrics(options.registry);
    this.stateTopic = gatewayTopic(options.site, options.gateway, 'state');
    this.window = options.mqtt.inflight;
    this.receiptWindow = options.untilStored ? Math.max(1, options.untilStored.window ?? 1000) : Number.POSITIVE_INFINITY;
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.refusal = { closeWithinMs: REFUSAL_CLOSE_MS, strikes: REFUSALS_BEFORE_SET_ASIDE, minSpanMs: REFUSAL_MIN_SPAN_MS, ...options.refusal };
    this.unsubscribeOutbox = options.outbox.onAppend(() => this.schedulePump());
    if (options.untilStored) this.subscribe(gatewayTopic(options.site, options.gateway, 'stored'), 1, (topic, payload) => this.receipt(topic, payload));
  }

  /** The hub's clock minus this gateway's, from the last stored receipt; undefined before the first. */
  get clockSkewMs(): number | undefined {
    return this.hubClockSkewMs;
  }

  /**
   * The hub's clock now: the last stored receipt's ts plus the monotonic time since, so a step of
   * this gateway's clock (NTP arriving after the receipt) does not move it. Undefined before the first.
   */
  hubNow(): number | undefined {
    const at = this.hubClockAt;
    return at === undefined ? undefined : at.hubTs + (this.monotonic() - at.monotonic);
  }

  /**
   * Takes a receipt's ts as the hub's clock now when it is later than the clock kept so far says.
   * Each receipt is a lower bound of the hub's time (sent at its ts, here some transit later); one
   * well behind is one the broker kept through an outage, carrying the hub's time of then, and would
   * set the clock back by the outage (a command the hub gave up on meanwhile would look fresh). So
   * the clock goes back only by what the two clocks can have drifted apart since it was last set
   * (HUB_CLOCK_DRIFT), or when every receipt for HUB_CLOCK_STEP_BACK_MS says it is behind (the hub's
   * clock was set back): a run broken by a silence that long starts again.
   */
  private measureHubClock(ts: number): void {
    const now = this.monotonic();
    const at = this.hubClockAt;
    if (at !== undefined) {
      const current = at.hubTs + (now - at.monotonic);
      const behind = current - ts;
      if (behind > (now - at.monotonic) * HUB_CLOCK_DRIFT) {
        const run = this.hubClockBehind;
        this.hubClockBehind = run === undefined || now - run.last > HUB_CLOCK_STEP_BACK_MS ? { since: now, last: now } : { since: run.since, last: now };
        if (now - this.hubClockBehind.since < HUB_CLOCK_STEP_BACK_MS) return;
        this.options.log.warn({ behindMs: Math.round(behind) }, "the hub's clock went back: taken from its receipts");
      }
    }
    this.hubClockBehind = undefined;
    this.hubClockAt = { hubTs: ts, monotonic: now };
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
    client.on('close', () => this.handleClose());
    client.on('packetsend', (packet) => this.written(packet));
    // A connection starts at its CONNACK: the client sends what its store holds (rows not answered
    // on the last connection) before it emits 'connect'.
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack' || (packet.returnCode ?? packet.reasonCode ?? 0) !== 0) return;
      this.connection++;
      this.linkUp = true;
      this.lastWritten = undefined;
      // Before the broker's first delivery on this connection (the receipts it kept for us).
      this.reconnectCheck = this.options.untilStored && this.options.outbox.awaitingCount > 0 ? { since: this.monotonic(), names: [] } : undefined;
    });
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
    this.measureHubClock(r.value.ts);
    // The hub answers: resends go back to every storedTimeoutS, for every row that expired.
    this.receiptSinceResend = true;
    this.probes = 0;
    this.nextResendAt = 0;
    let rows = 0;
    for (const b of r.value.batches) rows += this.options.outbox.stored(b.bootId, b.from, b.to);
    if (rows > 0) this.metrics.acked.inc({ kind: 'telemetry' }, rows);
    const kinds = r.value.messages ? this.options.outbox.storedMessages(r.value.messages) : [];
    for (const kind of kinds) this.metrics.acked.inc({ kind });
    const names = receiptNames(r.value.batches, r.value.messages);
    // Rows the client sends again itself (no PUBACK on the connection that dropped): the hub had an
    // earlier delivery; they leave the outbox with their PUBACK instead of waiting for another receipt.
    for (const u of this.unanswered.values()) if (u.name && names(u.name)) u.receipted = true;
    const check = this.reconnectCheck;
    if (check?.names.some(names)) {
      this.reconnectCheck = undefined;
      this.resendAfterReconnect(check.since);
    }
    // Room in the receipt window.
    if (rows > 0 || kinds.length > 0) this.schedulePump();
  }

  /**
   * The hub receipted a row written on this connection, so the receipts for what the broker had
   * before have come: rows acknowledged before this connection's CONNACK (at `since`) and still
   * waiting are not stored (the broker lost them, or their receipts with our session) and go
   * again. Backed off while reconnects keep finding such rows (the receipt timeout covers the rows
   * meanwhile); a reconnect that finds none starts over.
   */
  private resendAfterReconnect(since: number): void {
    const timeoutMs = this.options.untilStored?.timeoutMs;
    if (timeoutMs === undefined) return;
    const now = this.monotonic();
    if (now < this.nextReconnectResendAt) {
      this.options.log.debug({ inS: Math.round(this.nextReconnectResendAt - now) / 1000 }, 'reconnected again soon after sending unconfirmed messages again; the next such resend waits');
      return;
    }
    // Waiting since before the CONNACK: acknowledged on an earlier connection.
    const expired = this.options.outbox.expireAwaiting(now - since);
    if (expired.length === 0) {
      this.reconnectRounds = 0;
      return;
    }
    const waitMs = Math.min(Math.max(RESEND_MAX_MS, timeoutMs), timeoutMs * 2 ** this.reconnectRounds);
    this.reconnectRounds++;
    this.nextReconnectResendAt = now + waitMs;
    this.metrics.resent.inc({ cause: 'reconnect' }, expired.length);
    this.options.log.warn(
      { messages: expired.length, nextInS: waitMs / 1000 },
      'after the reconnect the hub receipts new messages but not these the broker acknowledged before it (lost by the broker, or their receipts with its session): sending them again',
    );
    for (const seq of expired) this.stepBack(seq);
    this.schedulePump();
  }

  /**
   * Rows the broker acknowledged but the hub never receipted: send them again. When a receipt came
   * since the last round the hub is answering, and every row that waited storedTimeoutS goes again
   * (the broker or the hub lost them), as does a set no larger than one in-flight window (a hub
   * process whose share of a shared subscription waits in its session while the others receipt).
   * Otherwise the hub is silent (down, ingest stalled) and the broker still holds those rows for
   * it: only the longest-waiting in-flight window goes, as a probe, and the next round waits twice
   * as long, up to RESEND_MAX_MS.
   */
  private resendUnreceipted(timeoutMs: number): void {
    if (!this.client?.connected) return;
    if (this.monotonic() < this.nextResendAt) return;
    const answering = this.receiptSinceResend;
    // No more waiting than one in-flight window: resending all of it costs no more than a probe.
    const full = answering || this.options.outbox.awaitingCount <= this.window;
    const expired = this.options.outbox.expireAwaiting(timeoutMs, full ? Number.POSITIVE_INFINITY : this.window);
    if (expired.length === 0) return;
    this.receiptSinceResend = false;
    if (full) {
      this.metrics.resent.inc({ cause: 'timeout' }, expired.length);
      this.options.log.warn({ batches: expired.length, timeoutS: timeoutMs / 1000 }, 'no stored receipt from the hub for messages the broker acknowledged; sending them again');
    } else {
      const waitMs = Math.min(Math.max(RESEND_MAX_MS, timeoutMs), timeoutMs * 2 ** (this.probes + 1));
      this.probes++;
      this.nextResendAt = this.monotonic() + waitMs;
      this.metrics.resent.inc({ cause: 'probe' }, expired.length);
      this.options.log.warn(
        { awaiting: this.options.outbox.awaitingCount + expired.length, probe: expired[0], nextInS: waitMs / 1000 },
        'no stored receipt from the hub at all: it may be down or stalled; the broker holds what it acknowledged, so only the oldest messages are sent again (a probe), backing off',
      );
    }
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
    const deadline = this.monotonic() + drainMs;
    // Without this drain the last flush window (the final readings) reached the hub only with
    // the next start. The pump keeps going on each PUBACK until nothing is left to send.
    // Receipts included: a batch the hub has not receipted yet would be sent again by the next run.
    while (client.connected && (this.inflight > 0 || this.pumpQueued || this.options.outbox.awaitingCount > 0) && this.monotonic() < deadline) await sleep(20);
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
    // (The client can emit 'connect' for a connection already lost, when its store replay ends late.)
    if (!client?.connected) return;
    // No Nagle: small publishes go out at once instead of waiting for the broker's delayed ACK
    // (which waits when the PUBACK follows the hub's store rather than the receipt).
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.metrics.connected.set({ link: 'hub' }, 1);
    // Everything committed before this moment is backlog; rows committed from now on are live.
    this.watermark = this.options.outbox.lastSeq + 1;
    this.histCursor = 0;
    this.liveCursor = this.watermark - 1;
    // Rows waiting for a receipt stay waiting: the broker kept their receipts in our session, or
    // (a broker that lost them) resendAfterReconnect sends them once the hub answers.
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

  /** The client wrote a packet: for a row's publish, note its packet id and when (what handleClose judges by). */
  private written(packet: Packet): void {
    if (packet.cmd !== 'publish') return;
    this.lastWritten = undefined;
    const id = packet.messageId;
    if (packet.qos === 0 || id === undefined) return;
    const payload = packet.payload;
    let seq = Buffer.isBuffer(payload) ? this.payloadSeq.get(payload) : undefined;
    seq ??= this.messageSeq.get(id);
    if (seq === undefined && Buffer.isBuffer(payload)) {
      // Written from the client's store as a copy before its packet id was known here: by content.
      for (const u of this.unanswered.values())
        if (u.messageId === undefined && u.topic === packet.topic && u.payload.equals(payload)) {
          seq = u.seq;
          break;
        }
    }
    const u = seq === undefined ? undefined : this.unanswered.get(seq);
    if (!u) return;
    if (u.messageId !== undefined && u.messageId !== id) this.messageSeq.delete(u.messageId);
    u.messageId = id;
    this.messageSeq.set(id, u.seq);
    u.writtenOn = this.connection;
    u.writtenAt = this.monotonic();
    this.lastWritten = u.seq;
    // Any one of them receipted will do: no more than a receipt window of them.
    const check = this.reconnectCheck;
    if (u.name && check && check.names.length < this.receiptWindow) check.names.push(u.name);
  }

  /**
   * The connection closed. When it closed within closeWithinMs of the publish of the first row the
   * broker has not answered (the client sends that row first again on the next connection), that
   * row gets a strike; `strikes` strikes in a row spanning at least minSpanMs set it aside. A close
   * later than that after the row's publish (the broker held the connection with it) ends the run.
   */
  private handleClose(): void {
    this.metrics.connected.set({ link: 'hub' }, 0);
    if (!this.linkUp) return;
    this.linkUp = false;
    if (this.stopping) return;
    const first = this.unanswered.values().next().value as Unanswered | undefined;
    if (!first || first.writtenOn !== this.connection || this.lastWritten !== first.seq) return;
    const now = this.monotonic();
    const { closeWithinMs, strikes, minSpanMs } = this.refusal;
    if (now - first.writtenAt > closeWithinMs) {
      if (this.strikes?.seq === first.seq) this.strikes = undefined;
      return;
    }
    const run = this.strikes?.seq === first.seq ? this.strikes : undefined;
    const count = (run?.count ?? 0) + 1;
    const firstAt = run?.firstAt ?? now;
    this.strikes = { seq: first.seq, count, firstAt };
    const what = this.describe(first);
    const spanMs = Math.round(now - firstAt);
    if (count < strikes || spanMs < minSpanMs) {
      this.options.log.warn(
        { ...what, closes: count, spanS: spanMs / 1000, closeAfterMs: Math.round(now - first.writtenAt) },
        `the connection closed right after this message was published (refused by the broker: ACL or message size limit? or a flapping link); set aside after ${strikes} such closes in a row over at least ${minSpanMs / 1000} s`,
      );
      return;
    }
    this.setAside(first, count, spanMs);
  }

  private describe(u: Unanswered): Record<string, unknown> {
    return { seq: u.seq, kind: u.kind, channel: parseTopic(u.topic)?.rest ?? u.topic, topic: u.topic, bytes: u.payload.length, bootId: u.bootId, ...(u.batchSeq !== null ? { batchSeq: u.batchSeq } : {}) };
  }

  /** Out of the send queue and out of the client's store, so the next connection sends what is behind it. */
  private setAside(u: Unanswered, closes: number, spanMs: number): void {
    const { outbox, log } = this.options;
    this.strikes = undefined;
    let row: OutboxRow | undefined;
    try {
      row = outbox.setAside(u.seq, 'refused');
    } catch (err) {
      log.error({ ...this.describe(u), err: errorMessage(err) }, 'could not set aside the message the broker keeps refusing; it is sent again');
      return;
    }
    log.error(
      { ...this.describe(u), closes, spanS: spanMs / 1000, readings: row?.readings ?? 0 },
      `the broker closed the connection on this message ${closes} times in a row over ${Math.round(spanMs / 1000)} s (refused: ACL or message size limit?): set aside in the outbox dead-letter table and reported as a gap (reason refused); the messages behind it are sent again`,
    );
    // The client would send it first again on the next connection: it leaves its store too
    // (its publish callback then runs with an error, and finds the row gone).
    // After every 'close' listener ran (the client's own store replay among them), before any reconnect.
    const client = this.client;
    const id = u.messageId;
    if (client && id !== undefined) process.nextTick(() => client.removeOutgoingMessage(id));
  }

  /** A row receipted before its PUBACK: its receipt, now that it waits for one. */
  private storedBefore(name: ReceiptName): void {
    const { outbox } = this.options;
    if ('digest' in name) {
      for (const kind of outbox.storedMessages([name.digest])) this.metrics.acked.inc({ kind });
    } else if (outbox.stored(name.bootId, name.batchSeq, name.batchSeq) > 0) {
      this.metrics.acked.inc({ kind: 'telemetry' });
    }
  }

  /** The topic a queued row goes out on now: its channel under the current site and gateway. */
  private currentTopic(topic: string): string {
    const { site, gateway } = this.options;
    const t = parseTopic(topic);
    if (!t || (t.site === site && t.gateway === gateway)) return topic;
    return `${gatewayPrefix(site, gateway)}/${t.rest}`;
  }

  /**
   * A row queued under another identity (before a site move or a re-enrollment under a new id):
   * a JSON payload naming the old gateway or site names the current ones (the hub refuses a
   * payload that does not match its topic). Telemetry heads are rebuilt by retagBatch.
   */
  private currentPayload(row: OutboxRow): Buffer {
    const { site, gateway } = this.options;
    const t = parseTopic(row.topic);
    if (!t || (t.site === site && t.gateway === gateway)) return row.payload;
    let doc: unknown;
    try {
      doc = JSON.parse(row.payload.toString('utf8'));
    } catch {
      return row.payload;
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return row.payload;
    const named = doc as Record<string, unknown>;
    let changed = false;
    if (named.gateway === t.gateway && t.gateway !== gateway) {
      named.gateway = gateway;
      changed = true;
    }
    if (named.site === t.site && t.site !== site) {
      named.site = site;
      changed = true;
    }
    return changed ? Buffer.from(JSON.stringify(named)) : row.payload;
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

  /** Rows that may be handed to the client now: the inflight window, and (until stored) the receipt window. */
  private room(): number {
    return Math.min(this.window - this.inflight, this.receiptWindow - this.inflight - this.options.outbox.awaitingCount);
  }

  private pump(): void {
    const { outbox } = this.options;
    while (this.client?.connected && !this.stopping && this.room() > 0) {
      const live = outbox.next(this.liveCursor, END, this.room());
      const liveMoved = live.last !== this.liveCursor;
      this.liveCursor = live.last;
      for (const row of live.rows) this.send(row, false);
      if (this.room() <= 0) break;
      const hist = outbox.next(this.histCursor, this.watermark, this.room());
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
    const topic = this.currentTopic(row.topic);
    let payload: Buffer;
    try {
      payload =
        row.kind === 'telemetry' && row.batchSeq !== null
          ? retagBatch(row.payload, { gateway, bootId: row.bootId, seq: row.batchSeq, sentAt: this.clock(), historical })
          : this.currentPayload(row);
    } catch (err) {
      // A row no head can be written into: sending it as it is would be refused the same way.
      this.options.log.error({ seq: row.seq, kind: row.kind, topic, bytes: row.payload.length, err: errorMessage(err) }, 'outbox message is unreadable; set aside');
      try {
        outbox.setAside(row.seq, 'refused');
      } catch (e) {
        this.options.log.error({ seq: row.seq, err: errorMessage(e) }, 'could not set aside an unreadable outbox message');
      }
      return;
    }
    // The digest of what goes out: the hub receipts the payload it got.
    const name: ReceiptName | undefined = !this.options.untilStored ? undefined : row.kind === 'telemetry' && row.batchSeq !== null ? { bootId: row.bootId, batchSeq: row.batchSeq } : { digest: messageDigest(payload) };
    outbox.markSent(row.seq);
    this.inflight++;
    this.unanswered.set(row.seq, { seq: row.seq, kind: row.kind, bootId: row.bootId, batchSeq: row.batchSeq, topic, payload, name, receipted: false, writtenOn: 0, writtenAt: 0 });
    this.payloadSeq.set(payload, row.seq);
    metrics.published.inc({ kind: row.kind });
    client.publish(topic, payload, { qos: 1 }, (err) => {
      this.inflight--;
      const u = this.unanswered.get(row.seq);
      if (u?.messageId !== undefined) this.messageSeq.delete(u.messageId);
      this.unanswered.delete(row.seq);
      if (err) {
        // Not acknowledged: eligible again, and the cursor steps back so this connection retries it
        // (a row set aside is gone from the outbox: the cursor passes over it).
        outbox.unmarkSent(row.seq);
        if (historical) this.histCursor = Math.min(this.histCursor, row.seq - 1);
        else this.liveCursor = Math.min(this.liveCursor, row.seq - 1);
      } else if (name) {
        if (this.strikes?.seq === row.seq) this.strikes = undefined;
        outbox.awaitStored(row.seq, row.kind, name);
        if (u?.receipted) this.storedBefore(name);
      } else {
        if (this.strikes?.seq === row.seq) this.strikes = undefined;
        outbox.ack(row.seq);
        metrics.acked.inc({ kind: row.kind });
      }
      metrics.inflight.set(this.inflight);
      this.schedulePump();
    });
  }
}

/** Whether a stored receipt (its batch ranges and message digests) names a row. */
function receiptNames(batches: readonly { bootId: string; from: number; to: number }[], digests: readonly string[] | undefined): (name: ReceiptName) => boolean {
  const messages = new Set(digests);
  return (name) => ('digest' in name ? messages.has(name.digest) : batches.some((b) => b.bootId === name.bootId && b.from <= name.batchSeq && name.batchSeq <= b.to));
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
