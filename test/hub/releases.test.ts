/**
 * The hub's releases over its API: a manifest not signed by the fleet key is refused, an artifact
 * that is not the signed one is refused (the release stays unusable), downloads need the gateway's
 * deployment token and honour Range, and deployments name known gateways.
 */
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/index.js';
import type { BuiltRelease } from '../../shared/release/artifact.js';
import { UpdateDesiredSchema, decode, gatewayTopic, type UpdateDesired } from '../../shared/wire/index.js';
import { addGatewayUser, credentialsFile } from '../e2e/support/hub.js';
import { tempDir } from '../support/tmp.js';
import { adminToken, buildTestRelease, desiredUpdate, makeKeys, startReleaseHub, type Keys } from '../release/support/releases.js';

const dir = tempDir('swg-hub-releases-');
let hub: Hub;
let keys: Keys;
let token = '';
let good: BuiltRelease;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: { code: string }; [k: string]: unknown } }> {
  const raw = Buffer.isBuffer(body);
  const res = await fetch(`${hub.api?.url ?? ''}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: raw ? new Uint8Array(body as Buffer) : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as { error?: { code: string } } };
}

beforeAll(async () => {
  keys = makeKeys(join(dir.path, 'keys'));
  good = await buildTestRelease(dir.path, keys, '3.0.0');
  hub = await startReleaseHub(dir.path, keys);
  token = await adminToken(hub);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  dir.remove();
});

describe('releases on the hub', () => {
  it('refuses a manifest signed by another key', async () => {
    const forged = await buildTestRelease(join(dir.path, 'forged'), makeKeys(join(dir.path, 'other')), '3.0.1');
    const r = await api('POST', '/api/v1/releases', { manifest: forged.manifest });
    expect([r.status, r.json.error?.code]).toEqual([400, 'SWG_ERR_RELEASE_SIGNATURE']);
    expect((await api('GET', '/api/v1/releases')).json.items).toEqual([]);
  });

  it('keeps an artifact only when it is the signed one', async () => {
    expect((await api('POST', '/api/v1/releases', { manifest: good.manifest })).status).toBe(201);
    const bytes = readFileSync(good.tarball);
    const wrong = Buffer.from(bytes);
    wrong[10] = (wrong[10] ?? 0) ^ 0xff;
    const refused = await api('PUT', '/api/v1/releases/3.0.0/artifact', wrong);
    expect([refused.status, refused.json.error?.code]).toEqual([400, 'SWG_ERR_RELEASE_DIGEST']);
    const short = await api('PUT', '/api/v1/releases/3.0.0/artifact', bytes.subarray(0, bytes.length - 1));
    expect(short.json.error?.code).toBe('SWG_ERR_RELEASE_DIGEST');
    // Not deployable while its artifact is missing.
    const early = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { percent: 100 } });
    expect([early.status, early.json.error?.code]).toEqual([400, 'SWG_ERR_DEPLOYMENT_INVALID']);
    const ok = await api('PUT', '/api/v1/releases/3.0.0/artifact', bytes);
    expect([ok.status, ok.json.state]).toEqual([200, 'ready']);
    const again = await api('POST', '/api/v1/releases', { manifest: good.manifest });
    expect([again.status, again.json.error?.code]).toEqual([409, 'SWG_ERR_RELEASE_EXISTS']);
  });

  it('after a refused artifact, a rebuilt release of the same version replaces the waiting one', async () => {
    const first = await buildTestRelease(join(dir.path, 'first'), keys, '3.0.2');
    const rebuilt = await buildTestRelease(join(dir.path, 'rebuilt'), keys, '3.0.2', { healthy: false });
    expect(rebuilt.manifest.artifact.sha256).not.toBe(first.manifest.artifact.sha256);
    expect((await api('POST', '/api/v1/releases', { manifest: first.manifest })).status).toBe(201);
    // The rebuilt tarball is not the one the first manifest signs: refused, the release waits.
    const refused = await api('PUT', '/api/v1/releases/3.0.2/artifact', readFileSync(rebuilt.tarball));
    expect([refused.status, refused.json.error?.code]).toEqual([400, 'SWG_ERR_RELEASE_DIGEST']);
    expect((refused.json.error as { hint?: string } | undefined)?.hint).toContain('its new manifest replaces this one');
    // Its manifest replaces the waiting one (it used to be 409: the version was unusable).
    const replaced = await api('POST', '/api/v1/releases', { manifest: rebuilt.manifest });
    expect([replaced.status, replaced.json.state, replaced.json.sha256]).toEqual([201, 'uploading', rebuilt.manifest.artifact.sha256]);
    const ok = await api('PUT', '/api/v1/releases/3.0.2/artifact', readFileSync(rebuilt.tarball));
    expect([ok.status, ok.json.state, ok.json.sha256]).toEqual([200, 'ready', rebuilt.manifest.artifact.sha256]);
    // Once an artifact is verified the version is taken.
    const late = await api('POST', '/api/v1/releases', { manifest: first.manifest });
    expect([late.status, late.json.error?.code]).toEqual([409, 'SWG_ERR_RELEASE_EXISTS']);
  }, 120_000);

  it('serves the artifact only with a deployment token, with Range', async () => {
    const url = `/api/v1/releases/3.0.0/artifact`;
    expect((await fetch(`${hub.api?.url ?? ''}${url}`)).status).toBe(401);
    expect((await fetch(`${hub.api?.url ?? ''}${url}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const desired = await desiredUpdate(hub, dir.path, 'site-r', 'gw-r1', '3.0.0');
    const bytes = readFileSync(good.tarball);
    const get = (range?: string): Promise<Response> => fetch(desired.url, { headers: { authorization: `Bearer ${desired.token}`, ...(range ? { range } : {}) } });
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const mid = await get('bytes=10-19');
    expect([mid.status, mid.headers.get('content-range')]).toEqual([206, `bytes 10-19/${bytes.length}`]);
    expect(Buffer.from(await mid.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
    const tail = await get('bytes=-5');
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 5))).toBe(true);
    const from = await get(`bytes=${bytes.length - 3}-`);
    expect(Buffer.from(await from.arrayBuffer()).equals(bytes.subarray(bytes.length - 3))).toBe(true);
    expect((await get(`bytes=${bytes.length}-`)).status).toBe(416);
  }, 120_000);

  it('deploys only to gateways the hub knows; the deployment shows each gateway', async () => {
    const unknown = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { gateways: ['gw-nobody'] } });
    expect([unknown.status, unknown.json.error?.code]).toEqual([404, 'SWG_ERR_GATEWAY_UNKNOWN']);
    const none = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { site: 'no-such-site' } });
    expect(none.json.error?.code).toBe('SWG_ERR_DEPLOYMENT_INVALID');
    const d = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { site: 'site-r' }, maxFailures: 1 });
    expect(d.status).toBe(201);
    expect(d.json).toMatchObject({ version: '3.0.0', canary: 1, maxFailures: 1, state: 'rolling', gateways: [{ gateway: 'gw-r1', wave: 'canary', state: 'sent' }] });
    const listed = await api('GET', '/api/v1/deployments');
    expect((listed.json.items as { id: string }[]).map((x) => x.id)).toContain(d.json.id);
  }, 120_000);

  it('refuses a wrong deployment target naming its field', async () => {
    const cases: [unknown, string, string][] = [
      [{ percent: 0 }, 'body.target.percent', 'must be > 0 and <= 100'],
      [{ percent: 1e308 }, 'body.target.percent', 'must be > 0 and <= 100'],
      [{ gateways: [] }, 'body.target.gateways', 'must name at least one gateway'],
      [{ site: 'site-r', gateways: ['gw-r1'] }, 'body.target', 'give exactly one of site, gateways or percent (got site and gateways)'],
      [{}, 'body.target', 'give exactly one of site, gateways or percent (got none)'],
    ];
    for (const [target, path, message] of cases) {
      const r = await api('POST', '/api/v1/deployments', { version: '3.0.0', target });
      const e = r.json.error as { code: string; message: string; fields?: { path: string; message: string }[] } | undefined;
      expect([r.status, e?.code, e?.fields], JSON.stringify(target)).toEqual([400, 'SWG_ERR_DEPLOYMENT_INVALID', [{ path, message }]]);
      expect(e?.message).not.toContain('expected object');
    }
  });

  it('a hub process whose releases.dir lacks the artifact says so (404), for downloads and for deployments', async () => {
    const desired = await desiredUpdate(hub, dir.path, 'site-r', 'gw-r2', '3.0.0');
    // As a second hub process with its own releases.dir sees a release uploaded to the first.
    const file = join(dir.path, 'hub-releases', '3.0.0.tar.gz');
    renameSync(file, `${file}.elsewhere`);
    try {
      const res = await fetch(desired.url, { headers: { authorization: `Bearer ${desired.token}` } });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code]).toEqual([404, 'SWG_ERR_RELEASE_UNKNOWN']);
      expect(body.error.message).toContain(`${file} does not exist`);
      expect(body.error.message).toContain('releases.dir must be shared storage for all hub processes');
      const d = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { site: 'site-r' } });
      expect([d.status, d.json.error?.code]).toEqual([404, 'SWG_ERR_RELEASE_UNKNOWN']);
      expect((d.json.error as { message?: string } | undefined)?.message).toContain('releases.dir must be shared storage');
    } finally {
      renameSync(`${file}.elsewhere`, file);
    }
  }, 120_000);

  it('cancels a deployment over the API', async () => {
    const d = await api('POST', '/api/v1/deployments', { version: '3.0.0', target: { gateways: ['gw-r1'] } });
    expect(d.status).toBe(201);
    const c = await api('POST', `/api/v1/deployments/${String(d.json.id)}/cancel`);
    expect([c.status, c.json.state]).toEqual([200, 'cancelled']);
    expect(c.json.reason).toMatch(/^cancelled by token:\S+: 1 gateway\(s\) not updated$/);
    expect(c.json.gateways).toMatchObject([{ gateway: 'gw-r1', state: 'cancelled' }]);
    const again = await api('POST', `/api/v1/deployments/${String(d.json.id)}/cancel`);
    expect([again.status, again.json.error?.code]).toEqual([409, 'SWG_ERR_DEPLOYMENT_STATE']);
    expect((await api('POST', '/api/v1/deployments/dep-nothing/cancel')).status).toBe(404);
  });

  it('tells a gateway again after a hub restart: the embedded broker lost the retained update', async () => {
    const first = await desiredUpdate(hub, dir.path, 'site-r', 'gw-r3', '3.0.0');
    await hub.stop();
    hub = await startReleaseHub(dir.path, keys);
    token = await adminToken(hub);
    const auth = await addGatewayUser(credentialsFile(dir.path), 'site-r', 'gw-r3');
    const client = await mqtt.connectAsync(hub.broker?.url ?? '', { ...auth, clientId: 'gw-r3', protocolVersion: 4 });
    try {
      const got = new Promise<UpdateDesired>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no retained desired update after the restart')), 5000);
        client.on('message', (topic, payload) => {
          const d = payload.length > 0 ? decode(UpdateDesiredSchema, topic, payload) : undefined;
          if (d?.ok) {
            clearTimeout(timer);
            resolve(d.value);
          }
        });
      });
      await client.subscribeAsync(gatewayTopic('site-r', 'gw-r3', 'update/desired'), { qos: 1 });
      const again = await got;
      expect(again.deployment).toBe(first.deployment);
      expect(again.token).not.toBe(first.token);
      // The new token downloads from the restarted hub's API.
      expect((await fetch(again.url, { headers: { authorization: `Bearer ${again.token}` } })).status).toBe(200);
    } finally {
      await client.endAsync();
    }
  }, 120_000);
});
