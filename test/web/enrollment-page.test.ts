/**
 * The enrollment view of the page in chromium, as an admin on a phone-sized screen: tokens for a
 * site are created and shown once with their QR code, an unused one is revoked, the view has no
 * WCAG A/AA violations, and a technician does not see it in the navigation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { TECH, axeViolations, launchBrowser, startWebHub, type WebHub } from './support.js';

const hasChromium = peerOrSkip(chromiumPeer());
const ADMIN = { username: 'site-admin', password: 'site-admin-password-1' };

describe.skipIf(!hasChromium)('enrollment page (chromium)', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-enroll-');

  beforeAll(async () => {
    w = await startWebHub();
    await new Accounts(sqlFor(w.hub.store), { sessionTtlMs: 3_600_000, scryptCost: { N: 1024, r: 8, p: 1 } }).createUser(ADMIN.username, 'admin', ADMIN.password);
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  const login = async (user: { username: string; password: string }): Promise<void> => {
    await page.goto(w.url);
    await page.getByLabel('User name').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Fleet' }).waitFor();
  };

  it('an admin creates tokens shown once with their QR code and revokes an unused one', async () => {
    await login(ADMIN);
    await page.getByRole('link', { name: 'Enroll' }).click();
    await page.getByRole('heading', { name: 'Enroll gateways' }).waitFor();
    expect(await axeViolations(page), 'empty enrollment view').toEqual([]);

    await page.getByRole('button', { name: 'Create tokens' }).click();
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('Give the site id');
    await page.getByRole('textbox', { name: 'Site' }).fill('plant-3');
    await page.getByLabel('How many').fill('2');
    await page.getByRole('button', { name: 'Create tokens' }).click();
    const shown = page.getByRole('list', { name: 'Tokens just created' }).locator('li');
    await shown.nth(1).waitFor();
    expect(await shown.count()).toBe(2);
    expect(await shown.first().locator('code.secret').textContent()).toMatch(/^swg-enroll-v1\.[a-z0-9]{12}\./);
    const qr = shown.first().locator('img.qr');
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    expect(await axeViolations(page), 'tokens just created').toEqual([]);

    // The list of unused tokens never shows a secret; revoke one of them.
    const tokens = await w.hub.enrollment.listTokens({ site: 'plant-3' });
    expect(tokens.map((t) => t.state)).toEqual(['active', 'active']);
    await page.reload();
    await page.getByRole('heading', { name: 'Enroll gateways' }).waitFor();
    expect(await page.locator('main').textContent()).not.toContain('swg-enroll-v1.');
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: `Revoke token ${tokens[0]?.id ?? ''}` }).click();
    await page.getByRole('heading', { name: 'Unused tokens (1)' }).waitFor();
    expect((await w.hub.enrollment.listTokens({ site: 'plant-3', state: 'revoked' })).map((t) => t.revokedBy)).toEqual([ADMIN.username]);
  });

  it('a technician has no Enroll link', async () => {
    await page.getByRole('button', { name: /Log out/ }).click();
    await login(TECH);
    expect(await page.getByRole('link', { name: 'Enroll' }).isVisible()).toBe(false);
  });
});
