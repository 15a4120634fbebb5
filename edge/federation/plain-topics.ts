/**
 * Plain per-point topics for building-management systems that speak MQTT but not the hub's batch
 * format: every reported reading is published retained as {v, ts, q, unit} on
 * swarmgate/v1/<site>/<gateway>/points/<device>/<point>; with `writable`, a {v} on .../<point>/set
 * writes the point through the gateway's write path (writable flag and limits still apply) and a
 * refusal is reported as an event.
 *
 * Values are live data (QoS 0, not through the outbox): during an outage only the latest value of
 * each point is kept and published on reconnect, so the retained values catch up.
 */
import { randomUUID } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import {
  EventSchema,
  PointSetMessageSchema,
  PointValueMessageSchema,
  decode,
  encode,
  gatewayPrefix,
  gatewayTopic,
  isValidId,
  parseTopic,
  pointTopic,
  type GatewayEvent,
  type PointValueMessage,
} from '../../shared/wire/index.js';
import type { Reading } from '../drivers/driver.js';
import type { WriteFn } from './commands.js';
import type { FederationMetrics } from './metrics.js';
import type { Outbox } from './outbox.js';
import type { Publisher } from './publisher.js';

export interface PlainTopicsOptions {
  readonly site: string;
  readonly gateway: string;
  readonly writable: boolean;
  /** Engineering unit of a point, when the profile has one. */
  readonly unitOf: (device: string, point: string) => string | undefined;
  readonly write: WriteFn;
  readonly publisher: Publisher;
  readonly outbox: Outbox;
  readonly metrics: FederationMetrics;
  readonly log: Logger;
  readonly clock?: () => number;
}

export class PlainTopics {
  /** Latest unpublished payload per topic while disconnected. */
  private readonly pending = new Map<string, Buffer>();
  /** Topic and unit per device and point, resolved on the first reading (the config is fixed). */
  private readonly targets = new Map<string, Map<string, { topic: string; unit: string | undefined }>>();
  private readonly clock: () => number;
  readonly setFilter: string;

  constructor(private readonly options: PlainTopicsOptions) {
    this.clock = options.clock ?? Date.now;
    this.setFilter = `${gatewayPrefix(options.site, options.gateway)}/points/+/+/set`;
    options.publisher.onConnect(() => this.catchUp());
    if (options.writable) options.publisher.subscribe(this.setFilter, 1, (topic, payload, packet) => void this.handleSet(topic, payload, packet));
  }

  onReading(r: Reading): void {
    const { topic, unit } = this.target(r.device, r.point);
    const message: PointValueMessage = { v: r.value, ts: Math.max(0, Math.round(r.ts)), q: r.quality, ...(unit !== undefined ? { unit } : {}) };
    const payload = encode(PointValueMessageSchema, message);
    // A value kept from the outage is older than this one: once this one is out, catchUp (which may
    // run after it, when the link reports connected before its 'connect') must not retain that one.
    if (this.options.publisher.publishLive(topic, payload, { qos: 0, retain: true })) this.pending.delete(topic);
    else this.pending.set(topic, payload);
  }

  private target(device: string, point: string): { topic: string; unit: string | undefined } {
    let points = this.targets.get(device);
    if (!points) this.targets.set(device, (points = new Map()));
    let t = points.get(point);
    if (!t) points.set(point, (t = { topic: pointTopic(this.options.site, this.options.gateway, device, point), unit: this.options.unitOf(device, point) }));
    return t;
  }

  private catchUp(): void {
    for (const [topic, payload] of this.pending) {
      if (!this.options.publisher.publishLive(topic, payload, { qos: 0, retain: true })) return;
      this.pending.delete(topic);
    }
  }

  /** Resolves when the write was applied or refused (tests await it). */
  async handleSet(topic: string, payload: Buffer, packet?: Pick<IPublishPacket, 'retain'>): Promise<void> {
    // A retained /set would re-apply a stale write on every reconnect: never act on one.
    if (packet?.retain) {
      this.options.metrics.rejected.inc({ source: 'point-set', reason: 'retained' });
      return;
    }
    // An empty payload is how MQTT clears a retained message (the integrator cleaning up a /set it
    // retained by mistake): nothing was asked, nothing to refuse.
    if (payload.length === 0) {
      this.options.log.debug({ topic }, 'empty /set (a retained message cleared) ignored');
      return;
    }
    const rest = parseTopic(topic)?.rest.split('/');
    const device = rest?.[1];
    const point = rest?.[2];
    if (!device || !point || rest?.length !== 4) return;
    const decoded = decode(PointSetMessageSchema, topic, payload);
    if (!decoded.ok) {
      this.refused(device, point, 'SWG_ERR_POINT_TYPE', decoded.error, undefined);
      return;
    }
    try {
      await this.options.write(device, point, decoded.value.v, 'plain-mqtt');
    } catch (err) {
      this.refused(device, point, isSwarmgateError(err) ? err.code : 'SWG_ERR_INTERNAL', errorMessage(err), decoded.value.v);
    }
  }

  private refused(device: string, point: string, code: string, message: string, value: unknown): void {
    const { metrics, log, outbox, site, gateway } = this.options;
    metrics.rejected.inc({ source: 'point-set', reason: code });
    log.warn({ device, point, code, err: message }, 'plain-topic write refused');
    const event: GatewayEvent = {
      v: 1,
      id: randomUUID(),
      gateway,
      ts: this.clock(),
      kind: 'local-action',
      severity: 'warning',
      message: `write to ${device}/${point} via ${gatewayPrefix(site, gateway)}/points refused: ${message}`.slice(0, 2000),
      data: { code, source: 'plain-mqtt', ...(value !== undefined ? { value } : {}) },
      ...(isValidId(device) ? { device } : {}),
      ...(isPointName(point) ? { point } : {}),
    };
    outbox.enqueue(gatewayTopic(site, gateway, 'events'), 'event', encode(EventSchema, event));
  }
}

/** Whether a point name taken from a topic fits the wire schema (refusal events name it only then). */
export function isPointName(s: string): boolean {
  return /^[a-z][a-z0-9_]{0,63}$/.test(s);
}
