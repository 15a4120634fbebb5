/**
 * A real hub for browser tests: embedded broker, SQLite, web API on an ephemeral port, a
 * technician account, and a gateway played by a plain MQTT client with the gateway's broker
 * credentials that acknowledges every command it receives as applied.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { buildWeb } from '../../hub/web/build.js';
import { CommandAckSchema, GatewayStateSchema, ReviewRequestSchema, TelemetryBatchSchema, encode, gatewayTopic, type Command } from '../../shared/wire/index.js';
import { addUsers, connectClient } from '../hub/helpers.js';
import { tempDir } from '../support/tmp.js';

export const SITE = 'site-a';
export const GATEWAY = 'gw-1';
export const TECH = { username: 'tech', password: 'tech-password-1' };

export interface WebHub {
  readonly hub: Hub;
  readonly url: string;
  readonly gateway: MqttClient;
  /** Commands the gateway received. */
  readonly received: Command[];
  readonly dir: string;
  close(): Promise<void>;
}

export async function startWebHub(): Promise<WebHub> {
  await buildWeb();
  const dir = tempDir('swarmgate-web-');
  await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: GATEWAY, site: SITE, gateway: GATEWAY }, password: 'gw-password-1' }]);
  const config = parseHubConfig(
    'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\ncommands: { timeoutMs: 5000 }\nreview: { sweepIntervalMs: 500 }\napi: { host: 127.0.0.1, port: 0 }\n',
    `${dir.path}/hub.yaml`,
  );
  const hub = await startHub(config, { retentionIntervalMs: 0 });
  const accounts = new Accounts(sqlFor(hub.store), { sessionTtlMs: 3_600_000, scryptCost: { N: 1024, r: 8, p: 1 } });
  await accounts.createUser(TECH.username, 'technician', TECH.password);
  const gw = await connectClient(hub.broker!.url, { username: GATEWAY, password: 'gw-password-1', clientId: GATEWAY });
  const received: Command[] = [];
  await gw.subscribeAsync(gatewayTopic(SITE, GATEWAY, 'commands'), { qos: 1 });
  gw.on('message', (topic, payload) => {
    if (!topic.endsWith('/commands')) return;
    const command = JSON.parse(payload.toString()) as Command;
    received.push(command);
    void gw.publishAsync(gatewayTopic(SITE, GATEWAY, 'commands/ack'), encode(CommandAckSchema, { v: 1, id: command.id, ts: Date.now(), status: 'applied' }), { qos: 1 });
  });
  const now = Date.now();
  await gw.publishAsync(gatewayTopic(SITE, GATEWAY, 'state'), encode(GatewayStateSchema, { v: 1, gateway: GATEWAY, site: SITE, status: 'online', ts: now, version: '1.0.0', health: { outboxDepth: 0, outboxBytes: 0, rssBytes: 60_000_000, uptimeS: 3600 } }), { qos: 1, retain: true });
  const readings = Array.from({ length: 40 }, (_, i) => ({ d: 'ahu1', p: 'setpoint', v: 19 + Math.sin(i / 5), q: 'good' as const, ts: now - (40 - i) * 60_000 }));
  await gw.publishAsync(gatewayTopic(SITE, GATEWAY, 'telemetry'), encode(TelemetryBatchSchema, { v: 1, gateway: GATEWAY, bootId: 'boot-0001', seq: 1, sentAt: now, historical: false, readings }), { qos: 1 });
  return {
    hub,
    url: hub.api!.url,
    gateway: gw,
    received,
    dir: dir.path,
    close: async () => {
      await gw.endAsync(true).catch(() => undefined);
      await hub.stop();
      dir.remove();
    },
  };
}

/** The gateway asks for a review (below its own confidence threshold). */
export async function requestReview(w: WebHub, id: string, value: number, priority: number, point = 'setpoint'): Promise<void> {
  const now = Date.now();
  await w.gateway.publishAsync(
    gatewayTopic(SITE, GATEWAY, 'reviews'),
    encode(ReviewRequestSchema, {
      v: 1,
      id,
      gateway: GATEWAY,
      ts: now,
      expiresAt: now + 3_600_000,
      actionClass: 'setpoint',
      action: { kind: 'write', device: 'ahu1', point, value },
      confidence: 0.55,
      rationale: 'Zone temperature has been 2 K above the comfort band for 40 minutes.',
      evidence: { priority, votes: [{ voter: 'comfort', choice: 'approve', confidence: 0.7, reason: 'too warm' }], dissent: [{ voter: 'energy', choice: 'reject', confidence: 0.4, reason: 'peak tariff' }] },
    }),
    { qos: 1 },
  );
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Headless Debian chromium with a fresh profile directory. */
export async function launchBrowser(profileDir: string, viewport = { width: 390, height: 844 }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
}

/** Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not govern. */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** axe's WCAG 2.0/2.1 A and AA violations on the current page, as "rule (impact): help — elements". */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Violation[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations;
  });
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/**
 * Elements whose right edge lies beyond the device's width, as "tag.class (right px)". Not
 * window.innerWidth: mobile Chrome widens the layout viewport to fit content that spills over
 * (and zooms the page out), so innerWidth grows with the very overflow this looks for.
 */
export async function overflowing(page: Page): Promise<string[]> {
  const device = page.viewportSize()?.width;
  if (device === undefined) throw new Error('overflowing() needs a page with a fixed viewport (launchBrowser gives one)');
  return page.evaluate((width) => {
    const out: string[] = [];
    if (document.documentElement.scrollWidth > width) out.push(`document scrollWidth ${document.documentElement.scrollWidth} > ${width}`);
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > width + 0.5) out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''} "${(el.textContent ?? '').slice(0, 40)}" right ${Math.round(r.right)}`);
    }
    return out;
  }, device);
}

/** Logs in on the page's login form and waits for the queue (or, with `landing`, that heading). */
export async function logIn(page: Page, url: string, user: { username: string; password: string } = TECH, landing = 'Review queue'): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User name').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: landing }).waitFor();
}
