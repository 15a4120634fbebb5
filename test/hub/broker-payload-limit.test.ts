/**
 * The smallest broker.maxPayloadBytes the hub accepts lets a gateway's largest telemetry batch
 * through: a real gateway federation (its outbox fills batches to their byte bound with long
 * status texts) into a hub whose embedded broker has that limit delivers every reading, the long
 * ones and those after them. (Below it the config is refused: test/hub/config.test.ts.)
 */
import { Registry } from 'prom-client';
import { afterAll, expect, it } from 'vitest';
import { startFederation, type Federation } from '../../edge/federation/index.js';
import { MIN_BROKER_PAYLOAD_BYTES } from '../../hub/config.js';
import type { Hub } from '../../hub/index.js';
import { tempDir } from '../support/tmp.js';
import { fakeGateway } from '../federation/edge/helpers.js';
import { waitFor } from './helpers.js';
import { addGatewayUser, credentialsFile, startEmbeddedHub } from '../e2e/support/hub.js';

const hubDir = tempDir('swg-payload-limit-hub-');
const gwDir = tempDir('swg-payload-limit-gw-');
let hub: Hub | undefined;
let fed: Federation | undefined;
afterAll(async () => {
  await fed?.stop();
  await hub?.stop();
  hubDir.remove();
  gwDir.remove();
});

it("a gateway's largest telemetry batches get through a hub at the smallest broker.maxPayloadBytes it accepts", async () => {
  hub = await startEmbeddedHub({ dir: hubDir.path, maxPayloadBytes: MIN_BROKER_PAYLOAD_BYTES });
  const auth = await addGatewayUser(credentialsFile(hubDir.path), 'site-a', 'gw-1');
  const gw = fakeGateway('gw-1', 'site-a');
  fed = await startFederation({ gateway: gw, dataDir: gwDir.path, registry: new Registry(), config: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 1000, inflight: 10 }, outbox: { flushMs: 200, batchMax: 5000 }, stateIntervalS: 0 } });
  await waitFor(() => fed!.publisher.connected, 10_000, 'connect');
  const t0 = Date.now();
  // 600 status texts of the longest value a reading carries: batches sealed at their byte bound.
  const LONG = 600;
  for (let i = 0; i < LONG; i++) gw.emit({ device: 'ahu1', point: 'temp', value: `status ${i} ${'x'.repeat(1100)}`, quality: 'good', ts: t0 + i });
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 100; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + 1000 + i });
  await waitFor(async () => ((await hub!.store.history('gw-1', 'ahu1', 'temp', t0, t0 + 2000)).length === LONG + 100 ? true : undefined), 30_000, 'every reading stored');
  await waitFor(async () => ((await hub!.metrics.count(hub!.metrics.readingsStored)) === LONG + 100 ? true : undefined), 10_000, 'every reading counted');
  expect(await hub.metrics.count(hub.metrics.payloadRejected)).toBe(0);
  // The long readings came in a few full batches (~170 readings, ~190 kB each), not one by one.
  expect(await hub.metrics.count(hub.metrics.messages)).toBeLessThanOrEqual(8);
}, 60_000);
