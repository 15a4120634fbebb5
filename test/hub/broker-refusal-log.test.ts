/**
 * Refusals are counted one by one but logged rate-limited: a client flooding the embedded broker
 * with denied subscriptions, denied publishes or wrong passwords gets its first refusal per cause
 * logged and the rest summed into one summary line, while the metrics count every one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { capturedLog } from '../support/captured-log.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, closed, connectClient, endAll } from './helpers.js';

interface LogLine {
  msg: string;
  clientId?: string;
  username?: string;
  suppressed?: number;
}

describe('refusal logging under a flood', () => {
  const dir = tempDir('swarmgate-hub-refusal-log-');
  const credentialsFile = `${dir.path}/users.yaml`;
  const { log, lines } = capturedLog<LogLine>('warn');
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];
  let closedBroker = false;

  beforeAll(async () => {
    await addUsers(credentialsFile, [
      { spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' },
      { spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2' }, password: 'gw-2-password' },
    ]);
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, logger: log });
  });

  afterAll(async () => {
    await endAll(clients);
    if (!closedBroker) await broker.close();
    dir.remove();
  });

  /** Lines logged about one client and message, and the refusals they stand for (first + suppressed). */
  const tally = (msg: string, match: (l: LogLine) => boolean): { lines: number; refusals: number } => {
    const mine = lines.filter((l) => l.msg.startsWith(msg) && match(l));
    return { lines: mine.length, refusals: mine.reduce((n, l) => n + (l.suppressed ?? 1), 0) };
  };

  it('logs a flood of denied subscriptions, publishes and wrong passwords once per client and cause, with counts', async () => {
    const gw = await connectClient(broker.url, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1' });
    clients.push(gw);
    const started = Date.now();
    const SUBSCRIBES = 200;
    for (let i = 0; i < SUBSCRIBES; i++) await gw.subscribeAsync(`swarmgate/v1/site-a/gw-2/commands/${i}`, { qos: 1 }).catch(() => undefined);

    // A publish into another gateway's subtree closes the connection; the client reconnects and
    // does it again (what a misconfigured gateway does in its reconnect loop).
    const PUBLISHES = 30;
    for (let i = 0; i < PUBLISHES; i++) {
      const flooder = await connectClient(broker.url, { username: 'gw-2', password: 'gw-2-password', clientId: 'gw-2' });
      flooder.publish('swarmgate/v1/site-a/gw-1/telemetry', 'forged', { qos: 0 });
      expect(await closed(flooder)).toBe(true);
    }

    const WRONG = 15;
    for (let i = 0; i < WRONG; i++) await connectClient(broker.url, { username: 'gw-1', password: 'not-the-password', clientId: 'gw-1' }).catch(() => undefined);

    const subscribeDenied = await broker.metrics.count(broker.metrics.subscribeDenied);
    const publishDenied = await broker.metrics.count(broker.metrics.publishDenied);
    const authFailures = await broker.metrics.count(broker.metrics.authFailures);
    expect(subscribeDenied).toBe(SUBSCRIBES);
    expect(publishDenied).toBe(PUBLISHES);
    expect(authFailures).toBe(WRONG);

    // Pending summaries are written when the broker closes.
    await endAll(clients);
    await broker.close();
    closedBroker = true;

    const subs = tally('subscribe denied', (l) => l.clientId === 'gw-1');
    const pubs = tally('publish denied', (l) => l.clientId === 'gw-2');
    const auth = tally('connection refused', (l) => l.username === 'gw-1');
    // The first line, then one summary per 10 s interval the flood lasted (one or two, more on a loaded box).
    const allowed = 2 + Math.floor((Date.now() - started) / 10_000);
    expect(subs.lines).toBeLessThanOrEqual(allowed);
    expect(pubs.lines).toBeLessThanOrEqual(allowed);
    expect(auth.lines).toBeLessThanOrEqual(allowed);
    expect(allowed).toBeLessThan(PUBLISHES);
    // Every refusal is accounted for in the log: the first line plus the summary's count.
    expect(subs.refusals).toBe(subscribeDenied);
    expect(pubs.refusals).toBe(publishDenied);
    expect(auth.refusals).toBe(authFailures);
  });
});

describe('an oversize publish from a gateway', () => {
  const dir = tempDir('swarmgate-hub-oversize-log-');
  const credentialsFile = `${dir.path}/users.yaml`;
  const { log, lines } = capturedLog<LogLine & { site?: string; gateway?: string; topic?: string; size?: number; limit?: number }>('warn');
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];
  let closedBroker = false;

  beforeAll(async () => {
    await addUsers(credentialsFile, [{ spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' }]);
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, logger: log, maxPayloadBytes: 4096 });
  });

  afterAll(async () => {
    await endAll(clients);
    if (!closedBroker) await broker.close();
    dir.remove();
  });

  it('is logged as a warning naming the gateway, topic, size and limit, once and then in summaries, however often the gateway sends it again', async () => {
    // What a gateway whose outbox holds a row over the limit does: reconnect, send it first, be closed.
    const SENDS = 20;
    const topic = 'swarmgate/v1/site-a/gw-1/telemetry';
    for (let i = 0; i < SENDS; i++) {
      const gw = await connectClient(broker.url, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1' });
      clients.push(gw);
      gw.publish(topic, Buffer.alloc(5000, 32), { qos: 1 });
      expect(await closed(gw)).toBe(true);
    }
    expect(await broker.metrics.count(broker.metrics.payloadRejected)).toBe(SENDS);
    await endAll(clients);
    await broker.close();
    closedBroker = true;
    const mine = lines.filter((l) => l.msg.startsWith('payload rejected'));
    expect(mine.length).toBeLessThanOrEqual(2);
    expect(mine[0]).toMatchObject({ site: 'site-a', gateway: 'gw-1', topic, size: 5000, limit: 4096 });
    expect(mine[0]!.msg).toBe(`payload rejected: 5000 bytes on ${topic} exceed broker.maxPayloadBytes (4096); the connection is closed, and a gateway that sends it again first delivers nothing after it`);
    expect(mine.reduce((n, l) => n + (l.suppressed ?? 1), 0)).toBe(SENDS);
  });
});
