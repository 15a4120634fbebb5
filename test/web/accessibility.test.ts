/**
 * Accessibility audit of every view of the review page in chromium with axe-core (WCAG 2.0/2.1
 * A and AA rules): login, queue, item detail (chart, votes, decision forms), work orders, fleet,
 * gateway and point history, on a phone-sized screen. Any violation fails, with the rule and the elements.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../hub/helpers.js';
import { TECH, axeViolations as audit, launchBrowser, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
describe.skipIf(!hasChromium)('review page accessibility (axe-core in chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-a11y-');

  beforeAll(async () => {
    w = await startWebHub();
    await requestReview(w, 'rv-a11y-0001', 21.5, 85);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 1, 10_000, 'a review item');
    await w.hub.workOrders.raise({ site: 'site-a', gateway: 'gw-1', equipment: 'AHU-1', problem: '2100 runtime hours, service interval 2000 h', task: 'service AHU-1', urgency: 'normal', sourceAgent: 'equipment-health', dedupeKey: 'a11y-ahu' });
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('has no WCAG 2.1 A/AA violations on any view', async () => {
    await page.goto(w.url);
    await page.getByLabel('User name').waitFor();
    expect(await audit(page), 'login').toEqual([]);

    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('.cards a.card').first().waitFor();
    expect(await audit(page), 'queue').toEqual([]);

    await page.locator('.cards a.card').first().click();
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 21.5' }).waitFor();
    await page.locator('figure.chart svg[role="img"]').first().waitFor();
    await page.locator('summary', { hasText: 'Modify' }).click();
    expect(await audit(page), 'item detail').toEqual([]);

    await page.getByRole('link', { name: 'Work orders' }).click();
    await page.locator('[data-work-order]').first().waitFor();
    await page.locator('[data-work-order] summary').first().click();
    expect(await audit(page), 'work orders').toEqual([]);

    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.locator('[data-gateway="gw-1"]').waitFor();
    expect(await audit(page), 'fleet').toEqual([]);

    await page.locator('[data-gateway="gw-1"]').click();
    await page.getByRole('heading', { name: 'gw-1' }).waitFor();
    expect(await audit(page), 'gateway').toEqual([]);

    await page.getByRole('link', { name: 'ahu1.setpoint' }).click();
    await page.locator('figure.chart svg[role="img"]').waitFor();
    expect(await audit(page), 'point history').toEqual([]);
  });
});
