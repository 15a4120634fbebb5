/**
 * End to end in a real browser: a technician logs in on a phone-sized screen, opens the top
 * review item, approves it, sees its state change live, and the command reaches the gateway and
 * is applied. Leaves test-artifacts/review-phone.png.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumPeer, peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../hub/helpers.js';
import { GATEWAY, SITE, TECH, launchBrowser, requestReview, startWebHub, type WebHub } from './support.js';
import { GatewayStateSchema, ReviewRequestSchema, TelemetryBatchSchema, encode, gatewayTopic } from '../../shared/wire/index.js';

const hasChromium = peerOrSkip(chromiumPeer());

describe.skipIf(!hasChromium)('review page in chromium', () => {
  let w: WebHub;
  let browser: BrowserContext;
  let page: Page;
  const profile = tempDir('swarmgate-chromium-');
  const transferred: Promise<number>[] = [];

  beforeAll(async () => {
    w = await startWebHub();
    await requestReview(w, 'rv-top-0001', 21.5, 85);
    await requestReview(w, 'rv-low-0001', 20, 20);
    await waitFor(async () => (await w.hub.review.list({ state: 'pending' })).length === 2, 10_000, 'two review items');
    browser = await launchBrowser(profile.path);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
    page.on('requestfinished', (request) => transferred.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));
  });

  afterAll(async () => {
    await browser?.close();
    await w?.close();
    profile.remove();
  });

  it('logs in, approves the top item, sees it executed, and the gateway applies the command', async () => {
    await page.goto(w.url);
    await page.getByLabel('User name').waitFor();
    // First load (page, script, styles, the who-am-I probe) stays far below 150 kB.
    expect((await Promise.all(transferred)).reduce((a, b) => a + b, 0)).toBeLessThan(150_000);
    await page.getByLabel('User name').fill(TECH.username);
    await page.getByLabel('Password').fill(TECH.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
    const cards = page.locator('.cards a.card');
    await cards.first().waitFor();
    expect(await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).toEqual(['rv-top-0001', 'rv-low-0001']);

    // Phone width: nothing scrolls sideways at 360 px.
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.setViewportSize({ width: 390, height: 844 });

    await cards.first().click();
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 21.5' }).waitFor();
    await expect.poll(() => page.locator('figure.chart svg[role="img"]').count()).toBeGreaterThan(0);
    expect(await page.getByRole('table', { name: 'Votes' }).isVisible()).toBe(true);

    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    // One tap sends nothing: a second confirms, naming what goes where.
    const confirm = page.getByRole('button', { name: 'Confirm: Set ahu1.setpoint to 21.5 on gw-1' });
    await confirm.waitFor();
    expect((await w.hub.review.get('rv-top-0001'))?.state).toBe('pending');
    await confirm.click();
    // Approved, then executed once the gateway acknowledges: both arrive over SSE.
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 15_000 });
    await expect.poll(() => page.locator('#command-status').textContent(), { timeout: 10_000 }).toContain('applied');

    const command = w.received.find((c) => c.action.kind === 'write' && c.action.value === 21.5);
    expect(command).toBeDefined();
    const item = await w.hub.review.get('rv-top-0001');
    expect(item).toMatchObject({ state: 'executed', decidedBy: TECH.username, commandId: command?.id });
    expect((await w.hub.commands.get(command!.id))?.status).toBe('applied');

    mkdirSync('test-artifacts', { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: 'test-artifacts/review-phone.png', fullPage: false });
  });

  it('updates the queue live when a new item arrives, and shows the fleet', async () => {
    await page.goto(`${w.url}/#/queue`);
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
    await requestReview(w, 'rv-new-0001', 23, 95);
    await expect.poll(() => page.locator('.cards a.card').first().getAttribute('data-id'), { timeout: 10_000 }).toBe('rv-new-0001');
    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    expect(await page.locator('[data-gateway="gw-1"] .badge').textContent()).toBe('online');
    await page.locator('[data-gateway="gw-1"]').click();
    await page.getByRole('heading', { name: 'gw-1' }).waitFor();
    await page.getByRole('link', { name: 'ahu1.setpoint' }).click();
    await page.getByRole('heading', { name: 'ahu1.setpoint' }).waitFor();
    await page.locator('figure.chart svg[role="img"]').waitFor();
    await page.getByRole('button', { name: '1 h' }).click();
    await expect.poll(() => page.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('charts an on/off point as steps labelled on and off, and a measured one with its unit', async () => {
    const now = Date.now();
    // The gateway's birth announces its points' units; its fan has been switching.
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'state'),
      encode(GatewayStateSchema, { v: 1, gateway: GATEWAY, site: SITE, status: 'online', ts: now, version: '1.0.0', devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up', units: { setpoint: 'degC' } }] }),
      { qos: 1, retain: true },
    );
    const fan = [true, true, false, false, true, true].map((v, i) => ({ d: 'ahu1', p: 'fan_running', v, q: 'good' as const, ts: now - (6 - i) * 60_000 }));
    await w.gateway.publishAsync(gatewayTopic(SITE, GATEWAY, 'telemetry'), encode(TelemetryBatchSchema, { v: 1, gateway: GATEWAY, bootId: 'boot-0001', seq: 2, sentAt: now, historical: false, readings: fan }), { qos: 1 });
    await waitFor(async () => ((await w.hub.registry.get(GATEWAY))?.devices?.[0]?.units?.setpoint === 'degC' && (await w.hub.store.latest(GATEWAY)).some((r) => r.point === 'fan_running') ? true : undefined), 10_000, 'units and fan telemetry');
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'reviews'),
      encode(ReviewRequestSchema, {
        v: 1, id: 'rv-steps-0001', gateway: GATEWAY, ts: now, expiresAt: now + 3_600_000, actionClass: 'setpoint',
        action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 18.5 }, confidence: 0.5, rationale: 'The fan cycles: lower the setpoint.',
        evidence: { bindings: { fan: 'ahu1/fan_running' } },
      }),
      { qos: 1 },
    );
    await waitFor(() => w.hub.review.get('rv-steps-0001'), 10_000, 'the item');
    await page.goto(`${w.url}/#/review/rv-steps-0001`);
    const fanChart = page.locator('figure.chart', { hasText: 'ahu1.fan_running' });
    await fanChart.waitFor();
    expect(await fanChart.locator('.last').textContent()).toBe('last on');
    expect(await fanChart.locator('svg').getAttribute('aria-label')).toMatch(/2 switches, last on$/);
    // Steps: every change of state is a vertical edge (two vertices at one time).
    const xs = ((await fanChart.locator('polyline.line').getAttribute('points')) ?? '').split(' ').map((p) => p.split(',')[0]);
    expect(xs.length).toBe(6 * 2 - 1);
    const setpoint = page.locator('figure.chart', { hasText: 'ahu1.setpoint' });
    expect(await setpoint.locator('figcaption').textContent()).toContain('ahu1.setpoint (degC)');
    expect(await setpoint.locator('.last').textContent()).toMatch(/ degC$/);
  });

  it('says plainly when the hub does not answer, and loads the view again on "Try again"', async () => {
    await page.goto(`${w.url}/#/queue`);
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
    expect(await page.locator('#conn').isHidden()).toBe(true);
    // The hub stops answering (restarting, or the phone lost its network).
    await page.route('**/api/v1/work-orders**', (route) => route.abort('connectionrefused'));
    await page.evaluate(() => {
      location.hash = '#/work-orders';
    });
    await page.getByRole('heading', { name: 'Cannot reach the hub' }).waitFor();
    expect(await page.locator('main p.error').textContent()).toContain('Nothing was changed');
    await page.unroute('**/api/v1/work-orders**');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: 'Work orders' }).waitFor();
    await page.goto(`${w.url}/#/queue`);
    await page.getByRole('heading', { name: 'Review queue' }).waitFor();
  });

  it('lists work orders most urgent first; a technician closes one only with a note', async () => {
    const raise = (equipment: string, urgency: 'normal' | 'high', task: string) =>
      w.hub.workOrders.raise({ site: 'site-a', gateway: 'gw-1', equipment, problem: `${equipment} needs attention`, task, urgency, sourceAgent: 'equipment-health', dedupeKey: `page-${equipment}` });
    const service = await raise('AHU-1', 'normal', 'service AHU-1');
    const compressor = await raise('compressor-1', 'high', 'check the main compressor');
    await page.goto(`${w.url}/#/work-orders`);
    await page.getByRole('heading', { name: 'Work orders' }).waitFor();
    const cards = page.locator('[data-work-order]');
    await cards.first().waitFor();
    expect(await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-work-order')))).toEqual([compressor.order.id, service.order.id]);
    const first = cards.first();
    await first.locator('summary').click();
    await first.getByRole('button', { name: 'Close work order' }).click();
    await expect.poll(() => first.getByRole('alert').textContent()).toContain('what was done');
    await first.getByLabel('What was done').fill('Contactor replaced, compressor runs');
    await first.getByRole('button', { name: 'Close work order' }).click();
    await expect.poll(() => cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-work-order')))).toEqual([service.order.id]);
    expect((await w.hub.workOrders.get(compressor.order.id))).toMatchObject({ state: 'closed', closedBy: TECH.username, note: 'Contactor replaced, compressor runs' });
  });

  it('rejects only with a reason, and approves a modified setpoint', async () => {
    await page.goto(`${w.url}/#/review/rv-new-0001`);
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 23' }).waitFor();
    // Every control has a label a screen reader can announce.
    const unlabelled = await page.locator('input, select, textarea').evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).labels?.length === 0).length);
    expect(unlabelled).toBe(0);
    await page.getByRole('button', { name: 'Reject' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('reason');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('reject-reason');
    await page.locator('summary', { hasText: 'Modify' }).click();
    await page.getByLabel('New value for ahu1.setpoint').fill('22.5');
    await page.getByRole('button', { name: 'Approve with this value' }).click();
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 15_000 });
    expect(w.received.some((c) => c.action.kind === 'write' && c.action.value === 22.5)).toBe(true);

    await page.goto(`${w.url}/#/review/rv-low-0001`);
    await page.getByRole('heading', { name: 'Set ahu1.setpoint to 20' }).waitFor();
    await page.getByLabel('Reason for rejecting').fill('Setpoint is scheduled to change tonight');
    // A live update of this item (here: relayed from another hub process) and a command for another
    // item reload the view while the technician types: the reason and the focus stay.
    const reloads = await page.evaluate(() => {
      const w = window as unknown as { reloads: number };
      w.reloads = 0;
      new MutationObserver(() => (w.reloads += 1)).observe(document.getElementById('main') as HTMLElement, { childList: true });
      return w.reloads;
    });
    w.hub.live.deliverRemote('review', await w.hub.review.get('rv-low-0001'));
    await expect.poll(() => page.evaluate(() => (window as unknown as { reloads: number }).reloads)).toBeGreaterThan(reloads);
    const other = await w.hub.commands.create({ gateway: GATEWAY, action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21 }, origin: 'user:test' });
    expect((await w.hub.commands.settled(other.id)).status).toBe('applied');
    await page.waitForTimeout(500); // the live stream's delivery and the view's 200 ms reload delay
    expect(await page.getByLabel('Reason for rejecting').inputValue()).toBe('Setpoint is scheduled to change tonight');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('reject-reason');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.locator('article[data-state="rejected"]').waitFor();
    expect(await w.hub.review.get('rv-low-0001')).toMatchObject({ state: 'rejected', reason: 'Setpoint is scheduled to change tonight' });
  });

  it('modifies an on/off action by choosing On or Off, not by typing (a phone would capitalise "True")', async () => {
    const now = Date.now();
    await w.gateway.publishAsync(
      gatewayTopic(SITE, GATEWAY, 'reviews'),
      encode(ReviewRequestSchema, {
        v: 1, id: 'rv-fan-0001', gateway: GATEWAY, ts: now, expiresAt: now + 3_600_000, actionClass: 'setpoint',
        action: { kind: 'write', device: 'ahu1', point: 'fan_command', value: true }, confidence: 0.5, rationale: 'Occupied: run the fan.', evidence: {},
      }),
      { qos: 1 },
    );
    await waitFor(() => w.hub.review.get('rv-fan-0001'), 10_000, 'the item');
    await page.goto(`${w.url}/#/review/rv-fan-0001`);
    await page.locator('summary', { hasText: 'Modify' }).click();
    const choice = page.getByLabel('New value for ahu1.fan_command');
    expect(await choice.evaluate((e) => e.tagName)).toBe('SELECT');
    expect(await choice.locator('option').allTextContents()).toEqual(['On (true)', 'Off (false)']);
    await choice.selectOption('false');
    await page.getByRole('button', { name: 'Approve with this value' }).click();
    await page.locator('article[data-state="executed"]').waitFor({ timeout: 15_000 });
    expect(w.received.some((c) => c.action.kind === 'write' && c.action.point === 'fan_command' && c.action.value === false)).toBe(true);
  });

  it('a decision on an item decided elsewhere meanwhile is not recorded: the page says so and shows the item as it is now', async () => {
    await requestReview(w, 'rv-stale-0001', 24, 50);
    await waitFor(async () => (await w.hub.review.get('rv-stale-0001'))?.state === 'pending', 10_000, 'stale item pending');
    // No live updates reach this page (a phone whose event stream lags behind).
    await page.route('**/api/v1/stream', (route) => route.abort());
    try {
      await page.goto(`${w.url}/#/review/rv-stale-0001`);
      await page.reload();
      await page.getByRole('heading', { name: 'Set ahu1.setpoint to 24' }).waitFor();
      await w.hub.review.reject('rv-stale-0001', { user: 'tech2', reason: 'done by hand already' });
      await page.getByLabel('Reason for rejecting').fill('not needed');
      await page.getByRole('button', { name: 'Reject' }).click();
      await page.locator('article[data-state="rejected"]').waitFor();
      expect(await page.locator('#stale-notice').textContent()).toMatch(/Not recorded: .*already rejected \(by tech2\)/);
      expect(await page.getByRole('button', { name: 'Reject' }).count()).toBe(0);
      expect(await w.hub.review.get('rv-stale-0001')).toMatchObject({ state: 'rejected', decidedBy: 'tech2', reason: 'done by hand already' });
    } finally {
      await page.unroute('**/api/v1/stream');
    }
  });
});
