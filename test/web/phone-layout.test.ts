/**
 * Every view of the review page on a 390x844 phone (an item with a long point name too): nothing wider than the screen (no sideways
 * scrolling, no clipped column), values with their units (from the gateway's birth), long point
 * names wrapped only between words, no navigation before login, urgency in words. Leaves
 * test-artifacts/phone-*.png.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { GatewayStateSchema, TelemetryBatchSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { GATEWAY, SITE, TECH, launchBrowser, overflowing, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const LONG = 'supply_air_temperature_setpoint_offset_adjustment';

/**
 * Line breaks inside a text node of the matched elements that fall between two letters or digits
 * (breaks between elements, blocks or at a <wbr> split the text into separate nodes and are fine).
 */
async function midWordBreaks(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((els) => {
    const out: string[] = [];
    for (const el of els) {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        let prevChar = '';
        let prevTop: number | undefined;
        let text = '';
        const s = node.textContent ?? '';
        for (let i = 0; i < s.length; i += 1) {
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          const rect = range.getBoundingClientRect();
          if (rect.height === 0) continue;
          const ch = s[i]!;
          if (prevTop !== undefined && rect.top > prevTop + 2 && /[A-Za-z0-9]/.test(prevChar) && /[A-Za-z0-9]/.test(ch)) out.push(`"${text}|${s.slice(i, i + 12)}"`);
          prevTop = rect.top;
          prevChar = ch;
          text = (text + ch).slice(-24);
        }
      }
    }
    return out;
  });
}

