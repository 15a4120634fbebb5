/**
 * The live stream after a refused reconnect: a proxy's 502 while the hub restarts closes an
 * EventSource for good. The page opens it again (with a backoff) while the session holds, and only
 * a 401 logs the user out, never a 502 from the hub or its proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { launchBrowser, logIn, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());

/**
 * The stream as a restarting hub behind a proxy serves it: the first connection opens and ends
 * (the hub going down; EventSource comes back after 200 ms), the second is the proxy's 502, the
 * rest reach the hub. Answers how many were asked for.
 */
async function restartingHub(page: Page): Promise<() => number> {
  let calls = 0;
  await page.route('**/api/v1/stream', async (route: Route) => {
    calls += 1;
    if (calls === 1) return route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }, body: 'retry: 200\n: connected\n\n' });
    if (calls === 2) return route.fulfill({ status: 502, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' });
    return route.continue();
  });
  return () => calls;
}

describe.skipIf(!hasChromium)('live stream after a refused reconnect (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  const profile = tempDir('swarmgate-chromium-stream-');

  beforeAll(async () => {
    w = await startWebHub();
    await requestReview(w, 'rv-a-0001', 21, 50);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 1, 10_000, 'the first item');
    browser = await launchBrowser(profile.path);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  /** A new tab, logged out. */
  const freshPage = async (): Promise<Page> => {
    await browser.clearCookies();
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    return page;
  };

  it('opens the stream again after a 502 and the queue updates live', async () => {
    const page = await freshPage();
    const streams = await restartingHub(page);
    await logIn(page, w.url);
    await expect.poll(streams, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    await page.locator('#conn').waitFor({ state: 'hidden' });

    await requestReview(w, 'rv-b-0001', 23, 95);
    await expect.poll(() => page.locator('.cards a.card').first().getAttribute('data-id'), { timeout: 10_000 }).toBe('rv-b-0001');
    await page.close();
  });

  it('a 502 from the session check while the hub restarts does not log the user out', async () => {
    const page = await freshPage();
    const streams = await restartingHub(page);
    // The proxy answers the session check with a 502 too, once, after the stream's 502.
    let failedMe = false;
    await page.route('**/api/v1/auth/me', (route) => {
      if (streams() < 2 || failedMe) return route.continue();
      failedMe = true;
      return route.fulfill({ status: 502, contentType: 'text/html', body: 'Bad Gateway' });
    });
    await logIn(page, w.url);
    await expect.poll(() => failedMe, { timeout: 15_000 }).toBe(true);
    await expect.poll(streams, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    await page.locator('#conn').waitFor({ state: 'hidden' });
    expect(await page.locator('main h1').textContent()).toBe('Review queue');
    expect(await page.getByRole('button', { name: /Log out/ }).isVisible()).toBe(true);
    await page.close();
  });
});
