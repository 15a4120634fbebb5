/**
 * Dead letters re-queued on a gateway that runs, against real brokers and the real hub:
 * - the broker refused a batch (a message size limit, as aedes refuses: closing the connection);
 *   the limit is lifted and a technician re-queues it: it is delivered under its own batch key and
 *   leaves the outbox on its receipt;
 * - a batch the hub had stored already (the broker passed it on, then closed the connection on it)
 *   and the gateway set aside anyway: re-queued, the hub stores it no second time, receipts it,
 *   and the gateway deletes it (request left while the gateway was stopped, taken at its start);
 * - a message the hub's broker refuses (outside the gateway's ACL): the hub's gateway list shows
 *   the dead letters (health.deadLetters); re-queued while the ACL still refuses it, it is set aside
 *   again counting the re-queue, and a further re-queue is refused without force.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { openDeadLetters } from '../../../edge/federation/dead-letters.js';
import { startFederation, type Federation } from '../../../edge/federation/index.js';
import { Outbox } from '../../../edge/federation/outbox.js';
import type { Hub } from '../../../hub/index.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { TelemetryBatch } from '../../../shared/wire/index.js';
import { addGatewayUser, adminCookie, credentialsFile, startEmbeddedHub } from '../../e2e/support/hub.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, oversizeBurst, receivedBatches, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
/** The refusal strikes must span this long here (a minute in production): the tests stay fast. */
const SPAN = { minSpanMs: 1000 };
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function requeue(dataDir: string, options: { force?: boolean } = {}): number[] {
  const file = openDeadLetters(join(dataDir, 'outbox.sqlite'));
  try {
    return file.table.requestRequeue('all', Date.now(), options).map((d) => d.id);
  } finally {
    file.close();
  }
}

function pendingRequests(dataDir: string): number {
  const file = openDeadLetters(join(dataDir, 'outbox.sqlite'));
  try {
    return file.table.list().filter((d) => d.requeueRequestedAt !== null).length;
  } finally {
    file.close();
  }
}

async function embeddedHub(site: string, gateway: string, apiPasswordEnv?: string): Promise<{ hub: Hub; auth: { username: string; password: string } }> {
  const dir = tempDir('swg-dead-hub-');
  cleanups.push(() => dir.remove());
  const hub = await startEmbeddedHub({ dir: dir.path, ...(apiPasswordEnv ? { apiAdminPasswordEnv: apiPasswordEnv } : {}) });
  cleanups.push(() => hub.stop());
  const auth = await addGatewayUser(credentialsFile(dir.path), site, gateway);
  return { hub, auth };
}

describe('a re-queued dead letter on a running gateway', () => {
  it('refused for its size, re-queued once the limit is lifted: delivered under its own batch key and deleted on its receipt', async () => {
    const { dir, hub, gw, fed, t0, lift } = await oversizeBurst(cleanups, 'swg-dead-size-', { refusal: SPAN });
    for (let i = 0; i < 50; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + 1000 + i * 10 });
    await waitFor(() => fed.outbox.deadLetters().length === 1 && fed.outbox.stats().messages === 0, 30_000, 'set aside, the rest delivered');
    const batches = (): TelemetryBatch[] => receivedBatches(hub);
    expect(batches().some((b) => b.seq === 0)).toBe(false);

    // The broker's limit is raised; the technician re-queues what it refused.
    lift();
    expect(requeue(dir.path)).toEqual([1]);
    await waitFor(() => batches().some((b) => b.seq === 0), 10_000, 'the batch delivered');
    await waitFor(() => fed.outbox.stats().messages === 0, 10_000, 'receipted and deleted');
    const delivered = batches().filter((b) => b.seq === 0);
    expect(delivered.map((b) => [b.gateway, b.bootId, b.readings.length])).toEqual([['gw-1', fed.bootId, 100]]);
    expect(delivered[0]!.readings.map((r) => r.ts)).toEqual(Array.from({ length: 100 }, (_, i) => t0 + i));
    expect(fed.outbox.deadLetters()).toEqual([]);
    expect(pendingRequests(dir.path)).toBe(0);
  }, 60_000);
});

