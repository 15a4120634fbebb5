/**
 * Fleet learning, the gateway's half (analytics.fleetLearning; the hub's is hub/priors): points
 * that are "the same" across gateways share one fleet key (shared/wire/detector-prior.ts: priorKey,
 * from the profile and point name, or from the Haystack markers and unit).
 *
 * - share: when a point's detector reaches 'scoring', and every CHECK_MS, the prior of each point
 *   whose detector scores on its own learning and was not offered within shareEveryS (bounded
 *   rate; later priors carry retrainings) goes to the hub on `prior` (QoS 1, only while connected: a
 *   prior is a snapshot, the next one comes anyway).
 * - use: the keys of points still waiting (no saved state, not started from a prior, still
 *   learning) are asked for on `prior/request` at each connect and every requestEveryS; a fleet
 *   prior arriving on `prior/fleet` starts every waiting point of its key.
 *
 * Neither subscribes nor publishes anything when both are off. The host is the anomaly monitor
 * (app.ts wires it: federation never imports the decision layer).
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../shared/kit/errors.js';
import { decode, encode, schemaProblem } from '../../shared/wire/codec.js';
import {
  FleetPriorMessageSchema,
  PRIOR_REQUEST_MAX_KEYS,
  PriorMessageSchema,
  priorKey,
  PriorKeySchema,
  priorSizeProblem,
  PriorRequestSchema,
  type DetectorPrior,
} from '../../shared/wire/detector-prior.js';
import { gatewayTopic } from '../../shared/wire/topics.js';
import type { Publisher } from './publisher.js';

/** What fleet learning needs of the anomaly monitor. */
export interface PriorHost {
  /** Called when a point's detector reaches 'scoring' (its prior may then be shared at once). */
  onScoring(listener: (ref: string) => void): () => void;
  waitingForPrior(): string[];
  adoptPrior(ref: string, prior: DetectorPrior, origin: string): Promise<boolean>;
  sharePriors(now: number, everyMs: number): Promise<Array<{ readonly ref: string; readonly device: string; readonly point: string; readonly prior: DetectorPrior }>>;
  /** A point's prior was handed to the broker: the next is due shareEveryS later. */
  markShared(ref: string, now: number): void;
}

export interface FleetLearningSettings {
  readonly share?: boolean;
  readonly use?: boolean;
  readonly key?: 'profile' | 'tags';
  readonly shareEveryS?: number;
  readonly requestEveryS?: number;
}

/** A monitored point as the key needs it: its profile's name, and its markers and unit. */
export interface KeyedPoint {
  readonly ref: string;
  readonly profile: string;
  readonly point: string;
  readonly tags?: readonly string[];
  readonly unit?: string;
}

/**
 * The fleet key of each point ref. A key the hub would refuse (a control character in a profile
 * or point name, longer than the wire allows) is left out, its point learning alone, and
 * `refused` says why: the hub refuses a whole request that names one, which would starve the
 * gateway's other points of their priors.
 */
export function fleetKeys(points: readonly KeyedPoint[], by: 'profile' | 'tags' = 'profile', refused?: (ref: string, key: string, problem: string) => void): Map<string, string> {
  const keys = new Map<string, string>();
  for (const p of points) {
    const key = by === 'tags' && p.tags && p.tags.length > 0 && p.unit ? priorKey({ markers: p.tags, unit: p.unit }) : priorKey({ profile: p.profile, point: p.point });
    const problem = schemaProblem(PriorKeySchema, key);
    if (problem === undefined) keys.set(p.ref, key);
    else refused?.(p.ref, key, problem);
  }
  return keys;
}

export interface FleetPriorsOptions {
  readonly settings: FleetLearningSettings;
  readonly site: string;
  readonly gateway: string;
  readonly publisher: Pick<Publisher, 'connected' | 'subscribe' | 'onConnect' | 'publishLive'>;
  readonly host: PriorHost;
  /** Point ref -> fleet key (fleetKeys). */
  readonly keys: ReadonlyMap<string, string>;
  readonly log: Logger;
  readonly clock?: () => number;
}

/** How often due priors are looked for. */
const CHECK_MS = 60_000;

export class FleetPriors {
  private readonly clock: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly offConnect: Array<() => void> = [];
  private busy: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Keys whose last fleet prior fitted none of the waiting points, with its version: asked for again with that version, so only a newer one comes. */
  private readonly unfit = new Map<string, number>();
  /** Priors published and fleet priors adopted (for tests and logs). */
  readonly stats = { shared: 0, requested: 0, received: 0, adopted: 0 };

