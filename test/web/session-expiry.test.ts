/**
 * The session ends (its absolute lifetime, a revoke) while a technician is writing a rejection
 * reason: tapping Reject asks to log in again (no API instructions for programs), and after the
 * login the item comes back with the reason as typed, to send again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { sqlFor } from '../../hub/db/sql.js';
import { waitFor } from '../hub/helpers.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { TECH, launchBrowser, logIn, requestReview, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const REASON = 'Valve V-12 is stuck open; the AHU cannot reach this setpoint until the valve is replaced.';

describe.skipIf(!hasChromium)('a session that ends mid-form (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-session-');

  beforeAll(async () => {
    w = await startWebHub();
    await requestReview(w, 'rv-sess-0001', 21, 60);
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

  it('asks to log in and keeps the typed reason for after', async () => {
    await logIn(page, w.url);
    await page.goto(`${w.url}/#/review/rv-sess-0001`);
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 21' }).waitFor();
    await page.getByLabel('Reason for rejecting').fill(REASON);

    // The session reaches its end.
    await sqlFor(w.hub.store).all('UPDATE api_sessions SET expires_at = ?', [Date.now() - 1]);
    await page.getByRole('button', { name: 'Reject' }).tap();

    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await page.getByRole('alert').first().textContent()).toBe('Your session ended; log in again.');
    expect(await page.locator('body').textContent()).not.toMatch(/POST \/api|Bearer/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('username');
    expect((await w.hub.review.get('rv-sess-0001'))?.state).toBe('pending');

    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).tap();
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 21' }).waitFor();
    expect(await page.getByLabel('Reason for rejecting').inputValue()).toBe(REASON);
    await expect.poll(() => page.locator('#status').textContent()).toContain('What you typed before the session ended is back');

    // Sent again, it is recorded; the draft is gone (a reload shows an empty form).
    await page.getByRole('button', { name: 'Reject' }).tap();
    await page.locator('article[data-state="rejected"]').waitFor();
    expect((await w.hub.review.get('rv-sess-0001'))?.reason).toBe(REASON);
    expect(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('swarmgate.draft:')))).toEqual([]);
  });
});
