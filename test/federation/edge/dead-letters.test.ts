/**
 * The outbox's dead letters, on real SQLite files, with a second connection standing in for
 * `swarmgate edge dead-letters` (another process on the same file while the gateway runs):
 * - a write by that other connection between the gateway's first read and its first write no
 *   longer fails the gateway's transaction (SQLITE_BUSY_SNAPSHOT: a commit failure for nothing);
 * - a re-queue asked for while the outbox is open is taken within a second, behind the queue, in
 *   the order the rows were set aside, batch keys and payloads unchanged; one asked for while the
 *   gateway was stopped is taken at the next start;
 * - a row refused again after a re-queue is set aside again counting its re-queues, an error says
 *   so, and it is re-queued once more only with force;
 * - ids are never reused (a file an earlier release wrote is brought to that shape, entries kept);
 * - the count, bytes and age of the dead letters are metrics, also after another process drops some.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { openDeadLetters } from '../../../edge/federation/dead-letters.js';
import { FederationMetrics } from '../../../edge/federation/metrics.js';
import { Outbox, type OutboxOptions } from '../../../edge/federation/outbox.js';
import { OutboxTable } from '../../../edge/federation/outbox-table.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { capturedLog } from '../../support/captured-log.js';
import { tempDir } from '../../support/tmp.js';
import { queuedBatches, waitFor } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function folder(): string {
  const dir = tempDir('swg-dead-');
  cleanups.push(() => dir.remove());
  return dir.path;
}

function outbox(path: string, extra: Partial<OutboxOptions> = {}): Outbox {
  const box = new Outbox({ path, site: 'site-a', gateway: 'gw-1', flushMs: 10_000, batchMax: 10, ...extra });
  cleanups.push(() => box.close());
  return box;
}

/** `batches` telemetry batches of 10 readings each, committed. */
function fill(box: Outbox, batches: number, t0 = Date.now() - 60_000): void {
  for (let i = 0; i < batches * 10; i++) box.addReading({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + i });
  box.flush();
}

async function gauge(registry: Registry, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? Number.NaN;
}

describe('another process on the outbox file', () => {
  it("a write between the gateway's first read and its first write does not fail the gateway's transaction", () => {
    const path = join(folder(), 'outbox.sqlite');
    const table = new OutboxTable(path, 1024 * 1024);
    cleanups.push(() => table.close());
    // The command, in its own connection; it gives up at once rather than waiting for the lock.
    const other = new Database(path, { timeout: 0 });
    cleanups.push(() => other.close());
    other.prepare("INSERT INTO dead_letter (seq, boot_id, kind, topic, readings, created_at, set_aside_at, reason, bytes, payload) VALUES (1, 'boot-0001', 'other', 't', 0, 1, 1, 'refused', 1, x'00')").run();
    let otherWrote = false;
    expect(() =>
      table.transaction(() => {
        table.usedBytes(); // reads first, as the size bound does
        try {
          other.prepare('DELETE FROM dead_letter').run(); // `dead-letters drop --all`
          otherWrote = true;
        } catch (err) {
          expect((err as { code?: string }).code).toMatch(/^SQLITE_BUSY/);
        }
        table.insert({ bootId: 'boot-0001', kind: 'event', topic: 'swarmgate/v1/site-a/gw-1/events', readings: 0, batchSeq: null, firstTs: null, lastTs: null, payload: Buffer.from('{}') }, Date.now());
      }),
    ).not.toThrow();
    // The command waited for the gateway's lock instead (here: gave up at once); it writes after.
    expect(otherWrote).toBe(false);
    expect(other.prepare('DELETE FROM dead_letter').run().changes).toBe(1);
    expect(table.all()).toHaveLength(1);
  });
});

