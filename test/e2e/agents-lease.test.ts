/**
 * The agents of a site run in one hub process however many share the PostgreSQL store: two hub
 * processes with agents enabled on one schema, the first holds the site's lease and evaluates, the
 * second does not; the first is killed with SIGKILL (no release) and the second takes the site
 * over within the lease's time to live, and evaluates it.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { ROOT } from './support/edge.js';
import { PG_URL } from './support/hub.js';
import { spawnHub, stopHub, type HubChild } from './support/processes.js';
import { waitFor } from './support/util.js';

const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const SITE = 'demo-site';
const TTL_S = 3;

describe.skipIf(!available)('agents once per site across hub processes (PostgreSQL lease)', () => {
  const dir = tempDir('swg-e2e-lease-');
  const schema = `swg_e2e_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  let first: HubChild | undefined;
  let second: Hub | undefined;
  const yaml =
    `broker: { mode: embedded, embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\n` +
    `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }\n` +
    `agents: { enabled: true, facilityModel: ${join(ROOT, 'deploy', 'examples', 'demo-facility.yaml')}, evaluationIntervalS: 1 }\n` +
    `cluster: { leaseTtlS: ${TTL_S} }\n`;

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'hub.yaml'), yaml);
    first = await spawnHub(join(dir.path, 'hub.yaml'));
    second = await startHub(parseHubConfig(yaml, join(dir.path, 'hub-2.yaml')), { retentionIntervalMs: 0 });
  }, 90_000);

  afterAll(async () => {
    await stopHub(first, 'SIGKILL');
    await second?.stop();
    const store = await PostgresStore.open({ url: PG_URL, schema });
    await store.dropSchema();
    await store.close();
    dir.remove();
  });

  it('the holder evaluates, the other does not; after a SIGKILL the other takes over within the TTL', async () => {
    const hub = second as Hub;
    await waitFor(() => (first?.output() ?? '').includes('"msg":"agents evaluated the site"'), 15_000, 'the first hub evaluating its site');
    const lease = (await hub.leases.list()).find((l) => l.name === `agents:${SITE}`);
    expect(lease?.holder).toContain(`-${first?.process.pid ?? 0}-`);
    expect(hub.leases.holds(`agents:${SITE}`)).toBe(false);
    expect(await hub.agents?.evaluateSite(SITE)).toBeUndefined();

    await stopHub(first, 'SIGKILL');
    // The dead holder's lease lapses after the TTL; the survivor asks every third of it.
    await waitFor(() => hub.leases.holds(`agents:${SITE}`), (TTL_S + 5) * 1000, 'the surviving hub taking the site over', 50);
    const report = await hub.agents?.evaluateSite(SITE);
    expect(report).toBeDefined();
    expect((await hub.leases.list()).find((l) => l.name === `agents:${SITE}`)?.holder).toBe(hub.leases.holder);
  }, 60_000);
});
