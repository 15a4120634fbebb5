/**
 * Keeps one OPC UA subscription alive for a set of points across connection losses and server
 * restarts. Gateways commonly stop receiving data silently after a server restart: node-opcua
 * transfers or recreates the subscription, but a monitored item whose recreation fails (or a
 * subscription the server timed out) is only logged. So after every restore we check the
 * subscription and each item ourselves, recreate what is missing, and re-read every point so
 * consumers see fresh good values even when the server kept the subscription and nothing changed.
 * During an outage every point is reported bad once ("connection lost"), and so is a subscription
 * that went silent (a hung server) until its recreated items deliver values again.
 */
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  resolveNodeId,
  type DataValue,
  type MonitoringParametersOptions,
  type NodeId,
} from 'node-opcua-client';
import type { Logger } from 'pino';
import { errorMessage } from '../../../shared/kit/errors.js';
import type { PointSpec, Reading, Subscription } from '../driver.js';
import type { OpcuaLink } from './connection.js';
import type { OpcuaAddress } from './settings.js';
import { withDeadline } from './deadline.js';
import { badReading, dataValueToReading } from './values.js';

export const CONNECTION_LOST_CAUSE = 'connection lost (SWG_ERR_DEVICE_NOT_CONNECTED)';
export const SUBSCRIPTION_SILENT_CAUSE = 'subscription silent, recreating it (SWG_ERR_DEVICE_TIMEOUT)';

/** Retry schedule for items the server refused (unknown node, filter not supported ...). */
const ITEM_RETRY_MIN_MS = 1000;
const ITEM_RETRY_MAX_MS = 30_000;

interface Entry {
  readonly point: PointSpec<OpcuaAddress>;
  readonly nodeId: NodeId;
  item: ClientMonitoredItem | undefined;
}

export interface KeeperOptions {
  readonly device: string;
  readonly publishingIntervalMs: number;
  readonly sessionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Target time between server keep-alives when nothing changes; also drives the stall watchdog. */
  readonly keepAliveMs: number;
  readonly log: Logger;
}

