/**
 * Stored receipts: after ingest has stored a message (or kept it in quarantine), the gateway hears
 * so on swarmgate/v1/<site>/<gateway>/stored and only then deletes it from its outbox. Receipts
 * collect for `delayMs` and go out as one message per gateway: telemetry as batch seqs in ranges
 * per boot, other messages by the digest of their payload. A receipt lost on the way costs a resend, which the store's
 * (gateway, bootId, seq) key turns into a duplicate that is receipted again.
 */
import type { MqttClient } from 'mqtt';
import { errorMessage } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { encode } from '../../shared/wire/codec.js';
import { messageDigest } from '../../shared/wire/digest.js';
import { StoredReceiptSchema, type StoredReceipt } from '../../shared/wire/messages.js';
import { gatewayTopic } from '../../shared/wire/topics.js';
import type { HubMetrics } from '../metrics.js';

const MAX_RANGES = 5000;

export class StoredReceipts {
  /** topic -> what was stored since the last send: seqs per bootId, digests of other messages */
  private pending = new Map<string, { boots: Map<string, number[]>; digests: string[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: MqttClient,
    private readonly options: { readonly delayMs?: number; readonly metrics: HubMetrics; readonly log: Logger },
  ) {}

  /** A telemetry batch. */
  add(site: string, gateway: string, bootId: string, seq: number): void {
    const boots = this.entry(site, gateway).boots;
    let seqs = boots.get(bootId);
    if (!seqs) boots.set(bootId, (seqs = []));
    seqs.push(seq);
  }

  /** Any other message, by its payload. */
  addMessage(site: string, gateway: string, payload: Uint8Array): void {
    this.entry(site, gateway).digests.push(messageDigest(payload));
  }

  private entry(site: string, gateway: string): { boots: Map<string, number[]>; digests: string[] } {
    const topic = gatewayTopic(site, gateway, 'stored');
    let e = this.pending.get(topic);
    if (!e) this.pending.set(topic, (e = { boots: new Map(), digests: [] }));
    this.timer ??= setTimeout(() => this.flush(), this.options.delayMs ?? 50);
    return e;
  }

  /** Sends everything collected now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = new Map();
    for (const [topic, { boots, digests }] of pending) {
      const ranges = toRanges(boots);
      const parts = Math.max(Math.ceil(ranges.length / MAX_RANGES), Math.ceil(digests.length / MAX_RANGES), 1);
      for (let i = 0; i < parts; i++) {
        const batches = ranges.slice(i * MAX_RANGES, (i + 1) * MAX_RANGES);
        const messages = digests.slice(i * MAX_RANGES, (i + 1) * MAX_RANGES);
        const receipt: StoredReceipt = { v: 1, ts: Date.now(), batches, ...(messages.length > 0 ? { messages } : {}) };
        // Not connected: MQTT.js queues it; lost anyway: the gateway resends and gets a new receipt.
        this.client.publish(topic, encode(StoredReceiptSchema, receipt), { qos: 1 }, (err) => {
          if (err) this.options.log.debug({ topic, err: errorMessage(err) }, 'stored receipt not delivered; the gateway will resend and be receipted again');
        });
        this.options.metrics.receiptsSent.inc();
      }
    }
  }

  stop(): void {
    this.flush();
  }
}

function toRanges(boots: Map<string, number[]>): StoredReceipt['batches'] {
  const out: StoredReceipt['batches'] = [];
  for (const [bootId, seqs] of boots) {
    seqs.sort((a, b) => a - b);
    let from = seqs[0]!;
    let to = from;
    for (let i = 1; i < seqs.length; i++) {
      const s = seqs[i]!;
      if (s <= to + 1) to = Math.max(to, s);
      else {
        out.push({ bootId, from, to });
        from = to = s;
      }
    }
    out.push({ bootId, from, to });
  }
  return out;
}
