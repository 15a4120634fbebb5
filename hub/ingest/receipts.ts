/**
 * Stored receipts: after ingest has stored a telemetry batch (or kept it in quarantine), the
 * gateway hears so on swarmgate/v1/<site>/<gateway>/stored and only then deletes it from its
 * outbox. Receipts collect for `delayMs` and go out as one message per gateway with the batch
 * seqs as ranges per boot. A receipt lost on the way costs a resend, which the store's
 * (gateway, bootId, seq) key turns into a duplicate that is receipted again.
 */
import type { MqttClient } from 'mqtt';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { encode } from '../../shared/wire/codec.js';
import { StoredReceiptSchema, type StoredReceipt } from '../../shared/wire/messages.js';
import { gatewayTopic } from '../../shared/wire/topics.js';
import type { HubMetrics } from '../broker/metrics.js';

const MAX_RANGES = 5000;

export class StoredReceipts {
  /** topic -> bootId -> seqs stored since the last send */
  private pending = new Map<string, Map<string, number[]>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: MqttClient,
    private readonly options: { readonly delayMs?: number; readonly metrics: HubMetrics; readonly log: Logger },
  ) {}

  add(site: string, gateway: string, bootId: string, seq: number): void {
    const topic = gatewayTopic(site, gateway, 'stored');
    let boots = this.pending.get(topic);
    if (!boots) this.pending.set(topic, (boots = new Map()));
    let seqs = boots.get(bootId);
    if (!seqs) boots.set(bootId, (seqs = []));
    seqs.push(seq);
    this.timer ??= setTimeout(() => this.flush(), this.options.delayMs ?? 50);
  }

  /** Sends everything collected now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = new Map();
    for (const [topic, boots] of pending) {
      for (const batches of chunks(toRanges(boots), MAX_RANGES)) {
        const receipt: StoredReceipt = { v: 1, ts: Date.now(), batches };
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

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