  constructor(private readonly options: FleetPriorsOptions) {
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    const { settings, publisher } = this.options;
    if (settings.use) {
      publisher.subscribe(this.topic('prior/fleet'), 1, (_topic, payload) => void this.queue(() => this.receive(payload)));
      this.offConnect.push(publisher.onConnect(() => void this.request()));
      this.every((settings.requestEveryS ?? 600) * 1000, () => this.request());
    }
    if (settings.share) {
      this.offConnect.push(publisher.onConnect(() => void this.share()));
      this.offConnect.push(this.options.host.onScoring(() => void this.share()));
      this.every(CHECK_MS, () => this.share());
    }
    // Already connected: no connect event comes to start with.
    if (publisher.connected) {
      if (settings.use) void this.request();
      if (settings.share) void this.share();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const off of this.offConnect) off();
    await this.busy;
  }

  /** Resolves when what is queued is done (tests). */
  idle(): Promise<unknown> {
    return this.busy;
  }

  /** Shares what is due now (also run every minute). */
  share(): Promise<void> {
    return this.queue(() => this.shareNow());
  }

  /** Asks for the waiting points' keys now (also run at each connect and every requestEveryS). */
  request(): Promise<void> {
    return this.queue(() => this.requestNow());
  }

  private topic(channel: 'prior' | 'prior/request' | 'prior/fleet'): string {
    return gatewayTopic(this.options.site, this.options.gateway, channel);
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    this.timers.push(t);
  }

  /** One thing at a time: a share, a request or an adoption. */
  private queue(fn: () => Promise<void>): Promise<void> {
    const next = this.busy.then(async () => {
      if (this.stopped) return;
      try {
        await fn();
      } catch (err) {
        this.options.log.warn({ err: errorMessage(err) }, 'fleet learning step failed');
      }
    });
    this.busy = next;
    return next;
  }

  private async shareNow(): Promise<void> {
    const { publisher, host, keys, settings, log } = this.options;
    if (!settings.share || !publisher.connected) return;
    const now = this.clock();
    const due = await host.sharePriors(now, (settings.shareEveryS ?? 21_600) * 1000);
    for (const d of due) {
      const key = keys.get(d.ref);
      if (!key) continue;
      const tooBig = priorSizeProblem(d.prior);
      if (tooBig) {
        log.warn({ point: d.ref, key, problem: tooBig }, 'detector prior too large to share');
        continue;
      }
      const sent = publisher.publishLive(this.topic('prior'), encode(PriorMessageSchema, { v: 1, key, device: d.device, point: d.point, prior: d.prior }), { qos: 1, retain: false });
      if (sent) {
        host.markShared(d.ref, now);
        this.stats.shared++;
        log.info({ point: d.ref, key, readings: d.prior.readings }, 'detector prior shared with the fleet');
      }
    }
  }

  private async requestNow(): Promise<void> {
    const { publisher, host, keys, settings, log } = this.options;
    if (!settings.use || !publisher.connected) return;
    const wanted = [...new Set(host.waitingForPrior().flatMap((ref) => keys.get(ref) ?? []))].slice(0, PRIOR_REQUEST_MAX_KEYS);
    if (wanted.length === 0) return;
    const have = wanted.flatMap((key) => {
      const version = this.unfit.get(key);
      return version === undefined ? [] : [{ key, version }];
    });
    if (publisher.publishLive(this.topic('prior/request'), encode(PriorRequestSchema, { v: 1, keys: wanted, ...(have.length > 0 ? { have } : {}) }), { qos: 1, retain: false })) {
      this.stats.requested++;
      log.debug({ keys: wanted }, 'fleet priors requested');
    }
  }

  private async receive(payload: Buffer): Promise<void> {
    const { host, keys, log } = this.options;
    const r = decode(FleetPriorMessageSchema, this.topic('prior/fleet'), payload);
    if (!r.ok) {
      log.warn({ err: r.error }, 'fleet prior refused');
      return;
    }
    this.stats.received++;
    const { key, version, prior } = r.value;
    const tooBig = priorSizeProblem(prior);
    if (tooBig) {
      log.warn({ key, version, problem: tooBig }, 'fleet prior refused');
      return;
    }
    let tried = 0;
    let adopted = 0;
    for (const ref of host.waitingForPrior()) {
      if (keys.get(ref) !== key) continue;
      tried++;
      if (await host.adoptPrior(ref, prior, `${key}@${version}`)) adopted++;
    }
    this.stats.adopted += adopted;
    if (tried > 0 && adopted === 0) this.unfit.set(key, Math.max(version, this.unfit.get(key) ?? 0));
    else this.unfit.delete(key);
  }
}