describe('the real hub', () => {
  it('a batch it stored already, set aside by the gateway and re-queued: stored once, receipted, deleted from the outbox', async () => {
    const { hub, auth } = await embeddedHub('site-a', 'gw-1');
    const gwDir = tempDir('swg-dead-dup-');
    cleanups.push(() => gwDir.remove());
    const path = join(gwDir.path, 'outbox.sqlite');
    const t0 = Date.now() - 60_000;
    const before = new Outbox({ path, site: 'site-a', gateway: 'gw-1', flushMs: 10_000, batchMax: 10 });
    for (let i = 0; i < 10; i++) before.addReading({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + i * 1000 });
    before.flush();
    const row = before.all().find((r) => r.kind === 'telemetry')!;
    // The broker passed the batch on to the hub, then closed the connection on it: set aside.
    const client = await mqtt.connectAsync(hub.broker!.url, { ...auth, clientId: 'gw-1' });
    cleanups.push(() => client.endAsync());
    await client.publishAsync('swarmgate/v1/site-a/gw-1/telemetry', row.payload, { qos: 1 });
    await client.endAsync();
    expect((await hub.store.history('gw-1', 'ahu1', 'temp', t0 - 1, t0 + 60_000)).length).toBe(10);
    before.setAside(row.seq);
    const bootId = before.bootId;
    before.close();
    expect(requeue(gwDir.path)).toEqual([1]);

    const duplicatesBefore = hub.ingest.stats.duplicates;
    const fed = await startFederation({ gateway: fakeGateway('gw-1', 'site-a'), dataDir: gwDir.path, registry: new Registry(), config: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 100, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    // Taken at the start: the batch and the gap record (reason refused) are queued.
    expect(fed.outbox.all().filter((r) => r.kind === 'telemetry').map((r) => [r.bootId, r.batchSeq, r.requeues])).toEqual([[bootId, 0, 1]]);
    await waitFor(() => fed.outbox.stats().messages === 0, 20_000, 'receipted and deleted');
    expect(hub.ingest.stats.duplicates - duplicatesBefore).toBe(1);
    expect((await hub.store.history('gw-1', 'ahu1', 'temp', t0 - 1, t0 + 60_000)).map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(fed.outbox.deadLetters()).toEqual([]);
  }, 60_000);

  it("a message outside the gateway's ACL: listed in the hub's gateway health; re-queued while still refused, set aside again counting it, and not re-queued again without force", async () => {
    const PW_ENV = 'SWG_DEAD_LETTERS_TEST_ADMIN';
    process.env[PW_ENV] = 'dead-letters-admin-pw';
    cleanups.push(() => void delete process.env[PW_ENV]);
    const { hub, auth } = await embeddedHub('site-a', 'gw-1', PW_ENV);
    const gwDir = tempDir('swg-dead-acl-');
    cleanups.push(() => gwDir.remove());
    const gw = fakeGateway('gw-1', 'site-a');
    const fed: Federation = await startFederation({ gateway: gw, dataDir: gwDir.path, registry: new Registry(), refusal: SPAN, config: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 1000, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    fed.outbox.enqueue('swarmgate/v2/site-a/gw-1/events', 'other', Buffer.from('{"v":2}'));
    await waitFor(() => fed.outbox.deadLetters().length === 1, 30_000, 'set aside');
    const setAsideAt = fed.outbox.deadLetters()[0]!.setAsideAt;

    await waitFor(() => fed.publisher.connected, 10_000, 'connected again');
    fed.publisher.publishState();
    const cookie = await adminCookie(hub, 'dead-letters-admin-pw');
    const health = async (): Promise<Record<string, unknown> | undefined> => {
      const res = await fetch(`${hub.api!.url}/api/v1/gateways`, { headers: { cookie } });
      const { gateways } = (await res.json()) as { gateways: { gateway: string; health?: Record<string, unknown> }[] };
      return gateways.find((g) => g.gateway === 'gw-1')?.health;
    };
    let seen = await health();
    for (const deadline = Date.now() + 10_000; seen?.deadLetters === undefined && Date.now() < deadline; seen = await health()) await new Promise((r) => setTimeout(r, 100));
    expect(seen?.deadLetters).toEqual({ count: 1, bytes: 7, oldestSetAsideAt: setAsideAt });

    // Re-queued while the ACL still refuses it.
    expect(requeue(gwDir.path)).toEqual([1]);
    await waitFor(() => fed.outbox.deadLetters().length === 0, 5000, 'taken');
    await waitFor(() => fed.outbox.deadLetters().length === 1, 30_000, 'set aside again');
    expect(fed.outbox.deadLetters()).toEqual([expect.objectContaining({ id: 2, kind: 'other', topic: 'swarmgate/v2/site-a/gw-1/events', reason: 'refused', requeues: 1 })]);
    let refused: unknown;
    try {
      requeue(gwDir.path);
    } catch (err) {
      refused = err;
    }
    expect(isSwarmgateError(refused, 'SWG_ERR_DEAD_LETTER_REFUSED_AGAIN')).toBe(true);
    expect(pendingRequests(gwDir.path)).toBe(0);
  }, 90_000);
});
