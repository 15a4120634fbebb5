/**
 * The README's headline demo as a newcomer runs it: `npm start`, then the compressor-failure fault.
 * The demo runs in this process (startDemo, ephemeral ports, a data folder of its own), the fault
 * goes in through the simulator's real control API, and the hub is asked through the web API the
 * review page uses. Wall-time bounds are generous: the box is a loaded 2-core machine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startDemo, type Demo } from '../../cli/demo.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swarmgate-demo-');
let demo: Demo | undefined;
afterAll(async () => {
  await demo?.stop();
  dir.remove();
});

interface StoredEvent {
  readonly id: string;
  readonly kind: string;
  readonly severity: string;
  readonly message: string;
  readonly device?: string;
  readonly point?: string;
  readonly ts: number;
}

async function login(apiUrl: string, user: string, password: string): Promise<string> {
  const res = await fetch(`${apiUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
  expect(res.status).toBe(200);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  expect(cookie).not.toBe('');
  return cookie;
}

async function getJson<T>(url: string, cookie: string): Promise<T> {
  const res = await fetch(url, { headers: { cookie } });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function until<T>(what: string, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const found = await probe().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('swarmgate demo', { timeout: 180_000 }, () => {
  it('a compressor failure travels simulator -> gateway -> rules -> hub within a minute or so, and the terminal shows the alarm, not every reading', async () => {
    const lines: string[] = [];
    demo = await startDemo({ dataDir: dir.path, ports: 'ephemeral', meter: false, summaryIntervalMs: 5_000, out: (line) => lines.push(line) });
    expect(demo.speed).toBe(60);
    const web = demo.web;
    if (!web) throw new Error('the demo hub has no web API');
    const cookie = await login(web.url, web.user, web.password);
    const points = `${web.url}/api/v1/gateways/${demo.gateway}/points`;

    // The gateway is reading the cold room and the hub has it.
    await until('the cold-room temperature at the hub', Date.now() + 60_000, async () => {
      const { points: latest } = await getJson<{ points: Array<{ device: string; point: string; value: unknown }> }>(points, cookie);
      return latest.find((p) => p.device === 'coldroom' && p.point === 'temperature');
    });

    const injectedAt = Date.now();
    const res = await fetch(`${demo.controlUrl}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'compressor-failure' }) });
    expect(res.status).toBe(201);

    const alarm = await until('a critical cold-room event at the hub', injectedAt + 90_000, async () => {
      const { events } = await getJson<{ events: StoredEvent[] }>(`${web.url}/api/v1/events?gateway=${demo?.gateway}&severity=critical`, cookie);
      return events.find((e) => e.ts >= injectedAt - 1_000 && /compressor/i.test(e.message));
    });
    const reactedS = (Date.now() - injectedAt) / 1000;
    expect(reactedS).toBeLessThan(90);

    // The local action reached the hub as well: the backup compressor relay is on.
    await until('the backup compressor relay on at the hub', injectedAt + 90_000, async () => {
      const { points: latest } = await getJson<{ points: Array<{ device: string; point: string; value: unknown }> }>(points, cookie);
      return latest.find((p) => p.device === 'io' && p.point === 'backup_compressor_relay' && p.value === true);
    });

    // Terminal: a header with the login, the alarm line, a periodic summary; no reading lines.
    await until('the alarm line in the terminal', Date.now() + 10_000, async () => (lines.some((l) => /ALARM/.test(l) && /compressor/i.test(l)) ? true : undefined));
    await until('a summary line', Date.now() + 15_000, async () => (lines.some((l) => /readings\/s/.test(l)) ? true : undefined));
    const text = lines.join('\n');
    expect(text).toContain(`log in as "${web.user}"`);
    expect(text).not.toMatch(/SWARMGATE_ADMIN_PASSWORD/);
    // formatReading's shape: "HH:MM:SS  device/point   value unit" — one per reading with --verbose only.
    expect(lines.filter((l) => /^\d\d:\d\d:\d\d {2}(ahu1|coldroom|io|meter1)\/\w+ {2,}\S/.test(l))).toEqual([]);
    console.log(`compressor-failure -> critical hub event after ${reactedS.toFixed(1)} s wall: ${alarm.message}`);
  });
});
