/**
 * A fleet of simulated gateways for the multi-hub suites: each is the gateway's real federation
 * (outbox in SQLite, publisher keeping every batch until the hub's stored receipt, MQTT 3.1.1)
 * fed by a synthetic source instead of devices. Every tick each gateway reports one reading per
 * point with a value no other reading has, and remembers what it reported, so the store can be
 * checked reading by reading afterwards (stored.ts: nothing missing, nothing twice).
 */
import { join } from 'node:path';
import type { Reading } from '../../../edge/drivers/driver.js';
import { startFederation, type Federation, type FederationGateway } from '../../../edge/federation/index.js';
import { createLogger } from '../../../shared/kit/log.js';
import { waitFor } from './util.js';

export interface SimGateway {
  readonly id: string;
  readonly site: string;
  readonly federation: Federation;
  /** Every reading reported so far, in order. */
  readonly reported: Reading[];
}

export interface Fleet {
  readonly gateways: readonly SimGateway[];
  /** Readings reported by all gateways so far. */
  reportedCount(): number;
  /** Batches the gateways sent again (no stored receipt in time, or a reconnect). */
  duplicatesSeen(): Promise<number>;
  /** Stops reporting (the outboxes keep sending what they hold). */
  halt(): void;
  /** Resolves once every outbox is empty: each batch was receipted as stored. */
  drained(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface FleetOptions {
  readonly dir: string;
  readonly site: string;
  /** Gateway ids; gateway i connects to urls[i % urls.length]. */
  readonly ids: readonly string[];
  readonly urls: readonly string[];
  readonly points: number;
  readonly tickMs: number;
  readonly auth?: (gateway: string) => { username: string; password: string } | undefined;
  /** Seconds a batch waits for its stored receipt before it is sent again (default 5). */
  readonly storedTimeoutS?: number;
}

/** A stand-in gateway for federation (one device, always up): emit() reports a reading. */
export function syntheticGateway(id: string, site: string, device = 'sim'): FederationGateway & { emit(r: Reading): void } {
  const listeners = new Set<(r: Reading) => void>();
  return {
    id,
    site,
    onReport(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit(r) {
      for (const l of listeners) l(r);
    },
    write: async () => undefined,
    deviceStates: () => ({ [device]: { state: 'up' as const } }),
  };
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const log = createLogger('e2e-fleet', 'warn');
  const gateways = await Promise.all(
    o.ids.map(async (id, i) => {
      const source = syntheticGateway(id, o.site);
      const url = o.urls[i % o.urls.length]!;
      const auth = o.auth?.(id);
      const federation = await startFederation({
        gateway: source,
        dataDir: join(o.dir, id),
        config: { mqtt: { url, ...(auth ?? {}), reconnectPeriodMs: 250, keepaliveS: 5, connectTimeoutMs: 3000 }, outbox: { flushMs: 50, storedTimeoutS: o.storedTimeoutS ?? 5 }, stateIntervalS: 0 },
        log,
      });
      return { id, site: o.site, federation, reported: [] as Reading[], source };
    }),
  );
  let tick = 0;
  const t0 = Date.now();
  const timer = setInterval(() => {
    tick++;
    // Strictly increasing per point; the value names gateway, tick and point, so no two readings are alike.
    const ts = t0 + tick * o.tickMs;
    gateways.forEach((g, gi) => {
      for (let p = 0; p < o.points; p++) {
        const r: Reading = { device: 'sim', point: `p${p}`, value: gi * 1e9 + tick * 1000 + p, quality: 'good', ts };
        g.reported.push(r);
        g.source.emit(r);
      }
    });
  }, o.tickMs);
  const halt = (): void => clearInterval(timer);
  return {
    gateways,
    reportedCount: () => gateways.reduce((n, g) => n + g.reported.length, 0),
    halt,
    async duplicatesSeen() {
      let n = 0;
      for (const g of gateways) for (const v of (await g.federation.publisher.metrics.resent.get()).values) n += v.value;
      return n;
    },
    async drained(timeoutMs) {
      for (const g of gateways) g.federation.outbox.flush();
      await waitFor(() => gateways.every((g) => g.federation.outbox.stats().messages === 0 && g.federation.outbox.stats().buffered === 0), timeoutMs, 'every outbox emptied by stored receipts', 100);
    },
    async stop() {
      halt();
      await Promise.all(gateways.map((g) => g.federation.stop().catch(() => undefined)));
    },
  };
}
