/**
 * An item full of long tokens on a 390x844 phone: a long device and point name (in the heading,
 * the safety "Confirm: ..." label, the Modify label and a chart without data), a URL in the
 * rationale, an agent's long name and reason in the votes. Nothing spills past the screen's
 * width, and markup in the gateway's text is shown as text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { ReviewRequestSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { GATEWAY, SITE, launchBrowser, logIn, overflowing, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const LONG = 'supply_air_temperature_setpoint_offset_adjustment';
const MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

describe.skipIf(!hasChromium)('long text on a 390x844 phone', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-long-');

  beforeAll(async () => {
    w = await startWebHub();
    const now = Date.now();
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'reviews'),
      encode(ReviewRequestSchema, {
        v: 1,
        id: 'rv-long-0001',
        gateway: GATEWAY,
        ts: now,
        expiresAt: now + 3_600_000,
        actionClass: 'setpoint',
        action: { kind: 'write', device: 'ahu_north_wing_3', point: LONG, value: 1.5 },
        confidence: 0.5,
        rationale: `Offset drifted. ${MARKUP} See https://wiki.example.invalid/plant/ahu_north_wing_3/${LONG}_procedure`,
        evidence: {
          priority: 70,
          votes: [{ voter: `comfort_and_energy_balancing_strategy_${MARKUP}`, choice: 'approve', confidence: 0.7, reason: `zone_3_${LONG}_is_above_band ${MARKUP}` }],
        },
      }),
      { qos: 1 },
    );
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 1, 10_000, 'the item');
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('fits the item, its Confirm label and Modify at 390 px, and shows markup as text', async () => {
    await logIn(page, w.url);
    await page.goto(`${w.url}/#/review/rv-long-0001`);
    await page.locator('#approve').waitFor();
    // The action's target has no telemetry: its chart says so, under its long name.
    expect(await page.locator('figure.chart figcaption').textContent()).toBe(`ahu_north_wing_3.${LONG}: no numeric data`);
    expect(await overflowing(page), 'item detail').toEqual([]);

    await page.locator('#approve').tap();
    await expect.poll(() => page.locator('#approve').textContent()).toMatch(new RegExp(`^Confirm: Set ahu_north_wing_3\\.${LONG} to 1\\.50? on ${GATEWAY}$`));
    expect(await overflowing(page), 'Confirm label').toEqual([]);

    await page.locator('summary', { hasText: 'Modify' }).tap();
    await page.getByLabel(`New value for ahu_north_wing_3.${LONG}`).waitFor();
    expect(await overflowing(page), 'Modify open').toEqual([]);

    expect(await page.locator('.rationale').textContent()).toContain(MARKUP);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });
});
