/**
 * The retained state document follows the gateway's devices: a device coming up or going down is
 * published within about a second (changes in that second as one document), not only on connect
 * and every stateIntervalS (here 0: only on connect, so every later document is one of these).
 * Real Gateway and device runner; a Modbus unit that is up, then stopped.
 */
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFacility } from '../../../devices/facility.js';
import { loadConfig } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { federationGateway, startFederation } from '../../../edge/federation/index.js';
import { Gateway } from '../../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../../edge/runtime/metrics.js';
import { GatewayStateSchema, decode, type GatewayState } from '../../../shared/wire/index.js';
import { startPeers, waitFor, type Cleanup } from './helpers.js';

const PROFILES = fileURLToPath(new URL('../../../devices/profiles/', import.meta.url));
const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('gateway state document', () => {
  it('is published again when a device comes up and when it goes down', async () => {
    const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/site-a/gw-st/state', 'swg-fed-state-');
    const facility = await startFacility({ dataDir: join(dir.path, 'sim'), seed: 3 });
    let facilityUp = true;
    cleanups.push(async () => {
      if (facilityUp) await facility.stop();
    });
    const file = join(dir.path, 'gateway.yaml');
    writeFileSync(
      file,
      `gateway: { id: gw-st, site: site-a }\ndataDir: ${dir.path}/gw\nmetrics: { enabled: false }\ndevices:\n` +
        `  - { id: ahu1, protocol: modbus-tcp, profile: ${PROFILES}ahu-modbus.yaml, pollIntervalMs: 200, connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port}, timeoutMs: 300, retries: 0, backoffMs: 50 } }\n`,
    );
    const gateway = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const fed = await startFederation({ gateway: federationGateway(gateway), dataDir: join(dir.path, 'fed'), config: { mqtt: { url: broker.url, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 } });
    cleanups.push(async () => {
      await fed.stop();
      await gateway.stop(true);
    });
    const states = (): string[] =>
      hub.messages.flatMap((m) => {
        const d = decode(GatewayStateSchema, m.topic, m.payload);
        return d.ok ? [(d.value as GatewayState).devices?.[0]?.state ?? '?'] : [];
      });
    await waitFor(() => fed.publisher.connected, 5000, 'connected');
    await gateway.start();
    await waitFor(() => states().at(-1) === 'up', 10_000, 'a state document with the device up');
    await facility.stop();
    facilityUp = false;
    await waitFor(() => states().at(-1) === 'down', 15_000, 'a state document with the device down');
    // One document per change (the connect birth may see 'starting' or already 'up').
    expect(states().filter((s) => s === 'down')).toHaveLength(1);
  }, 120_000);

  it('a subscribed device (OPC UA) goes down when every point it reports has gone bad, and up again', async () => {
    const { dir } = await startPeers(cleanups, 'swarmgate/v1/site-a/gw-sub/state', 'swg-fed-state-sub-');
    const facility = await startFacility({ dataDir: join(dir.path, 'sim'), seed: 4 });
    cleanups.push(() => facility.stop());
    const file = join(dir.path, 'gateway.yaml');
    writeFileSync(
      file,
      `gateway: { id: gw-sub, site: site-a }\ndataDir: ${dir.path}/gw\nmetrics: { enabled: false }\ndevices:\n` +
        `  - { id: coldroom, protocol: opcua, profile: ${PROFILES}cold-room-opcua.yaml, connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}" } }\n`,
    );
    const gateway = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    cleanups.push(() => gateway.stop(true));
    await gateway.start();
    const state = (): string | undefined => gateway.deviceStates().coldroom?.state;
    await waitFor(() => state() === 'up' && gateway.latest('coldroom', 'temperature')?.quality === 'good', 20_000, 'the cold room up with a good reading');
    facility.faults.inject({ kind: 'offline', device: 'freezer' });
    await waitFor(() => state() === 'down', 20_000, 'the cold room down');
    facility.faults.clear();
    await waitFor(() => state() === 'up', 20_000, 'the cold room up again');
  }, 60_000);
});
