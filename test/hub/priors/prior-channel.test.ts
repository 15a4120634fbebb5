/**
 * The `prior` wire channel end to end: a gateway publishes what one point's detector learned to a
 * real hub (embedded broker, SQLite); the hub stores it as the next version of the point's fleet
 * key (acknowledged once stored) and the API serves it back; a prior failing the wire schema is
 * refused and not stored.
 */
import { afterAll, expect, it } from 'vitest';
import { parseHubConfig } from '../../../hub/config.js';
import { sqlFor } from '../../../hub/db/sql.js';
import { startHub } from '../../../hub/index.js';
import { PriorService } from '../../../hub/priors/service.js';
import { encode, gatewayTopic, PriorMessageSchema, priorKey, type PriorMessage } from '../../../shared/wire/index.js';
import { tempDir } from '../../support/tmp.js';
import { addUsers, connectClient, waitFor } from '../helpers.js';
import { learnedPrior } from './support.js';

const dir = tempDir('swarmgate-prior-channel-');
afterAll(() => dir.remove());

it('stores a prior a gateway publishes on its prior channel, and refuses a malformed one', async () => {
  const prior = await learnedPrior(3);
  const key = priorKey({ profile: 'ahu-modbus.yaml', point: 'supply_air_temp' });

  await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' }]);
  const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', `${dir.path}/hub.yaml`);
  const hub = await startHub(config);
  const gw = await connectClient(hub.broker?.url ?? '', { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1' });
  try {
    const priors = new PriorService(sqlFor(hub.store));
    const topic = gatewayTopic('site-a', 'gw-1', 'prior');
    const message: PriorMessage = { v: 1, key, device: 'ahu1', point: 'supply_air_temp', prior };
    // Broken first: refused (the hub does not acknowledge a refused message as stored, so do not wait on it).
    void gw.publishAsync(topic, JSON.stringify({ ...message, prior: { ...prior, range: [1] } }), { qos: 1 }).catch(() => undefined);
    await gw.publishAsync(topic, encode(PriorMessageSchema, message), { qos: 1 });
    const stored = await waitFor(async () => (await priors.list({ key }))[0], 5000, 'stored prior');
    expect(stored).toMatchObject({ key, version: 1, site: 'site-a', gateway: 'gw-1', device: 'ahu1', point: 'supply_air_temp', readings: 600 });
    expect((await priors.get(key)).prior).toEqual(prior);
    expect(hub.ingest.stats.rejected).toBeGreaterThanOrEqual(1);
  } finally {
    await gw.endAsync(true);
    await hub.stop();
  }
}, 60_000);