describe('re-queue', () => {
  it('asked for while the outbox is open: taken within a second, behind the queue, in set-aside order, batch keys and payloads unchanged', async () => {
    const path = join(folder(), 'outbox.sqlite');
    const registry = new Registry();
    const box = outbox(path, { metrics: new FederationMetrics(registry) });
    fill(box, 4);
    const [first, second] = box.all().filter((r) => r.kind === 'telemetry');
    box.setAside(second!.seq);
    box.setAside(first!.seq);
    expect(box.deadLetters().map((d) => d.batchSeq)).toEqual([1, 0]);
    expect(await gauge(registry, 'swarmgate_federation_dead_letters')).toBe(2);
    expect(await gauge(registry, 'swarmgate_federation_dead_letter_bytes')).toBe(first!.payload.length + second!.payload.length);
    expect(await gauge(registry, 'swarmgate_federation_dead_letter_oldest_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    fill(box, 1);
    const queuedBefore = box.all().map((r) => r.seq);

    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    const ids = command.table.list().map((d) => d.id);
    expect(command.table.requestRequeue('all', Date.now()).map((d) => d.id)).toEqual(ids);
    await waitFor(() => box.deadLetters().length === 0, 5000, 'the outbox took the request');
    expect(command.table.stillRequested(ids)).toEqual([]);

    const rows = box.all();
    const back = rows.filter((r) => !queuedBefore.includes(r.seq));
    expect(Math.min(...back.map((r) => r.seq))).toBeGreaterThan(Math.max(...queuedBefore));
    expect(back.map((r) => [r.kind, r.bootId, r.batchSeq, r.readings, r.requeues])).toEqual([
      ['telemetry', box.bootId, 1, 10, 1],
      ['telemetry', box.bootId, 0, 10, 1],
    ]);
    expect(back.map((r) => r.payload)).toEqual([second!.payload, first!.payload]);
    expect(queuedBatches(box).filter((b) => b.seq <= 1).map((b) => b.readings.length)).toEqual([10, 10]);
    expect(await gauge(registry, 'swarmgate_federation_dead_letters')).toBe(0);
    expect(await gauge(registry, 'swarmgate_federation_dead_letter_oldest_timestamp_seconds')).toBe(0);
    expect((await registry.getSingleMetric('swarmgate_federation_requeued_total')?.get())?.values).toEqual([expect.objectContaining({ labels: { kind: 'telemetry' }, value: 2 })]);
  });

  it('asked for while the gateway was stopped: taken at the next start', () => {
    const path = join(folder(), 'outbox.sqlite');
    const before = new Outbox({ path, site: 'site-a', gateway: 'gw-1', flushMs: 10_000, batchMax: 10 });
    fill(before, 2);
    before.setAside(before.all()[0]!.seq);
    before.close();
    const command = openDeadLetters(path);
    command.table.requestRequeue([1], Date.now());
    command.close();
    const box = outbox(path);
    expect(box.deadLetters()).toEqual([]);
    expect(box.all().filter((r) => r.kind === 'telemetry').map((r) => [r.batchSeq, r.requeues])).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  it('refused again after a re-queue: set aside again counting it, an error says so, and re-queued once more only with force', async () => {
    const path = join(folder(), 'outbox.sqlite');
    const { log, lines } = capturedLog<{ level: number; msg: string; requeues?: number }>();
    const box = outbox(path, { log });
    fill(box, 1);
    box.setAside(box.all()[0]!.seq);
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    command.table.requestRequeue([1], Date.now());
    await waitFor(() => box.deadLetters().length === 0, 5000, 'taken');
    // The broker still refuses it.
    box.setAside(box.all().find((r) => r.kind === 'telemetry')!.seq);
    const [again] = box.deadLetters();
    expect(again).toMatchObject({ id: 2, batchSeq: 0, requeues: 1, requeueRequestedAt: null });
    expect(lines.filter((l) => l.level >= 50 && l.requeues === 1).map((l) => l.msg)).toEqual([expect.stringContaining('refused by the broker again')]);
    let refused: unknown;
    try {
      command.table.requestRequeue('all', Date.now());
    } catch (err) {
      refused = err;
    }
    expect(isSwarmgateError(refused, 'SWG_ERR_DEAD_LETTER_REFUSED_AGAIN')).toBe(true);
    expect(String((refused as Error).message)).toContain('2 (re-queued 1 time)');
    expect(command.table.list()[0]!.requeueRequestedAt).toBeNull();
    command.table.requestRequeue('all', Date.now(), { force: true });
    await waitFor(() => box.deadLetters().length === 0, 5000, 'taken with force');
    expect(box.all().find((r) => r.kind === 'telemetry')!.requeues).toBe(2);
  });

  it('an unknown id re-queues nothing', () => {
    const path = join(folder(), 'outbox.sqlite');
    const box = outbox(path);
    fill(box, 2);
    box.setAside(box.all()[0]!.seq);
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    expect(() => command.table.requestRequeue([1, 7], Date.now())).toThrow(/no dead letter 7/);
    expect(command.table.list().map((d) => d.requeueRequestedAt)).toEqual([null]);
  });
});

describe('the dead-letter budget', () => {
  it('does not trim an entry whose re-queue is pending: it is re-queued, not lost while the command says re-queued', async () => {
    const path = join(folder(), 'outbox.sqlite');
    // maxBytes 1 MiB: the dead letters keep 64 KiB of payload, so two 40 KB entries do not both fit.
    const box = outbox(path, { maxBytes: 1024 * 1024 });
    const event = (n: number): Buffer => Buffer.from(JSON.stringify({ v: 1, n, pad: 'x'.repeat(40_000) }));
    box.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', event(1));
    box.setAside(box.all()[0]!.seq);
    const [first] = box.deadLetters();
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    command.table.requestRequeue([first!.id], Date.now());
    // Before the gateway's next look, the broker has it set aside another large message.
    box.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', event(2));
    box.setAside(box.all()[0]!.seq);
    await waitFor(() => command.table.stillRequested([first!.id]).length === 0, 5000, 'the gateway takes the re-queue');
    expect(box.all().filter((r) => r.kind === 'event').map((r) => (JSON.parse(r.payload.toString()) as { n: number }).n)).toEqual([1]);
  });
});

describe('a re-queue while another process holds the file locked', () => {
  it('is retried at the next look, not taken for a failing disk', async () => {
    const path = join(folder(), 'outbox.sqlite');
    const registry = new Registry();
    const metrics = new FederationMetrics(registry);
    const { log, lines } = capturedLog<{ msg: string }>('warn');
    const box = outbox(path, { metrics, log });
    fill(box, 2);
    box.setAside(box.all()[0]!.seq);
    const [dead] = box.deadLetters();
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    command.table.requestRequeue([dead!.id], Date.now());
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      // Waits out the busy timeout (5 s), then gives up on this look.
      expect(box.takeRequeueRequests()).toBe(0);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(lines.some((l) => l.msg.startsWith('dead-letter re-queue requests not taken: another process holds the outbox file locked'))).toBe(true);
    expect(lines.some((l) => l.msg.startsWith('outbox commit failed'))).toBe(false);
    expect((await metrics.commitFailures.get()).values[0]?.value ?? 0).toBe(0);
    expect(box.takeRequeueRequests()).toBe(1);
  }, 30_000);
});

describe('ids', () => {
  it('are never reused, also after the newest entry left', async () => {
    const path = join(folder(), 'outbox.sqlite');
    const box = outbox(path);
    fill(box, 3);
    const telemetry = (): number[] => box.all().filter((r) => r.kind === 'telemetry').map((r) => r.seq);
    box.setAside(telemetry()[0]!);
    box.setAside(telemetry()[0]!);
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    command.table.drop([2]);
    box.setAside(telemetry()[0]!);
    expect(box.deadLetters().map((d) => [d.id, d.batchSeq])).toEqual([
      [1, 0],
      [3, 2],
    ]);
  });

  it('a file an earlier release wrote keeps its entries and ids, and takes re-queues', () => {
    const path = join(folder(), 'outbox.sqlite');
    // The tables as the release before re-queues created them.
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE outbox (
      seq INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL,
      readings INTEGER NOT NULL, batch_seq INTEGER, first_ts INTEGER, last_ts INTEGER,
      created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, payload BLOB NOT NULL);
      CREATE TABLE staging (id INTEGER PRIMARY KEY, reading TEXT NOT NULL);
      CREATE TABLE dead_letter (
      id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, boot_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL,
      readings INTEGER NOT NULL, batch_seq INTEGER, first_ts INTEGER, last_ts INTEGER, created_at INTEGER NOT NULL,
      set_aside_at INTEGER NOT NULL, reason TEXT NOT NULL, bytes INTEGER NOT NULL, payload BLOB NOT NULL);`);
    const event = Buffer.from(JSON.stringify({ v: 1, id: 'evt-0000001', gateway: 'gw-1', ts: 1, kind: 'system', severity: 'info', message: 'x' }));
    const t = Date.now() - 1000;
    old.prepare("INSERT INTO outbox VALUES (4, 'boot-0001', 'event', 'swarmgate/v1/site-a/gw-1/events', 0, NULL, NULL, NULL, ?, ?, ?)").run(t, event.length, event);
    old.prepare("INSERT INTO dead_letter VALUES (5, 3, 'boot-0001', 'event', 'swarmgate/v1/site-a/gw-1/events', 0, NULL, NULL, NULL, ?, ?, 'refused', ?, ?)").run(t - 10, t - 5, event.length, event);
    old.close();

    const box = outbox(path);
    expect(box.all().map((r) => [r.seq, r.requeues])).toEqual([[4, 0]]);
    expect(box.deadLetters().map((d) => [d.id, d.setAsideAt, d.requeues])).toEqual([[5, t - 5, 0]]);
    const command = openDeadLetters(path);
    cleanups.push(() => command.close());
    command.table.requestRequeue([5], Date.now());
    expect(box.takeRequeueRequests()).toBe(1);
    expect(box.all().map((r) => [r.seq, r.kind, r.requeues])).toEqual([
      [4, 'event', 0],
      [5, 'event', 1],
    ]);
    box.setAside(5);
    expect(box.deadLetters().map((d) => d.id)).toEqual([6]);
  });
});

it('another process dropping dead letters: the gauges follow', async () => {
  const path = join(folder(), 'outbox.sqlite');
  const registry = new Registry();
  const box = outbox(path, { metrics: new FederationMetrics(registry) });
  fill(box, 3);
  for (let i = 0; i < 3; i++) box.setAside(box.all()[0]!.seq);
  expect(box.deadLetterSummary()).toMatchObject({ count: 3 });
  const command = openDeadLetters(path);
  cleanups.push(() => command.close());
  expect(command.table.drop([1, 3]).map((d) => d.batchSeq)).toEqual([0, 2]);
  await waitFor(() => box.deadLetterSummary().count === 1, 5000, 'the outbox saw the drop');
  expect(await gauge(registry, 'swarmgate_federation_dead_letters')).toBe(1);
  expect(box.deadLetterSummary().bytes).toBe(box.deadLetters()[0]!.payload.length);
});
