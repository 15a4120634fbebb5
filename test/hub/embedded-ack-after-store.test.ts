/**
 * Embedded mode: the broker's PUBACK to a gateway follows the hub's store, so a gateway deletes
 * from its outbox only what the hub has. A real SQLite store is wrapped so its telemetry writes
 * wait on a gate (or fail), and a plain MQTT client publishes QoS 1 like a gateway's outbox.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { Hub } from '../../hub/index.js';
import { SqliteStore } from '../../hub/store/index.js';
import type { HubStore } from '../../hub/store/types.js';
import { encode, gatewayTopic, GatewayStateSchema, TelemetryBatchSchema } from '../../shared/wire/index.js';
import { addGatewayUser, credentialsFile, startEmbeddedHub } from '../e2e/support/hub.js';
import { tempDir } from '../support/tmp.js';
import { batch, connectClient, endAll, reading, sleep, waitFor } from './helpers.js';

const SITE = 'site-ack';

/** The real store, with ingestBatch held until release() (or failing while `failing` is set). */
function gatedStore(store: SqliteStore): { store: HubStore; entered: () => number; release: () => void; events: string[]; setFailing: (f: boolean) => void } {
  const events: string[] = [];
  let entered = 0;
  let failing = false;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'ingestBatch') {
        return async (...args: Parameters<SqliteStore['ingestBatch']>) => {
          entered++;
          if (failing) throw new Error('disk I/O error (test)');
          await gate;
          const result = await target.ingestBatch(...args);
          events.push(`stored ${args[0].seq}`);
          return result;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, entered: () => entered, release: () => open(), events, setFailing: (f) => (failing = f) };
}

describe('embedded broker: PUBACK after the store', () => {
  const dir = tempDir('swarmgate-hub-ack-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  async function setup(gateway: string): Promise<{ hub: Hub; gw: MqttClient; gated: ReturnType<typeof gatedStore>; sqlite: SqliteStore }> {
    const sqlite = SqliteStore.open({ path: `${dir.path}/${gateway}.db` });
    cleanups.push(() => sqlite.close());
    const gated = gatedStore(sqlite);
    const auth = await addGatewayUser(credentialsFile(dir.path), SITE, gateway);
    const hub = await startEmbeddedHub({ dir: dir.path, options: { store: gated.store } });
    cleanups.push(() => hub.stop());
    cleanups.push(async () => gated.release()); // runs first: a failed test must not leave the store held
    const gw = await connectClient(hub.broker!.url, { ...auth, clientId: gateway, clean: false });
    cleanups.push(() => endAll([gw]));
    return { hub, gw, gated, sqlite };
  }

  it('acknowledges a telemetry batch only once the store has it, and handles it once', async () => {
    const gateway = 'gw-ack';
    const { hub, gw, gated, sqlite } = await setup(gateway);
    const topic = gatewayTopic(SITE, gateway, 'telemetry');
    const first = batch(gateway, 'boot-0001', 1, [reading('ahu1', 'temp', 21.5, Date.now())]);
    const puback = gw.publishAsync(topic, encode(TelemetryBatchSchema, first), { qos: 1 }).then(() => gated.events.push('puback 1'));
    await waitFor(() => gated.entered() === 1, 5000, 'the store to be asked');
    // The store holds the batch; a PUBACK now would let the gateway delete what the hub lacks.
    await sleep(300);
    expect(gated.events).toEqual([]);
    gated.release();
    await puback;
    expect(gated.events).toEqual(['stored 1', 'puback 1']);

    // The same message is not handled a second time through the hub's own subscriptions.
    await gw.publishAsync(gatewayTopic(SITE, gateway, 'state'), encode(GatewayStateSchema, { v: 1, gateway, site: SITE, status: 'online', ts: Date.now() }), { qos: 1, retain: true });
    await gw.publishAsync(topic, encode(TelemetryBatchSchema, batch(gateway, 'boot-0001', 2, [reading('ahu1', 'temp', 21.6, Date.now())])), { qos: 1 });
    await waitFor(async () => (await hub.registry.get(gateway)) !== undefined, 3000, 'the gateway in the registry');
    await sleep(200);
    expect(hub.ingest.stats.received).toBe(3);
    expect(gated.events).toEqual(['stored 1', 'puback 1', 'stored 2']);
    expect((await sqlite.latest(gateway)).map((r) => r.value)).toEqual([21.6]);
  });

  it('sends no PUBACK for a batch the store never took before the hub stopped', async () => {
    const gateway = 'gw-noack';
    const { hub, gw, gated } = await setup(gateway);
    gated.setFailing(true);
    let acked = false;
    gw.publish(gatewayTopic(SITE, gateway, 'telemetry'), encode(TelemetryBatchSchema, batch(gateway, 'boot-0001', 1, [reading('ahu1', 'temp', 1, Date.now())])), { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await waitFor(() => gated.entered() >= 2, 5000, 'store retries');
    await hub.stop();
    await waitFor(() => !gw.connected, 5000, 'the gateway disconnected');
    expect(acked).toBe(false);
  });
});
