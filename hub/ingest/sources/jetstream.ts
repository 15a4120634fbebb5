/**
 * The shared channels from a NATS JetStream stream instead of MQTT shared subscriptions.
 *
 * Gateways keep speaking MQTT 3.1.1, to the NATS servers' MQTT listener; NATS turns each topic
 * into a subject (`/` -> `.`, `.` -> `//`) and a stream of ours captures the subjects of the
 * shared channels (telemetry, gaps, events, ...), replicated over the cluster with work-queue
 * retention. Every hub process pulls from ONE durable consumer of that stream, so each message
 * goes to one hub at a time; a message is acknowledged only after Ingest.handle stored it. A hub
 * that dies (kill -9) leaves its messages unacknowledged and JetStream hands them to another hub
 * after ackWait; the store's (gateway, bootId, seq) key keeps the second copy out, and the
 * gateway deletes a batch only on the hub's stored receipt: exactly one stored copy.
 * A message whose handling runs long (the store is down and ingest retries) is kept ours with
 * `working()` so it is not given to a second hub meanwhile; stop() gives unhandled ones back (nak).
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, connect, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import type { Logger } from '../../../shared/kit/log.js';
import { TOPIC_ROOT, WIRE_VERSION, parseTopic } from '../../../shared/wire/topics.js';
import { OrderedLanes } from '../lanes.js';
import type { IngestSource, MessageHandler } from './source.js';

export interface JetStreamSourceOptions {
  /** nats://host:port of every node (the client fails over between them). */
  readonly servers: readonly string[];
  readonly user?: string;
  readonly pass?: string;
  /** The stream capturing the shared channels; created when missing. */
  readonly stream: string;
  /** The durable pull consumer every hub process shares; created when missing. */
  readonly consumer: string;
  /** Stream replicas when this process creates it (1, 3 or 5; at most the cluster size). */
  readonly replicas: number;
  /** Channels (MQTT topic tails, e.g. commands/ack) the stream captures. */
  readonly channels: readonly string[];
  /** Unacknowledged this long, a message goes to another hub. */
  readonly ackWaitMs: number;
  /** Messages handled at once by this process. */
  readonly concurrency: number;
  /** Messages the consumer hands out unacknowledged over all hubs. */
  readonly maxAckPending: number;
  /** Client name in NATS monitoring. */
  readonly name: string;
  readonly log: Logger;
}

/** The MQTT topic of a NATS subject made by the MQTT listener: `//` -> `.`, `.` -> `/`. */
/** The gateway a subject belongs to (its lane), or the subject itself. */
function laneOf(subject: string): string {
  const topic = parseTopic(subjectToTopic(subject));
  return topic ? `${topic.site}/${topic.gateway}` : subject;
}

export function subjectToTopic(subject: string): string {
  let out = '';
  for (let i = 0; i < subject.length; i++) {
    const c = subject[i];
    if (c === '/' && subject[i + 1] === '/') {
      out += '.';
      i++;
    } else out += c === '.' ? '/' : c;
  }
  return out;
}

/** The stream subjects for the channels: swarmgate.v1.<site>.<gateway>.<channel> with `/` in a channel as `.`. */
export function streamSubjects(channels: readonly string[]): string[] {
  return channels.map((c) => `${TOPIC_ROOT}.${WIRE_VERSION}.*.*.${c.replace(/\//g, '.')}`);
}

const NANOS = 1_000_000;

