/**
 * Binary telemetry into a real hub (embedded broker, SQLite store): stored and receipted like
 * JSON, a batch sent once in each encoding is one batch (a duplicate, not a conflict), and a
 * frame that is broken or breaks the schema is quarantined with an error naming the batch, the
 * reading and the field, and receipted when its head names the batch. The ingest journal keeps
 * binary frames as they came and replays them after a crash (SQLite and PostgreSQL stores). A batch hashes the same (the key
 * of dedupe and conflicts) whichever encoding it came in.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { batchContentHash, batchContentHashV1, isConflict } from '../../hub/store/batch-conflicts.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import { StoredReceiptSchema, TelemetryBatchSchema, decode, decodeTelemetry, encode, encodeTelemetryBinary, gatewayTopic, type StoredReceipt, type TelemetryBatch, type WireReading } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, endAll, reading, waitFor } from './helpers.js';

const SITE = 'site-bin';
const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const frame = (b: TelemetryBatch): Buffer => encodeTelemetryBinary(b, b.readings);

describe('hub ingest of binary telemetry (embedded broker, SQLite)', () => {
  const dir = tempDir('swg-ingest-binary-');
  let hub: Hub;
  let client: MqttClient;
  const receipts: StoredReceipt[] = [];
  const receipted = (bootId: string, seq: number): boolean => receipts.some((r) => r.batches.some((x) => x.bootId === bootId && x.from <= seq && seq <= x.to));
  const send = (payload: Buffer | string): Promise<unknown> => client.publishAsync(gatewayTopic(SITE, 'gw-a', 'telemetry'), payload, { qos: 1 });

  beforeAll(async () => {
    await addUsers(join(dir.path, 'users.yaml'), [{ spec: { role: 'gateway', username: 'gw-a', site: SITE, gateway: 'gw-a' }, password: 'gw-a-password' }]);
    const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', join(dir.path, 'hub.yaml'));
    hub = await startHub(config, {});
    client = await connectClient(hub.broker!.url, { username: 'gw-a', password: 'gw-a-password', clientId: 'gw-a' });
    const storedTopic = gatewayTopic(SITE, 'gw-a', 'stored');
    client.on('message', (topic, payload) => {
      const r = topic === storedTopic ? decode(StoredReceiptSchema, topic, payload) : undefined;
      if (r?.ok) receipts.push(r.value);
    });
    await client.subscribeAsync(storedTopic, { qos: 1 });
  });

  afterAll(async () => {
    await endAll([client]);
    await hub?.stop();
    dir.remove();
  });

  it('stores and receipts a binary batch; the same batch again in JSON or binary is a duplicate, not a conflict', async () => {
    const t = Date.now();
    const b = batch('gw-a', 'boot-bin-01', 1, [reading('ahu1', 'temp', 21.5, t), reading('ahu1', 'mode', 'auto', t + 1), reading('io', 'door', true, t + 2), reading('io', 'count', 7, t + 3, 'uncertain')]);
    await send(frame(b));
    await waitFor(() => (receipted('boot-bin-01', 1) ? true : undefined), 10_000, 'receipt');
    expect((await hub.store.latest('gw-a')).map((r) => [r.device, r.point, r.value, r.quality]).sort()).toEqual([
      ['ahu1', 'mode', 'auto', 'good'],
      ['ahu1', 'temp', 21.5, 'good'],
      ['io', 'count', 7, 'uncertain'],
      ['io', 'door', true, 'good'],
    ]);
    await send(JSON.stringify({ ...b, historical: true }));
    await send(frame({ ...b, historical: true, sentAt: t + 99 }));
    await waitFor(async () => ((await hub.metrics.count(hub.metrics.duplicates)) === 2 ? true : undefined), 10_000, 'two duplicates');
    expect(await hub.metrics.count(hub.metrics.batchConflicts)).toBe(0);
    expect((await hub.store.history('gw-a', 'ahu1', 'temp', 0, t + 10)).map((s) => s.value)).toEqual([21.5]);
  });

  it('quarantines broken and invalid frames naming the batch, reading and field; receipts those whose head names the batch', async () => {
    const t = Date.now();
    const good = batch('gw-a', 'boot-bin-02', 5, [reading('ahu1', 'temp', 1, t), reading('ahu1', 'temp', 2, t + 1), reading('ahu1', 'flow', 3, t + 2)]);
    // Reading 2's point name made invalid in the frame's string table: "flow" -> "Flow".
    const invalid = frame(good);
    invalid[invalid.indexOf(Buffer.from('flow', 'latin1'))] = 'F'.charCodeAt(0);
    await send(invalid);
    // Cut inside the readings.
    await send(frame({ ...good, seq: 6 }).subarray(0, 60));
    // Names another gateway than its topic.
    await send(frame({ ...good, gateway: 'gw-b', seq: 7 }));
    // A day ahead of the hub clock.
    await send(frame({ ...good, seq: 8, readings: [reading('ahu1', 'temp', 1, t + 86_400_000)] }));
    await waitFor(async () => ((await hub.quarantine.count()) >= 4 ? true : undefined), 10_000, 'four quarantined');
    const kept = (await hub.quarantine.list({ gateway: 'gw-a' })).reverse();
    expect(kept.map((k) => k.reason)).toEqual(['schema', 'bad-frame', 'mismatch', 'implausible']);
    expect(kept[0]!.error).toMatch(/telemetry: batch gw-a\/boot-bin-02\/5: \/readings\/2\/p: "Flow" is not a point name .*\(byte \d+\)$/);
    expect(kept[1]!.error).toMatch(/batch gw-a\/boot-bin-02\/6: \/readings\/\d+\/\w+: the frame ends inside/);
    expect(kept[2]!.error).toContain('/gateway: "gw-b" does not match the topic');
    expect(kept[3]!.error).toMatch(/\/readings\/0\/ts: .* is 1440 min ahead of the hub clock/);
    // Kept as received (binary, so base64), for an operator to inspect.
    expect(kept[0]!.encoding).toBe('base64');
    expect(Buffer.from(kept[0]!.payload, 'base64').equals(invalid)).toBe(true);
    // The gateway may let go of what the hub kept: resending would be refused again.
    await waitFor(() => (receipted('boot-bin-02', 5) && receipted('boot-bin-02', 6) && receipted('boot-bin-02', 8) ? true : undefined), 10_000, 'receipts for kept batches');
    expect((await hub.store.history('gw-a', 'ahu1', 'temp', t - 1, t + 10)).map((s) => s.value)).toEqual([]);
  });
});

describe('SQLite ingest journal with binary frames', () => {
  it('replays acknowledged binary batches after a crash (files copied while the store is open)', async () => {
    const dir = tempDir('swg-journal-binary-');
    const copy = tempDir('swg-journal-binary-');
    const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;
    const a = SqliteStore.open({ path: join(dir.path, 'hub.db'), flushMs: 600_000, logger: quiet });
    try {
      const t0 = Date.UTC(2024, 0, 1);
      for (let seq = 1; seq <= 3; seq++) {
        const b = batch('gw', 'boot-journal-1', seq, [reading('d', 'p', seq + 0.25, t0 + seq), reading('d', 'label', `n° ${seq}`, t0 + seq)]);
        expect(await a.ingestBatch(b, t0 + 10, frame(b))).toEqual({ stored: true, readings: 2 });
      }
      cpSync(dir.path, copy.path, { recursive: true });
      const b = SqliteStore.open({ path: join(copy.path, 'hub.db'), logger: quiet });
      try {
        expect((await b.history('gw', 'd', 'p', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value)).toEqual([1.25, 2.25, 3.25]);
        expect((await b.history('gw', 'd', 'label', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value)).toEqual(['n° 1', 'n° 2', 'n° 3']);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      dir.remove();
      copy.remove();
    }
  });
});

describe.skipIf(!postgres)('PostgreSQL ingest journal with binary frames', () => {
  it('replays acknowledged binary batches after a crash (journal copied while the store is open)', async () => {
    const schema = `swg_binjournal_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const dir = tempDir('swg-pg-journal-binary-');
    const copy = tempDir('swg-pg-journal-binary-');
    // A long flush interval: what is acknowledged is only in the journal when the copy is taken.
    const a = await PostgresStore.open({ url: PG_URL, schema, journalDir: dir.path, flushMs: 600_000 });
    let b: PostgresStore | undefined;
    try {
      const t0 = Date.UTC(2024, 0, 1);
      for (let seq = 1; seq <= 3; seq++) {
        const x = batch('gw', 'boot-journal-pg', seq, [reading('d', 'p', seq + 0.25, t0 + seq), reading('d', 'label', `n° ${seq}`, t0 + seq)]);
        expect(await a.ingestBatch(x, t0 + 10, frame(x))).toEqual({ stored: true, readings: 2 });
      }
      cpSync(dir.path, copy.path, { recursive: true, filter: (src) => !src.endsWith('LOCK') });
      b = await PostgresStore.open({ url: PG_URL, schema, journalDir: copy.path });
      expect((await b.history('gw', 'd', 'p', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value)).toEqual([1.25, 2.25, 3.25]);
      expect((await b.history('gw', 'd', 'label', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value)).toEqual(['n° 1', 'n° 2', 'n° 3']);
    } finally {
      await a.close();
      await b?.dropSchema();
      await b?.close();
      dir.remove();
      copy.remove();
    }
  });
});

describe('batch content hash (dedupe across encodings)', () => {
  it('version 1 is SHA-256 of the canonical JSON of the readings, for every kind of value', () => {
    const readings: WireReading[] = [
      { d: 'ahu1', p: 'temp', v: 21.5, q: 'good', ts: 1 },
      { d: 'ahu1', p: 'neg_zero', v: -0, q: 'good', ts: 2 },
      { d: 'ahu1', p: 'big', v: 1e21, q: 'good', ts: 3 },
      { d: 'ahu1', p: 'small', v: 5e-324, q: 'uncertain', ts: 4, c: 'quoted "cause"\n\u0001' },
      { d: 'ahu1', p: 'label', v: 'Küche "❄️" \\ \u2028', q: 'good', ts: 5 },
      { d: 'io', p: 'door', v: true, q: 'good', ts: 6 },
      { d: 'io', p: 'relay', v: false, q: 'good', ts: 7 },
      { d: 'io', p: 'gone', v: null, q: 'bad', ts: 8, c: '' },
      { d: 'io', p: 'max', v: Number.MAX_SAFE_INTEGER, q: 'good', ts: 9 },
    ];
    const canonical = JSON.stringify(readings.map((r) => [r.d, r.p, r.v, r.q, r.ts, r.c ?? null]));
    expect(batchContentHashV1({ readings })).toBe(createHash('sha256').update(canonical).digest('hex').slice(0, 32));
    // And a batch decoded from its binary frame hashes like the original, in both versions.
    const b = batch('gw-a', 'boot-hash-01', 1, readings);
    const d = decodeTelemetry('t', frame(b));
    expect(d.ok && batchContentHashV1(d.value)).toBe(batchContentHashV1(b));
    expect(d.ok && batchContentHash(d.value)).toBe(batchContentHash(b));
    const j = decodeTelemetry('t', encode(TelemetryBatchSchema, b));
    expect(j.ok && batchContentHash(j.value)).toBe(batchContentHash(b));
  });

  it('version 2 tells every field apart, and compares with keys stored under version 1', () => {
    const base: WireReading[] = [
      { d: 'ahu1', p: 'temp', v: 21.5, q: 'good', ts: 1 },
      { d: 'io', p: 'door', v: true, q: 'good', ts: 2, c: 'x' },
    ];
    const h = batchContentHash({ readings: base });
    expect(h).toMatch(/^2:[0-9a-f]{32}$/);
    expect(batchContentHash({ readings: base.map((r) => ({ ...r })) })).toBe(h);
    // -0 is 0, as in version 1's JSON text.
    expect(batchContentHash({ readings: [{ ...base[0]!, v: -0 }] })).toBe(batchContentHash({ readings: [{ ...base[0]!, v: 0 }] }));
    const variants: WireReading[][] = [
      [{ ...base[0]!, d: 'ahu2' }, base[1]!],
      [{ ...base[0]!, p: 'tem' }, base[1]!],
      [{ ...base[0]!, v: 21.500000000000004 }, base[1]!],
      [{ ...base[0]!, v: '21.5' }, base[1]!],
      [{ ...base[0]!, q: 'bad' }, base[1]!],
      [{ ...base[0]!, ts: 3 }, base[1]!],
      [{ ...base[0]!, c: '' }, base[1]!],
      [base[0]!, { ...base[1]!, v: false }],
      [base[0]!, { ...base[1]!, v: null }],
      [base[0]!, { ...base[1]!, c: undefined }],
      [base[1]!, base[0]!],
      [base[0]!],
      // Strings moved between fields must not hash alike.
      [{ ...base[0]!, d: 'ahu1t', p: 'emp' }, base[1]!],
    ];
    const hashes = new Set([h, ...variants.map((readings) => batchContentHash({ readings }))]);
    expect(hashes.size).toBe(variants.length + 1);
    // A key stored with a version-1 hash: the same readings are a duplicate, others a conflict.
    const stored = batchContentHashV1({ readings: base });
    expect(isConflict(stored, h, { readings: base })).toBe(false);
    expect(isConflict(stored, batchContentHash({ readings: variants[0]! }), { readings: variants[0]! })).toBe(true);
    expect(isConflict(h, h, { readings: base })).toBe(false);
    expect(isConflict(h, batchContentHash({ readings: variants[2]! }), { readings: variants[2]! })).toBe(true);
    expect(isConflict(null, h, { readings: base })).toBe(false);
  });
});
