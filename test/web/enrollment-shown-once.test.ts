/**
 * Enrollment tokens are shown once: the secrets just created stay on screen through a re-render
 * of the view (revoking another token, a live reload) until the admin hides them or leaves the view.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { launchBrowser, logIn, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const ADMIN = { username: 'site-admin', password: 'site-admin-password-1' };

describe.skipIf(!hasChromium)('enrollment tokens just created (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-enroll-once-');

  beforeAll(async () => {
    w = await startWebHub();
    await new Accounts(sqlFor(w.hub.store), { sessionTtlMs: 3_600_000, scryptCost: { N: 1024, r: 8, p: 1 } }).createUser(ADMIN.username, 'admin', ADMIN.password);
    // Yesterday's unused token, to revoke while today's are on screen.
    await w.hub.enrollment.createTokens({ site: 'plant-1', count: 1, ttlMs: 86_400_000, createdBy: ADMIN.username });
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  const shown = () => page.getByRole('list', { name: 'Tokens just created' }).locator('li');
  const secrets = () => page.locator('main code.secret').allTextContents();

  const create = async (count: number): Promise<string[]> => {
    await page.getByRole('textbox', { name: 'Site' }).fill('plant-3');
    await page.getByLabel('How many').fill(String(count));
    await page.getByRole('button', { name: 'Create tokens' }).tap();
    await shown().nth(count - 1).waitFor();
    return secrets();
  };

  it('keeps them through a re-render until hidden or the view is left', async () => {
    await logIn(page, w.url, ADMIN);
    await page.getByRole('link', { name: 'Enroll' }).tap();
    await page.getByRole('heading', { name: 'Enroll gateways' }).waitFor();
    const made = await create(2);
    expect(made).toHaveLength(2);

    // Revoking yesterday's token reloads the view: today's secrets stay.
    const [old] = await w.hub.enrollment.listTokens({ site: 'plant-1' });
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: `Revoke token ${old?.id ?? '?'}` }).tap();
    await page.getByRole('heading', { name: 'Unused tokens (2)' }).waitFor();
    expect(await secrets()).toEqual(made);

    // Hidden by the admin (after a confirmation): gone, the heading has focus.
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Hide the new tokens' }).tap();
    await expect.poll(() => shown().count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('enroll-title');
    expect(await page.getByRole('button', { name: 'Hide the new tokens' }).isVisible()).toBe(false);

    // Leaving the view drops them too.
    expect(await create(1)).toHaveLength(1);
    await page.getByRole('link', { name: 'Fleet' }).tap();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    await page.getByRole('link', { name: 'Enroll' }).tap();
    await page.getByRole('heading', { name: 'Unused tokens (3)' }).waitFor();
    expect(await shown().count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('swg-enroll-v1.');
  });
});