export class JetStreamSource implements IngestSource {
  private nc: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly options: JetStreamSourceOptions) {}

  /** Connects, makes the stream and the consumer when missing, and starts handing messages to `handle`. */
  async start(handle: MessageHandler): Promise<void> {
    const o = this.options;
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: [...o.servers], name: o.name, user: o.user, pass: o.pass, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 10_000 });
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub cannot connect to NATS at ${o.servers.join(',')}: ${errorMessage(err)}`, { cause: err });
    }
    this.nc = nc;
    void this.watchStatus(nc);
    try {
      await this.ensureStreamAndConsumer(nc);
      this.messages = await this.consume(nc);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw new SwarmgateError('SWG_ERR_HUB_BROKER', `hub cannot set up JetStream stream ${o.stream} / consumer ${o.consumer}: ${errorMessage(err)}`, { cause: err });
    }
    this.loop = this.keepConsuming(nc, this.messages, handle);
    o.log.info({ servers: o.servers, stream: o.stream, consumer: o.consumer }, 'ingest consuming from JetStream');
  }

  /** A pull consumer refilling its buffer: at most `concurrency` messages waiting in this process. */
  private async consume(nc: NatsConnection): Promise<ConsumerMessages> {
    const consumer = await nc.jetstream().consumers.get(this.options.stream, this.options.consumer);
    return consumer.consume({ max_messages: Math.max(1, this.options.concurrency), idle_heartbeat: 5000 });
  }

  /** Runs the consumer; should it end other than by stop() (consumer deleted, a client error), starts it again. */
  private async keepConsuming(nc: NatsConnection, first: ConsumerMessages, handle: MessageHandler): Promise<void> {
    let messages: ConsumerMessages | undefined = first;
    while (!this.stopping) {
      if (messages) await this.run(messages, handle);
      if (this.stopping) return;
      this.options.log.error({ stream: this.options.stream, consumer: this.options.consumer }, 'JetStream consumer ended; starting it again');
      await new Promise((r) => setTimeout(r, 1000));
      if (this.stopping) return;
      try {
        await this.ensureStreamAndConsumer(nc);
        messages = this.messages = await this.consume(nc);
      } catch (err) {
        this.options.log.error({ err: errorMessage(err) }, 'JetStream consumer cannot be started again yet');
        messages = undefined;
      }
    }
  }

  private async ensureStreamAndConsumer(nc: NatsConnection): Promise<void> {
    const o = this.options;
    const jsm = await nc.jetstreamManager();
    const subjects = streamSubjects(o.channels);
    // Several hubs start at once: whoever comes second finds the stream (or the consumer) there.
    const info = await jsm.streams.info(o.stream).catch(() => undefined);
    if (!info) {
      await jsm.streams
        .add({ name: o.stream, subjects, retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: o.replicas, duplicate_window: 120 * 1000 * NANOS })
        .catch(async (err: unknown) => {
          await jsm.streams.info(o.stream).catch(() => Promise.reject(err));
        });
    } else {
      // A stream made by an older hub lacks the channels added since (e.g. prior/request): add them,
      // or gateways' messages on them would reach no hub.
      const missing = subjects.filter((s) => !info.config.subjects.includes(s));
      if (missing.length > 0) {
        try {
          await jsm.streams.update(o.stream, { subjects: [...info.config.subjects, ...missing] });
          o.log.info({ stream: o.stream, added: missing }, 'JetStream stream now captures the channels added since it was made');
        } catch (err) {
          // No right to update it, or another stream holds those subjects: the hub still runs; what
          // gateways send on these channels reaches no hub until an operator adds them.
          o.log.error({ stream: o.stream, missing, err: errorMessage(err) }, 'JetStream stream lacks channels and could not be updated; add these subjects to it');
        }
      }
    }
    const consumer = { durable_name: o.consumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: o.ackWaitMs * NANOS, max_ack_pending: o.maxAckPending, max_deliver: -1 };
    try {
      await jsm.consumers.info(o.stream, o.consumer);
      await jsm.consumers.update(o.stream, o.consumer, { ack_wait: consumer.ack_wait, max_ack_pending: consumer.max_ack_pending });
    } catch {
      await jsm.consumers.add(o.stream, consumer).catch(async (err: unknown) => {
        await jsm.consumers.info(o.stream, o.consumer).catch(() => Promise.reject(err));
      });
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') this.options.log.warn({ event: s.type, server: s.data }, `NATS ${s.type}`);
    }
  }

  private lanes: OrderedLanes | undefined;

  private lanesFor(): OrderedLanes {
    this.lanes ??= new OrderedLanes(Math.max(1, this.options.concurrency));
    return this.lanes;
  }

  private async run(messages: ConsumerMessages, handle: MessageHandler): Promise<void> {
    const o = this.options;
    try {
      for await (const msg of messages) {
        if (this.stopping) {
          msg.nak();
          continue;
        }
        // One gateway's messages are stored in the order the stream holds them; gateways overlap.
        const work = this.lanesFor().submit(laneOf(msg.subject), () => this.handleOne(msg, handle));
        this.inflight.add(work);
        void work.finally(() => this.inflight.delete(work));
        while (this.inflight.size >= o.concurrency) await Promise.race(this.inflight);
      }
    } catch (err) {
      if (!this.stopping) o.log.error({ err: errorMessage(err) }, 'JetStream consumer failed');
    }
  }

  private async handleOne(msg: JsMsg, handle: MessageHandler): Promise<void> {
    // Still ours while the store is slow or down: no second hub gets it meanwhile.
    const keep = setInterval(() => msg.working(), Math.max(500, Math.floor(this.options.ackWaitMs / 3)));
    try {
      const handled = await handle(subjectToTopic(msg.subject), Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
      // Acknowledged only once stored; not handled (stopped mid-retry): back to the stream for another hub.
      if (handled) msg.ack();
      else msg.nak();
    } catch (err) {
      this.options.log.error({ err: errorMessage(err), subject: msg.subject }, 'ingest failed on a JetStream message; left for redelivery');
      msg.nak(1000);
    } finally {
      clearInterval(keep);
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    await this.loop;
    // drain flushes the acknowledgements still buffered in the client.
    await this.nc?.drain().catch(() => undefined);
  }
}
