/**
 * Deciding on a phone with a flaky network and colleagues at work: a lost answer to Approve leaves
 * a button that asks afresh and a retry that says the decision was recorded; an item decided by a
 * colleague while the technician types says so and puts focus on its heading; a decimal comma
 * from a phone keyboard is a decimal point.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { launchBrowser, logIn, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());

describe.skipIf(!hasChromium)('decisions on the review page (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  const profile = tempDir('swarmgate-chromium-decide-');

  beforeAll(async () => {
    w = await startWebHub();
    await requestReview(w, 'rv-net-0001', 23, 70);
    await requestReview(w, 'rv-live-0001', 21, 60);
    await requestReview(w, 'rv-comma-0001', 20, 50);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 3, 10_000, 'three items');
    browser = await launchBrowser(profile.path);
    const first = browser.pages()[0] ?? (await browser.newPage());
    first.setDefaultTimeout(10_000);
    await logIn(first, w.url);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  /** A new tab of the logged-in session, on an item. */
  const openItem = async (id: string, heading: string, before?: (page: Page) => Promise<void>): Promise<Page> => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await before?.(page);
    await page.goto(`${w.url}/#/review/${id}`);
    await page.getByRole('heading', { name: heading }).waitFor();
    return page;
  };

  it('after a lost answer to Approve: the button asks afresh, and a retry says the decision was recorded', async () => {
    // The phone's network is flaky: no live stream to show the item change by itself.
    const page = await openItem('rv-net-0001', 'Set ahu1.setpoint to 23', async (p) => {
      await p.route('**/api/v1/stream', (route) => route.abort());
    });
    let lost = false;
    await page.route('**/api/v1/reviews/rv-net-0001/approve', async (route) => {
      if (lost) return route.continue();
      lost = true;
      await route.fetch(); // the hub records it
      await route.abort('connectionreset'); // the phone never sees the answer
    });
    const approve = page.locator('#approve');
    await approve.tap();
    await expect.poll(() => approve.textContent()).toMatch(/^Confirm: /);
    await approve.tap();
    await page.locator('p.error[role="alert"]:not([hidden])').waitFor();
    expect(await page.locator('p.error[role="alert"]:not([hidden])').textContent()).toContain('may not have been recorded');
    expect((await w.hub.review.get('rv-net-0001'))?.state).not.toBe('pending');
    // Two taps again, not one on a button still reading "Confirm: ...".
    expect(await approve.textContent()).toBe('Approve');
    expect(await approve.isEnabled()).toBe(true);

    await approve.tap();
    await expect.poll(() => approve.textContent()).toMatch(/^Confirm: /);
    await approve.tap();
    const notice = page.locator('#stale-notice');
    await notice.waitFor();
    expect(await notice.textContent()).toMatch(/^Your decision was recorded: (approved|executed), decided by you /);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('item-title');
    expect((await w.hub.review.audit('rv-net-0001')).filter((e) => e.action === 'approve').map((e) => e.actor)).toEqual(['tech']);
    await page.close();
  });

  it('an item decided by a colleague while the technician types says so and focuses its heading', async () => {
    const page = await openItem('rv-live-0001', 'Set ahu1.setpoint to 21');
    await page.getByLabel('Reason for rejecting').tap();
    await page.keyboard.type('Valve stuck, do not');
    await w.hub.review.approve('rv-live-0001', { user: 'tech2' });
    // Approved, then executed once the gateway acknowledges: the notice stays through both reloads.
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 15_000 });
    const notice = page.locator('#stale-notice');
    expect(await notice.textContent()).toBe('Not recorded: it changed on the hub while you were on it. This is the item as it is now.');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('item-title');
    expect(await page.getByLabel('Reason for rejecting').count()).toBe(0);
    await page.close();
  });

  it('takes a decimal comma in Modify', async () => {
    const page = await openItem('rv-comma-0001', 'Set ahu1.setpoint to 20');
    await page.locator('summary', { hasText: 'Modify' }).tap();
    await page.getByLabel('New value for ahu1.setpoint').fill('21,5');
    await page.getByRole('button', { name: 'Approve with this value' }).tap();
    await page.locator('article:not([data-state="pending"])').waitFor();
    const item = await w.hub.review.get('rv-comma-0001');
    expect(item?.modifiedAction).toEqual({ kind: 'write', device: 'ahu1', point: 'setpoint', value: 21.5 });
    await page.close();
  });
});