export class SubscriptionKeeper implements Subscription {
  readonly #entries: Entry[];
  #subscription: ClientSubscription | undefined;
  #closed = false;
  #repairing: Promise<void> | undefined;
  #repairAgain = false;
  #lastActivity = Date.now();
  #watchdog: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = ITEM_RETRY_MIN_MS;
  readonly #keepAliveCount: number;
  readonly #onLost = (): void => this.#reportLost();
  readonly #onRestored = (fresh: boolean): void => {
    // The outage was silence too; give the restored subscription a full watchdog period.
    this.#lastActivity = Date.now();
    if (fresh) this.#dropSubscription();
    this.#scheduleRepair(true);
  };

  constructor(
    private readonly link: OpcuaLink,
    points: readonly PointSpec<OpcuaAddress>[],
    private readonly onReading: (reading: Reading) => void,
    private readonly options: KeeperOptions,
  ) {
    this.#entries = points.map((point) => ({ point, nodeId: resolveNodeId(point.address.nodeId), item: undefined }));
    this.#keepAliveCount = Math.min(100, Math.max(3, Math.ceil(options.keepAliveMs / options.publishingIntervalMs)));
  }

  /** Creates the subscription; points the server refuses are reported bad and retried. */
  async start(): Promise<void> {
    this.link.on('lost', this.#onLost);
    this.link.on('restored', this.#onRestored);
    const period = this.#keepAlivePeriodMs();
    this.#watchdog = setInterval(() => this.#checkStall(), period);
    if (this.link.state !== 'connected') {
      this.#reportLost();
      return;
    }
    await this.#repair(false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#retryTimer);
    this.link.off('lost', this.#onLost);
    this.link.off('restored', this.#onRestored);
    await this.#repairing?.catch(() => undefined);
    const sub = this.#subscription;
    this.#subscription = undefined;
    if (sub && this.link.state === 'connected') {
      await withDeadline(sub.terminate(), this.#deadlineMs(), 'delete subscription').catch((err: unknown) =>
        this.options.log.debug({ err: errorMessage(err) }, 'terminate subscription failed'),
      );
    }
    sub?.removeAllListeners();
  }

  #deadlineMs(): number {
    return this.options.requestTimeoutMs + 500;
  }

  #keepAlivePeriodMs(): number {
    return this.#keepAliveCount * this.options.publishingIntervalMs;
  }

  #emit(reading: Reading): void {
    if (this.#closed) return;
    try {
      this.onReading(reading);
    } catch (err) {
      this.options.log.error({ err: errorMessage(err) }, 'reading handler threw');
    }
  }

  #reportLost(): void {
    const ts = Date.now();
    for (const e of this.#entries) this.#emit(badReading(this.options.device, e.point.name, CONNECTION_LOST_CAUSE, ts));
  }

  /** A subscription that neither publishes nor keeps alive for 3 keep-alive periods is dead. */
  #checkStall(): void {
    if (this.#closed || this.link.state !== 'connected' || this.#repairing || !this.#subscription) return;
    const silentFor = Date.now() - this.#lastActivity;
    // The server may have revised interval and count; judge by what it promised.
    const sub = this.#subscription;
    const promised = sub.publishingInterval > 0 && sub.maxKeepAliveCount > 0 ? sub.publishingInterval * sub.maxKeepAliveCount : this.#keepAlivePeriodMs();
    if (silentFor < 3 * Math.max(promised, this.#keepAlivePeriodMs())) return;
    this.options.log.warn({ silentFor }, 'OPC UA subscription silent, recreating it');
    // Until the recreated items deliver their initial values nobody knows the points are current;
    // say so, or the gateway's heartbeat would keep re-stating the last good values of a hung server.
    const ts = Date.now();
    for (const e of this.#entries) this.#emit(badReading(this.options.device, e.point.name, SUBSCRIPTION_SILENT_CAUSE, ts));
    this.#dropSubscription();
    this.#scheduleRepair(true);
  }

  #scheduleRepair(resync: boolean): void {
    if (this.#closed) return;
    if (this.#repairing) {
      this.#repairAgain = true;
      return;
    }
    void this.#repair(resync);
  }

  async #repair(resync: boolean): Promise<void> {
    const run = this.#doRepair(resync).catch((err: unknown) => {
      this.options.log.warn({ err: errorMessage(err) }, 'OPC UA subscription repair failed');
      this.#scheduleItemRetry();
    });
    this.#repairing = run;
    await run;
    this.#repairing = undefined;
    if (this.#repairAgain && !this.#closed) {
      this.#repairAgain = false;
      await this.#repair(true);
    }
  }

  async #doRepair(resync: boolean): Promise<void> {
    if (this.#closed || this.link.state !== 'connected') return;
    const session = this.link.session;
    let sub = this.#subscription;
    if (sub && (!sub.isActive || !sub.hasSession || sub.session !== session)) {
      this.#dropSubscription();
      sub = undefined;
    }
    if (!sub) {
      sub = await withDeadline(session.createSubscription2({
        requestedPublishingInterval: this.options.publishingIntervalMs,
        requestedMaxKeepAliveCount: this.#keepAliveCount,
        // The server keeps the subscription (for transfer) about as long as it keeps the session.
        requestedLifetimeCount: Math.max(3 * this.#keepAliveCount, Math.ceil(this.options.sessionTimeoutMs / this.options.publishingIntervalMs)),
        maxNotificationsPerPublish: 1000,
        publishingEnabled: true,
        priority: 1,
      }), this.#deadlineMs(), 'create subscription');
      if (this.#closed) {
        await sub.terminate().catch(() => undefined);
        return;
      }
      this.#adopt(sub);
    }
    const broken = this.#entries.filter((e) => !e.item || !e.item.statusCode.isGood() || e.item.monitoredItemId === undefined);
    const fresh = new Set(broken);
    await Promise.all(broken.map((e) => this.#monitor(sub, e)));
    const failed = this.#entries.filter((e) => !e.item);
    if (failed.length > 0) this.#scheduleItemRetry();
    else this.#retryDelay = ITEM_RETRY_MIN_MS;
    // Recreated items deliver their initial value by themselves; the others may be unchanged since
    // before the outage, so read them to turn their 'connection lost' into a current good value.
    const toRead = resync ? this.#entries.filter((e) => e.item && !fresh.has(e)) : [];
    if (toRead.length > 0) await this.#resync(toRead);
  }

  #adopt(sub: ClientSubscription): void {
    this.#subscription = sub;
    this.#lastActivity = Date.now();
    for (const e of this.#entries) e.item = undefined;
    const touch = (): void => {
      this.#lastActivity = Date.now();
    };
    sub.on('keepalive', touch);
    sub.on('received_notifications', touch);
    sub.on('terminated', () => {
      if (this.#closed || this.#subscription !== sub) return;
      this.options.log.warn('OPC UA subscription terminated by the server, recreating it');
      this.#dropSubscription();
      this.#scheduleRepair(true);
    });
    sub.on('internal_error', (err: Error) => this.options.log.debug({ err: err.message }, 'OPC UA subscription internal error'));
  }

  #dropSubscription(): void {
    const sub = this.#subscription;
    this.#subscription = undefined;
    for (const e of this.#entries) e.item = undefined;
    if (!sub) return;
    sub.removeAllListeners();
    // Best effort: the server may still hold it (watchdog case); it times out there otherwise.
    if (sub.isActive && this.link.state === 'connected') quietly(() => sub.terminate());
  }

  #parameters(point: PointSpec<OpcuaAddress>): MonitoringParametersOptions {
    const deadband = point.address.deadband;
    return {
      samplingInterval: point.address.samplingIntervalMs ?? point.pollIntervalMs,
      queueSize: 10,
      discardOldest: true,
      ...(deadband && deadband.value > 0
        ? {
            filter: new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: deadband.type === 'percent' ? DeadbandType.Percent : DeadbandType.Absolute,
              deadbandValue: deadband.value,
            }),
          }
        : {}),
    };
  }

  async #monitor(sub: ClientSubscription, entry: Entry): Promise<void> {
    const old = entry.item;
    entry.item = undefined;
    if (old) {
      old.removeAllListeners();
      quietly(() => old.terminate());
    }
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId: entry.nodeId, attributeId: AttributeIds.Value },
      this.#parameters(entry.point),
      TimestampsToReturn.Both,
    );
    item.on('changed', (dv: DataValue) => {
      if (this.#subscription !== sub) return;
      this.#emit(dataValueToReading(this.options.device, entry.point, dv));
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<string | undefined>((resolve) => {
      item.once('initialized', () => resolve(undefined));
      item.once('err', (message: string) => resolve(message));
      item.once('terminated', (err?: Error) => resolve(err?.message ?? 'terminated'));
      timer = setTimeout(() => resolve('BadTimeout (no answer to CreateMonitoredItems)'), this.#deadlineMs());
    });
    clearTimeout(timer);
    if (outcome === undefined && this.#subscription === sub) {
      entry.item = item;
      return;
    }
    // A late answer must not leave an orphan item reporting next to its replacement.
    item.removeAllListeners();
    if (outcome?.startsWith('BadTimeout')) quietly(() => item.terminate());
    const cause = (outcome ?? 'subscription replaced').split(' ')[0] ?? 'monitoring failed';
    this.options.log.warn({ point: entry.point.name, nodeId: entry.point.address.nodeId, cause: outcome }, 'OPC UA monitored item refused');
    this.#emit(badReading(this.options.device, entry.point.name, `monitored item refused: ${cause}`));
  }

  #scheduleItemRetry(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(ITEM_RETRY_MAX_MS, delay * 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#scheduleRepair(false);
    }, delay);
  }

  async #resync(entries: readonly Entry[]): Promise<void> {
    const session = this.link.session;
    const values = await withDeadline(
      session.read(
        entries.map((e) => ({ nodeId: e.nodeId, attributeId: AttributeIds.Value })),
        0,
      ),
      this.#deadlineMs(),
      'resync read',
    );
    entries.forEach((e, i) => {
      const dv = values[i];
      if (dv) this.#emit(dataValueToReading(this.options.device, e.point, dv));
    });
  }
}

/** Fire-and-forget cleanup calls that may throw synchronously (node-opcua asserts) or reject. */
function quietly(action: () => Promise<unknown>): void {
  try {
    action().catch(() => undefined);
  } catch {
    // Nothing to clean up on our side.
  }
}
