/**
 * A live reload whose answer comes late (the queue's list on a weak signal) must not replace the
 * view the technician opened meanwhile: the answer of a route that is no longer current is dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { launchBrowser, logIn, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());

/**
 * Records the URL of every API answer once the page's own code has read it: a task queued when
 * its JSON is parsed runs after everything that awaited it (the view it made is on screen).
 */
async function recordHandledAnswers(page: Page): Promise<void> {
  await page.evaluate(() => {
    const handled: string[] = [];
    (window as unknown as { handledAnswers: string[] }).handledAnswers = handled;
    const json = Response.prototype.json;
    Response.prototype.json = function (this: Response): Promise<unknown> {
      const url = this.url;
      return json.call(this).finally(() => setTimeout(() => handled.push(new URL(url).pathname), 0));
    };
  });
}

describe.skipIf(!hasChromium)('route answers that come too late (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-race-');

  beforeAll(async () => {
    w = await startWebHub();
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('keeps the item opened while a live reload of the queue was on its way', async () => {
    await requestReview(w, 'rv-one-0001', 21, 60);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 1, 10_000, 'the first item');
    await logIn(page, w.url);
    await page.locator('.cards a.card[data-id="rv-one-0001"]').waitFor();
    await recordHandledAnswers(page);

    // The next list answer is held until the item's detail is on screen.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let listAsked = (): void => undefined;
    const asked = new Promise<void>((resolve) => (listAsked = resolve));
    const isList = (url: URL): boolean => url.pathname === '/api/v1/reviews';
    await page.route(isList, async (route) => {
      listAsked();
      await held;
      await route.continue();
    });

    // A new item arrives: the queue reloads itself (live event, then the list request, held).
    await requestReview(w, 'rv-two-0001', 22, 90);
    await asked;
    // Meanwhile the technician opens the item on screen; its detail answers at once.
    await page.locator('.cards a.card[data-id="rv-one-0001"]').tap();
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 21' }).waitFor();

    release();
    await expect.poll(() => page.evaluate(() => (window as unknown as { handledAnswers: string[] }).handledAnswers.includes('/api/v1/reviews')), { timeout: 10_000 }).toBe(true);
    expect(await page.locator('main h1').textContent(), 'the view after the late queue answer').toBe('Set ahu1.setpoint to 21');
    expect(new URL(page.url()).hash).toBe('#/review/rv-one-0001');
    await page.unroute(isList);

    // Back on the queue, the live reloads go on as before.
    await page.getByRole('link', { name: '← Queue' }).tap();
    await expect.poll(() => page.locator('.cards a.card').first().getAttribute('data-id')).toBe('rv-two-0001');
  });
});
