/**
 * An on/off point with many samples in an item's evidence window (more than the hub reads raw, so
 * they come as bucket averages) is still charted as on and off: the hub marks the window from the
 * raw values' type, and the chart follows that mark rather than the averages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { ReviewRequestSchema, TelemetryBatchSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { GATEWAY, SITE, launchBrowser, logIn, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const N = 2400;

describe.skipIf(!hasChromium)('an on/off point in bucketed evidence (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-binary-');

  beforeAll(async () => {
    w = await startWebHub();
    const now = Date.now();
    // The fan reports every 1.5 s over the hour before the request, switching every 10 minutes.
    const readings = Array.from({ length: N }, (_, i) => ({ d: 'ahu1', p: 'fan_running', v: Math.floor(i / 400) % 2 === 0, q: 'good' as const, ts: now - 3_600_000 + i * 1500 }));
    for (let i = 0; i < N; i += 500) {
      await w.gateway.publishAsync(gatewayTopic(SITE, GATEWAY, 'telemetry'), encode(TelemetryBatchSchema, { v: 1, gateway: GATEWAY, bootId: 'boot-0001', seq: 10 + i / 500, sentAt: now, historical: true, readings: readings.slice(i, i + 500) }), { qos: 1 });
    }
    await waitFor(async () => (await w.hub.store.history(GATEWAY, 'ahu1', 'fan_running', now - 3_600_001, now)).length === N, 15_000, 'the fan samples stored');
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'reviews'),
      encode(ReviewRequestSchema, {
        v: 1, id: 'rv-fan-0001', gateway: GATEWAY, ts: now, expiresAt: now + 3_600_000, actionClass: 'setpoint',
        action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 18.5 }, confidence: 0.5, rationale: 'The fan cycles: lower the setpoint.',
        evidence: { bindings: { fan: 'ahu1/fan_running' } },
      }),
      { qos: 1 },
    );
    await waitFor(() => w.hub.review.get('rv-fan-0001'), 10_000, 'the item');
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('marks the window on/off and charts it as on and off', async () => {
    const item = await w.hub.review.get('rv-fan-0001');
    const windows = item?.evidence.telemetry as { point: string; binary?: boolean; samples: { value: unknown }[] }[];
    const fan = windows.find((x) => x.point === 'fan_running');
    // Averages, not the raw booleans: the mark is what tells the page.
    expect(fan?.samples.some((s) => typeof s.value === 'number')).toBe(true);
    expect(fan?.binary).toBe(true);
    expect(windows.find((x) => x.point === 'setpoint')?.binary).toBeUndefined();

    await logIn(page, w.url);
    await page.goto(`${w.url}/#/review/rv-fan-0001`);
    const chart = page.locator('figure.chart', { hasText: 'ahu1.fan_running' });
    await chart.waitFor();
    expect(await chart.locator('figcaption .last').textContent()).toMatch(/^last (on|off)$/);
    expect(await chart.locator('svg').getAttribute('aria-label')).toMatch(/ \d+ switches, last (on|off)$/);
    expect(await chart.locator('svg text').allTextContents()).toEqual(expect.arrayContaining(['on', 'off']));
  });
});
