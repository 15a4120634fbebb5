/**
 * The incidents view of the page in chromium on a phone-sized screen, against a real hub: anomaly
 * events reach the hub's emergence monitor through its event bus; the list shows one fleet
 * incident for three gateways alarming on the same point and an equipment incident for a lone
 * one, grows live over the stream, the detail lists the member alarms, and neither view has WCAG
 * A/AA violations.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { SITE, TECH, axeViolations, launchBrowser, overflowing, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());

describe.skipIf(!hasChromium)('incidents page (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-incidents-');
  const t0 = Date.now() - 10 * 60_000;
  const alarm = (gateway: string, point: string, ts: number): Promise<void> => {
    const event: GatewayEvent = { v: 1, id: randomUUID(), gateway, ts, kind: 'anomaly', severity: 'warning', device: 'ahu1', point, message: `anomaly on ahu1.${point}` };
    return w.hub.events.emit('event', { site: SITE, gateway, event });
  };

  beforeAll(async () => {
    w = await startWebHub();
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
    await alarm('gw-1', 'outdoor_air_temp', t0);
    await alarm('gw-2', 'outdoor_air_temp', t0 + 60_000);
    await alarm('gw-3', 'outdoor_air_temp', t0 + 120_000);
    await alarm('gw-4', 'filter_dp', t0 + 60_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('lists one fleet incident and one equipment incident, grows live, and shows the members', async () => {
    await page.goto(w.url);
    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();
    const cards = page.getByRole('list', { name: 'Incidents, most recently active first' }).locator('a.card');
    await cards.nth(1).waitFor();
    expect(await cards.count()).toBe(2);
    const fleet = cards.filter({ hasText: '3 gateways' });
    expect(await fleet.locator('.badge').textContent()).toBe('fleet');
    expect(await fleet.textContent()).toContain(`site ${SITE}`);
    expect(await cards.filter({ hasText: 'gw-4/ahu1 deviates' }).locator('.badge').textContent()).toBe('equipment');
    expect(await axeViolations(page), 'incidents list').toEqual([]);
    // The narrowest phones in use (320 px): nothing sticks out sideways.
    const size = page.viewportSize();
    await page.setViewportSize({ width: 320, height: 640 });
    expect(await overflowing(page), 'incidents list at 320 px').toEqual([]);
    if (size) await page.setViewportSize(size);

    // A fourth gateway joins while the page is open: the list follows the stream.
    await alarm('gw-5', 'outdoor_air_temp', t0 + 180_000);
    await cards.filter({ hasText: '4 gateways' }).waitFor();

    await page.getByRole('combobox', { name: 'Kind' }).selectOption('equipment');
    // The filtered list replaces the whole list (which held gw-4's card too): wait for it.
    await expect.poll(() => cards.count()).toBe(1);
    await cards.filter({ hasText: 'gw-4' }).waitFor();
    await page.getByRole('combobox', { name: 'Kind' }).selectOption('fleet');
    await cards.filter({ hasText: '4 gateways' }).click();
    await page.getByRole('heading', { name: 'Fleet incident' }).waitFor();
    const rows = page.locator('table.members tbody tr');
    expect(await rows.count()).toBe(4);
    expect(await rows.first().textContent()).toContain('ahu1/outdoor_air_temp');
    expect(await page.locator('caption').textContent()).toBe('4 alarms in this incident');
    expect(await axeViolations(page), 'incident detail').toEqual([]);
    await page.setViewportSize({ width: 320, height: 640 });
    expect(await overflowing(page), 'incident detail at 320 px').toEqual([]);
  });
});
