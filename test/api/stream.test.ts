/** Live updates over Server-Sent Events, with authentication, on a listening server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieOf, login, makeApi, seedGateway, seedReview, type TestApi } from './support.js';

/** Reads SSE frames until `want` matches one, or times out. */
async function nextEvent(reader: ReadableStreamDefaultReader<Uint8Array>, want: (event: string, data: string) => boolean, timeoutMs = 5000): Promise<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), deadline - Date.now()))]);
    if (!chunk || chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (event && data && want(event, data)) return { event, data };
    }
  }
  throw new Error('no matching event');
}

describe('SSE stream', () => {
  let t: TestApi;
  let base = '';
  beforeAll(async () => {
    t = await makeApi();
    await seedGateway(t);
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => t.close());

  it('refuses anonymous clients', async () => {
    const res = await fetch(`${base}/api/v1/stream`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SWG_ERR_AUTH_REQUIRED');
  });

  it('pushes review changes, gateway status and command updates to a logged-in page', async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/api/v1/stream`, { headers: { cookie: t.cookies.viewer }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    try {
      await seedReview(t, 'rv-live', 70);
      const submitted = await nextEvent(reader, (e, d) => e === 'review' && d.includes('rv-live'));
      expect(JSON.parse(submitted.data)).toMatchObject({ id: 'rv-live', state: 'pending' });
      await t.app.inject({ method: 'POST', url: '/api/v1/reviews/rv-live/approve', headers: { cookie: t.cookies.technician }, payload: {} });
      const approved = await nextEvent(reader, (e, d) => e === 'review' && d.includes('"approved"'));
      expect(JSON.parse(approved.data)).toMatchObject({ id: 'rv-live', decidedBy: 'technician' });
      await nextEvent(reader, (e, d) => e === 'command' && d.includes('"applied"'));
      const record = await t.store.upsertGateway({ gateway: 'gw-1', site: 'site-a', status: 'offline' });
      await t.events.emit('gateway', { record, previous: 'online' });
      const gw = await nextEvent(reader, (e) => e === 'gateway');
      expect(JSON.parse(gw.data)).toMatchObject({ gateway: 'gw-1', status: 'offline', previous: 'online' });
    } finally {
      abort.abort();
    }
  });

  it('ends a session stream after logout', async () => {
    const cookie = cookieOf(await login(t.app, 'viewer'));
    const res = await fetch(`${base}/api/v1/stream`, { headers: { cookie } });
    const reader = res.body!.getReader();
    await reader.read();
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie } });
    const deadline = Date.now() + 3000;
    let done = false;
    while (!done && Date.now() < deadline) done = (await reader.read()).done;
    expect(done).toBe(true);
  });

  it('ends an API token stream once the token is revoked', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: { cookie: t.cookies.admin }, payload: { name: 'leaked', role: 'viewer' } });
    expect(created.statusCode).toBe(201);
    const { token, record } = created.json<{ token: string; record: { id: string } }>();
    const res = await fetch(`${base}/api/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${record.id}`, headers: { cookie: t.cookies.admin } })).statusCode).toBe(200);
    const deadline = Date.now() + 3000;
    let done = false;
    while (!done && Date.now() < deadline) done = (await reader.read()).done;
    expect(done).toBe(true);
  });

  it('ends open streams when the API closes', async () => {
    const t2 = await makeApi();
    await t2.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t2.app.server.address();
    const res = await fetch(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/api/v1/stream`, { headers: { cookie: t2.cookies.admin } });
    const reader = res.body!.getReader();
    await reader.read();
    const started = Date.now();
    await t2.close();
    expect(Date.now() - started).toBeLessThan(3000);
    let done = false;
    while (!done) done = (await reader.read()).done;
  });
});
