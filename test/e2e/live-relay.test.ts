/**
 * Live updates reach the clients of every hub process on a shared PostgreSQL store: two hubs on
 * one schema, a browser-like SSE client on the second, a gateway connected to the first's broker.
 * Its birth (gateway status) and its review request arrive on the second hub's stream.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { GatewayStateSchema, ReviewRequestSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { connectClient } from '../hub/helpers.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { PG_URL, addGatewayUser } from './support/hub.js';
import { uniqueId, waitFor } from './support/util.js';

const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PW_ENV = 'SWG_TEST_LIVE_ADMIN_PW';
const PW = 'live-admin-password-1';

describe.skipIf(!available)('live stream across hub processes (PostgreSQL LISTEN/NOTIFY)', () => {
  const dirs = [tempDir('swg-e2e-live-a-'), tempDir('swg-e2e-live-b-')];
  const schema = `swg_e2e_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const site = uniqueId('site');
  const gateway = uniqueId('gw');
  const hubs: Hub[] = [];
  let gw: MqttClient | undefined;
  const abort = new AbortController();
  const received: { event: string; data: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    process.env[PW_ENV] = PW;
    for (const dir of dirs) {
      const yaml =
        `broker: { mode: embedded, embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\n` +
        `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }\n` +
        `api: { host: 127.0.0.1, port: 0, initialAdmin: { username: root, passwordEnv: ${PW_ENV} } }\n`;
      hubs.push(await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 }));
    }
    const [, second] = hubs as [Hub, Hub];
    const login = await fetch(`${second.api?.url ?? ''}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: PW }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const res = await fetch(`${second.api?.url ?? ''}/api/v1/stream`, { headers: { cookie }, signal: abort.signal });
    expect(res.status).toBe(200);
    void (async () => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        const blocks = text.split('\n\n');
        text = blocks.pop() ?? '';
        for (const block of blocks) {
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) received.push({ event, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    })().catch(() => undefined);
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await gw?.endAsync(true).catch(() => undefined);
    for (const hub of hubs) await hub.stop();
    const { PostgresStore } = await import('../../hub/store/postgres/postgres.js');
    const store = await PostgresStore.open({ url: PG_URL, schema });
    await store.dropSchema();
    await store.close();
    for (const dir of dirs) dir.remove();
    delete process.env[PW_ENV];
  });

  it("a gateway's status and review request on the first hub reach the second hub's stream", async () => {
    const [first] = hubs as [Hub, Hub];
    const auth = await addGatewayUser(join(dirs[0]?.path ?? '', 'users.yaml'), site, gateway);
    gw = await connectClient(first.broker?.url ?? '', { ...auth, clientId: gateway, protocolVersion: 4 });
    const now = Date.now();
    await gw.publishAsync(gatewayTopic(site, gateway, 'state'), encode(GatewayStateSchema, { v: 1, gateway, site, status: 'online', ts: now, version: '1.0.0' }), { qos: 1, retain: true });
    const status = await waitFor(() => received.find((r) => r.event === 'gateway' && r.data.gateway === gateway), 15_000, 'the gateway status relayed');
    expect(status.data).toMatchObject({ site, status: 'online' });
    await gw.publishAsync(
      gatewayTopic(site, gateway, 'reviews'),
      encode(ReviewRequestSchema, { v: 1, id: `rv-live-${gateway}`, gateway, ts: now, expiresAt: now + 3_600_000, actionClass: 'setpoint', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21 }, confidence: 0.5, rationale: 'relay test', evidence: {} }),
      { qos: 1 },
    );
    const review = await waitFor(() => received.find((r) => r.event === 'review' && r.data.id === `rv-live-${gateway}`), 15_000, 'the review item relayed');
    expect(review.data).toMatchObject({ state: 'pending', gateway });
  }, 120_000);

  it("a burst of status changes on the first hub reaches the second hub's stream as a summary, even when its sample is too large to relay", async () => {
    const [first] = hubs as [Hub, Hub];
    await new Promise((r) => setTimeout(r, 1100)); // a quiet spell: the first change goes on its own
    const long = (i: number): string => `${'g'.repeat(58)}-${String(i).padStart(4, '0')}`;
    for (let i = 0; i < 300; i++) {
      const record = { gateway: long(i), site: `${'s'.repeat(50)}-${i % 60}`, status: 'offline' as const, firstSeen: 1, lastSeen: 1, stateTs: 1 };
      await first.events.emit('gateway', { record, previous: 'online' });
    }
    const burst = await waitFor(() => received.find((r) => r.event === 'gateways'), 15_000, 'the burst summary relayed');
    expect(burst.data).toMatchObject({ changes: 299, byStatus: { offline: 299 } });
  }, 120_000);
});