describe.skipIf(!hasChromium)('review page on a 390x844 phone', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-phone-');

  beforeAll(async () => {
    w = await startWebHub();
    const now = Date.now();
    // The gateway's birth names its devices' point units (from its profiles).
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'state'),
      encode(GatewayStateSchema, {
        v: 1,
        gateway: GATEWAY,
        site: SITE,
        status: 'online',
        ts: now,
        version: '1.0.0',
        devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up', units: { setpoint: '°C', [LONG]: 'K', fan_speed: '%' } }],
        health: {
          outboxDepth: 0,
          outboxBytes: 0,
          rssBytes: 60_000_000,
          uptimeS: 3600,
          status: 'critical',
          checks: [
            { name: 'memory', status: 'ok', detail: 'rss 57 MB of a 250 MB budget' },
            { name: 'devices', status: 'critical', detail: `down for long: ${LONG} (42 min)` },
          ],
        },
      }),
      { qos: 1, retain: true },
    );
    const readings = [
      { d: 'ahu1', p: LONG, v: -15.280113246854881, q: 'good' as const, ts: now - 5000 },
      { d: 'ahu1', p: 'fan_speed', v: 63.25, q: 'uncertain' as const, ts: now - 5000 },
      { d: 'ahu1', p: 'filter_alarm', v: false, q: 'good' as const, ts: now - 5000 },
    ];
    await w.gateway.publishAsync(gatewayTopic(SITE, GATEWAY, 'telemetry'), encode(TelemetryBatchSchema, { v: 1, gateway: GATEWAY, bootId: 'boot-0001', seq: 2, sentAt: now, historical: false, readings }), { qos: 1 });
    await requestReview(w, 'rv-phone-0001', 21.5, 85);
    await requestReview(w, 'rv-phone-0002', 1.5, 60, LONG);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 2 && (await w.hub.store.latest(GATEWAY)).length === 4, 10_000, 'a review item and four points');
    await waitFor(async () => JSON.stringify((await w.hub.store.getGateway(GATEWAY))?.devices ?? []).includes('units'), 10_000, 'the birth with units');
    await w.hub.workOrders.raise({
      site: SITE,
      gateway: GATEWAY,
      equipment: 'compressor-1',
      problem: `main compressor not running while cold_room_${LONG} warms (-15.3 °C)`,
      task: `check the main compressor, its contactor and thermostat (${LONG})`,
      urgency: 'high',
      sourceAgent: 'equipment-health',
      dedupeKey: 'phone-compressor',
    });
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('fits every view at 390 px, shows units, wraps names between words, no nav before login', async () => {
    expect(page.viewportSize()).toEqual({ width: 390, height: 844 });
    await page.goto(w.url);
    await page.getByLabel('User name').waitFor();
    expect(await page.locator('nav a').evaluateAll((els) => els.filter((e) => (e as HTMLElement).offsetParent !== null).map((e) => e.textContent)), 'nav links on the login screen').toEqual([]);
    expect(await overflowing(page), 'login').toEqual([]);

    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('.cards a.card').first().waitFor();
    expect(await page.getByRole('link', { name: 'Work orders' }).isVisible()).toBe(true);
    expect(await overflowing(page), 'queue').toEqual([]);
    expect(await midWordBreaks(page, '.cards a.card'), 'queue cards').toEqual([]);

    await page.locator('.cards a.card').first().click();
    await page.locator('figure.chart svg[role="img"]').first().waitFor();
    await page.locator('summary', { hasText: 'Modify' }).click();
    expect(await overflowing(page), 'item detail').toEqual([]);

    // The item about the long point: its heading, the safety label after one tap, Modify open.
    await page.goto(`${w.url}/#/review/rv-phone-0002`);
    await page.locator('#approve').waitFor();
    await page.locator('#approve').tap();
    await expect.poll(() => page.locator('#approve').textContent()).toContain(`Confirm: Set ahu1.${LONG}`);
    await page.locator('summary', { hasText: 'Modify' }).click();
    expect(await overflowing(page), 'long-named item, Confirm label, Modify').toEqual([]);
    expect(await midWordBreaks(page, 'main h1, #approve, label[for="modify-value"]'), 'long-named item').toEqual([]);

    await page.getByRole('link', { name: 'Work orders' }).click();
    await page.locator('[data-work-order]').first().waitFor();
    await page.locator('[data-work-order] summary').first().click();
    expect(await overflowing(page), 'work orders').toEqual([]);
    expect(await midWordBreaks(page, '[data-work-order]'), 'work order card').toEqual([]);
    expect(await page.locator('[data-work-order] .urgency').textContent()).toBe('high');
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/phone-work-orders.png', fullPage: true });

    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.locator('[data-gateway="gw-1"]').waitFor();
    expect(await overflowing(page), 'fleet').toEqual([]);
    // The health agent's findings: what is wrong is on the card, what is fine is not.
    expect(await page.locator('[data-gateway="gw-1"] [data-check="devices"]').textContent()).toBe(`Critical: devices — down for long: ${LONG} (42 min)`);
    expect(await page.locator('[data-gateway="gw-1"] [data-check="memory"]').count()).toBe(0);

    await page.locator('[data-gateway="gw-1"]').click();
    await page.getByRole('heading', { name: 'gw-1' }).waitFor();
    await page.locator('table.points tbody tr').nth(3).waitFor();
    expect(await overflowing(page), 'gateway').toEqual([]);
    const rows = await page.locator('table.points tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({ text: (tr as HTMLElement).innerText.replace(/\s+/g, ' ').trim(), height: Math.round(tr.getBoundingClientRect().height) })),
    );
    const row = (name: string) => rows.find((r) => r.text.includes(name))?.text ?? `no row for ${name}`;
    expect(row('setpoint ')).toMatch(/ahu1\.setpoint.*\d °C/);
    expect(row('fan_speed')).toMatch(/63\.3 %.*uncertain/);
    expect(row('offset')).toMatch(/-15\.3 K/);
    expect(row('filter_alarm')).toMatch(/false/);
    // A value with its unit at a glance: one short row per point, not an 87 px block.
    for (const r of rows.filter((x) => !x.text.includes('offset'))) expect(r.height, r.text).toBeLessThanOrEqual(64);
    expect(await midWordBreaks(page, 'table.points th[scope="row"]'), 'point names').toEqual([]);
    await page.screenshot({ path: 'test-artifacts/phone-gateway.png', fullPage: true });

    await page.getByRole('link', { name: /ahu1\.setpoint/ }).click();
    await page.locator('figure.chart svg[role="img"]').waitFor();
    expect(await overflowing(page), 'point history').toEqual([]);
    expect(await page.locator('figure.chart figcaption .last').textContent()).toMatch(/°C$/);

    await page.goto(`${w.url}/#/point/${GATEWAY}/ahu1/${LONG}`);
    await page.locator('figure.chart svg[role="img"]').waitFor();
    expect(await overflowing(page), 'point history, long name').toEqual([]);
    expect(await midWordBreaks(page, 'h1'), 'point heading').toEqual([]);
  });
});
