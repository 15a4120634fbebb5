/**
 * A gateway with `federation.telemetryEncoding: binary`: its outbox writes binary frames (strict
 * mode and crash recovery included), a resend is retagged in place, and end to end a real hub
 * (embedded broker, SQLite) stores every reading the gateway reported exactly once, while a
 * listener on the broker sees only binary frames on the telemetry topic.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { Outbox, type OutboxOptions } from '../../edge/federation/outbox.js';
import { retagBatch } from '../../edge/federation/telemetry.js';
import { BINARY_TELEMETRY_MAGIC, decodeTelemetry, gatewayTopic, telemetryEncodingOf, type TelemetryBatch } from '../../shared/wire/index.js';
import { startEdge, writeEdgeConfig } from '../e2e/support/edge.js';
import { addGatewayUser, addHubUser, credentialsFile } from '../e2e/support/hub.js';
import { embeddedRig } from '../e2e/support/rig.js';
import { PERFECT, reportedInOrder, summary, waitStored } from '../e2e/support/stored.js';
import { sleep, uniqueId, waitFor } from '../e2e/support/util.js';
import { tempDir } from '../support/tmp.js';

const T = 1_700_000_000_000;
const dirs: { remove(): void }[] = [];
const boxes: Outbox[] = [];

function outbox(options: Partial<OutboxOptions> = {}, path?: string): Outbox {
  let file = path;
  if (!file) {
    const dir = tempDir('swg-outbox-bin-');
    dirs.push(dir);
    file = join(dir.path, 'outbox.sqlite');
  }
  const box = new Outbox({ site: 'site-a', gateway: 'gw-1', encoding: 'binary', ...options, path: file });
  boxes.push(box);
  return box;
}

function reading(i: number, extra: Partial<Reading> = {}): Reading {
  return { device: 'ahu1', point: 'supply_air_temp', value: i + 0.5, quality: 'good', ts: T + i, ...extra };
}

function telemetry(box: Outbox): TelemetryBatch[] {
  return box
    .all()
    .filter((r) => r.kind === 'telemetry')
    .map((r) => {
      expect(telemetryEncodingOf(r.payload)).toBe('binary');
      const d = decodeTelemetry(r.topic, r.payload);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    });
}

afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
  for (const d of dirs.splice(0)) d.remove();
});

describe('outbox with binary telemetry', () => {
  it('writes binary frames with per-boot seqs, every reading as reported', () => {
    const box = outbox({ flushMs: 10_000, batchMax: 500, bootId: 'boot-bin-1' });
    const extra: Reading[] = [
      reading(0, { value: true }),
      reading(1, { value: 'Küche ❄️', point: 'mode' }),
      reading(2, { value: null, quality: 'bad', cause: 'timeout' }),
      reading(3, { value: 42, device: 'vav_2' }),
    ];
    for (let i = 0; i < 1196; i++) box.addReading(reading(i));
    for (const r of extra) box.addReading(r);
    box.flush();
    const batches = telemetry(box);
    expect(batches.map((b) => [b.seq, b.readings.length])).toEqual([
      [0, 500],
      [1, 500],
      [2, 200],
    ]);
    expect(batches[0]).toMatchObject({ gateway: 'gw-1', bootId: 'boot-bin-1', historical: false });
    expect(batches[0]!.readings[7]).toEqual({ d: 'ahu1', p: 'supply_air_temp', v: 7.5, q: 'good', ts: T + 7 });
    expect(batches[2]!.readings.slice(-4)).toEqual([
      { d: 'ahu1', p: 'supply_air_temp', v: true, q: 'good', ts: T },
      { d: 'ahu1', p: 'mode', v: 'Küche ❄️', q: 'good', ts: T + 1 },
      { d: 'ahu1', p: 'supply_air_temp', v: null, q: 'bad', ts: T + 2, c: 'timeout' },
      { d: 'vav_2', p: 'supply_air_temp', v: 42, q: 'good', ts: T + 3 },
    ]);
  });

  it('text that UTF-8 or a hub store cannot carry (a lone surrogate, a pair cut at the length limit, a NUL) goes as U+FFFD in either encoding', () => {
    const texts = [reading(0, { value: 'a\uD83D' }), reading(1, { value: `${'x'.repeat(1023)}😀` }), reading(2, { value: null, quality: 'bad', cause: '\uDE00 lost' }), reading(3, { value: 'bad\u0000nul' })];
    const viaBinary = outbox({ flushMs: 10_000 });
    const viaJson = outbox({ flushMs: 10_000, encoding: 'json' });
    for (const r of texts) {
      viaBinary.addReading(r);
      viaJson.addReading(r);
    }
    viaBinary.flush();
    viaJson.flush();
    const expected = [
      { v: 'a\uFFFD' },
      { v: `${'x'.repeat(1023)}\uFFFD` },
      { v: null, c: '\uFFFD lost' },
      { v: 'bad\uFFFDnul' },
    ];
    expect(telemetry(viaBinary)[0]!.readings).toMatchObject(expected);
    const json = viaJson.all()[0]!;
    const d = decodeTelemetry(json.topic, json.payload);
    expect(d.ok && d.value.readings).toMatchObject(expected);
  });

  it('retags a stored frame as historical for a resend, seq and readings untouched', () => {
    const box = outbox({ flushMs: 10_000 });
    for (let i = 0; i < 3; i++) box.addReading(reading(i));
    box.flush();
    const row = box.all()[0]!;
    const retagged = retagBatch(row.payload, { gateway: 'gw-1', bootId: row.bootId, seq: row.batchSeq!, sentAt: 42, historical: true });
    expect(retagged[0]).toBe(BINARY_TELEMETRY_MAGIC);
    const d = decodeTelemetry(row.topic, retagged);
    expect(d.ok && d.value).toMatchObject({ seq: 0, sentAt: 42, historical: true, readings: [{ v: 0.5 }, { v: 1.5 }, { v: 2.5 }] });
  });

  it('strict mode: readings staged before a crash become a binary batch at the next start', () => {
    const dir = tempDir('swg-outbox-bin-strict-');
    dirs.push(dir);
    const path = join(dir.path, 'outbox.sqlite');
    const first = outbox({ flushMs: 0, batchMs: 60_000 }, path);
    for (let i = 0; i < 5; i++) first.addReading(reading(i));
    // No batch committed yet: the readings are only staged. A copy of the files now is what a
    // crash leaves on disk; a new outbox on the copy stands in for the restarted process.
    const crashed = join(dir.path, 'crashed.sqlite');
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) copyFileSync(path + suffix, crashed + suffix);
    const second = outbox({ flushMs: 0, batchMs: 60_000 }, crashed);
    const batches = telemetry(second);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.readings.map((r) => r.v)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5]);
  });
});

describe('a gateway federating binary telemetry to a real hub (embedded broker, SQLite)', () => {
  const rig = embeddedRig('swg-binary-e2e-', 23);

  it('stores every reported reading exactly once, in order per point; only binary frames go over the broker', async () => {
    const site = uniqueId('site');
    const gateway = uniqueId('gw');
    const users = credentialsFile(rig.dir.path);
    const auth = await addGatewayUser(users, site, gateway);
    // A hub-role listener on the broker: what the gateway actually publishes.
    const listener = await mqtt.connectAsync(rig.hub.broker!.url, { ...(await addHubUser(users, 'listener')), clientId: uniqueId('listener'), reconnectPeriod: 0 });
    rig.cleanups.push(() => listener.endAsync());
    const seen: Buffer[] = [];
    listener.on('message', (_topic, payload) => void seen.push(payload));
    await listener.subscribeAsync(gatewayTopic(site, gateway, 'telemetry'), { qos: 0 });

    const devices = ['ahu1', 'coldroom', 'io'] as const;
    const file = writeEdgeConfig(rig.dir.path, {
      id: gateway,
      site,
      dataDir: join(rig.dir.path, 'gw'),
      facility: rig.facility.endpoints,
      devices,
      federation: { mqtt: { url: rig.hub.broker!.url, ...auth, reconnectPeriodMs: 200 }, outbox: { flushMs: 50 }, stateIntervalS: 0, telemetryEncoding: 'binary' },
    });
    const edge = await startEdge(file);
    rig.cleanups.push(() => edge.stop());
    const reported = edge.reported;
    await waitFor(() => devices.every((d) => reported.some((r) => r.device === d && r.quality === 'good')), 20_000, 'good readings from every device');
    await sleep(2000);
    await edge.app.gateway.stop();
    const check = await waitStored(rig.hub.store, gateway, reported);
    expect(reportedInOrder(reported)).toBe(true);
    expect(summary(check)).toEqual(PERFECT);
    expect(check.points).toBeGreaterThan(15);
    expect(await rig.hub.metrics.count(rig.hub.metrics.payloadRejected)).toBe(0);
    // The outbox empties on the hub's stored receipts, as with JSON.
    await waitFor(() => edge.app.federation!.outbox.stats().messages === 0, 10_000, 'outbox emptied by stored receipts');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((p) => p[0] !== BINARY_TELEMETRY_MAGIC)).toEqual([]);
  });
});
