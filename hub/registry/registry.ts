/**
 * Gateway registry: online/offline from the retained birth and the will on the state topic,
 * last seen from any message, version and health from the birth. Kept in the store (so several
 * hub processes and the web API see the same thing); lastSeen writes are throttled per gateway.
 */
import type { Logger } from '../../shared/kit/log.js';
import type { GatewayState } from '../../shared/wire/messages.js';
import type { HubEvents } from '../events.js';
import type { GatewayRecord, GatewayStore } from '../store/types.js';
import type { PointIndexPort } from './points.js';
import { StatusLog } from './status-log.js';

export interface GatewayRegistryOptions {
  readonly store: GatewayStore;
  readonly events: HubEvents;
  readonly logger?: Logger;
  /** lastSeen is written at most this often per gateway (default 1000 ms). */
  readonly touchIntervalMs?: number;
  /** Where the births' point descriptions (units, Haystack tags) are indexed; none: not indexed. */
  readonly points?: PointIndexPort;
}

export class GatewayRegistry {
  private readonly lastWritten = new Map<string, number>();
  private readonly touchIntervalMs: number;
  /** Status changes in the log: the first at once, a burst (a site's network dropped) as one summary. */
  private readonly statusLog: StatusLog;

  constructor(private readonly options: GatewayRegistryOptions) {
    this.touchIntervalMs = options.touchIntervalMs ?? 1000;
    this.statusLog = new StatusLog(options.logger);
  }

  /** Applies a birth (online) or will/offline message in arrival order. */
  async applyState(site: string, gateway: string, state: GatewayState, now = Date.now()): Promise<GatewayRecord> {
    const previous = (await this.options.store.getGateway(gateway))?.status;
    const record = await this.options.store.upsertGateway(
      {
        gateway,
        site,
        status: state.status,
        stateTs: state.ts,
        // A will is the broker speaking for a lost gateway: it does not mean the gateway was seen.
        lastSeen: state.status === 'online' ? now : undefined,
        bootId: state.bootId,
        version: state.version,
        health: state.health,
        devices: state.devices,
      },
      now,
    );
    this.lastWritten.set(gateway, now);
    if (state.status === 'online' && state.devices) await this.options.points?.applyBirth(site, gateway, state.devices, now);
    await this.options.events.emit('state', { site, gateway, state, record });
    if (previous !== record.status) {
      this.statusLog.changed({ site, gateway, status: record.status, version: record.version });
      await this.options.events.emit('gateway', { record, previous });
    }
    return record;
  }

  /** Any message from a gateway: moves lastSeen forward (throttled). */
  async seen(site: string, gateway: string, now = Date.now()): Promise<void> {
    const last = this.lastWritten.get(gateway);
    if (last !== undefined && now - last < this.touchIntervalMs) return;
    this.lastWritten.set(gateway, now);
    await this.options.store.upsertGateway({ gateway, site, lastSeen: now }, now);
  }

  get(gateway: string): Promise<GatewayRecord | undefined> {
    return this.options.store.getGateway(gateway);
  }

  list(): Promise<GatewayRecord[]> {
    return this.options.store.listGateways();
  }

  async isOnline(gateway: string): Promise<boolean> {
    return (await this.get(gateway))?.status === 'online';
  }
}
