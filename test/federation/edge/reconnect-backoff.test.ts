import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff, reconnectWithBackoff } from '../../../edge/federation/reconnect.js';

describe('reconnect backoff', () => {
  it('widens the window per attempt (full jitter), caps it, and starts over after a success', () => {
    const top = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([99, 199, 399, 799, 999, 999]);
    top.reset();
    expect(top.next()).toBe(99);
    const bottom = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    expect(bottom.next()).toBe(0);
  });

  it('spreads a fleet: 10,000 first retries within one base period are not in lockstep', () => {
    const delays = Array.from({ length: 10_000 }, () => new Backoff({ baseMs: 5000, maxMs: 60_000 }).next());
    const perSecond = [0, 1, 2, 3, 4].map((s) => delays.filter((d) => d >= s * 1000 && d < (s + 1) * 1000).length);
    expect(Math.max(...delays)).toBeLessThan(5000);
    // Uniform over the period: each second gets about a fifth, none gets them all.
    for (const n of perSecond) expect(n).toBeGreaterThan(1500);
  });

  describe('against a listener that refuses', () => {
    let server: Server | undefined;
    const sockets = new Set<Socket>();
    afterEach(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    });

    it('retries an MQTT.js client with growing waits, and reconnects once the broker answers', async () => {
      const accepts: number[] = [];
      let answer = false;
      server = createServer((socket) => {
        sockets.add(socket);
        accepts.push(Date.now());
        socket.once('data', () => {
          // CONNACK: refused (server unavailable) until answer, then accepted.
          socket.write(Buffer.from([0x20, 0x02, 0x00, answer ? 0x00 : 0x03]));
          if (!answer) socket.end();
        });
      });
      await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as AddressInfo).port;
      const waits: number[] = [];
      const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, reconnectOnConnackError: true, connectTimeout: 2000, clientId: 'gw-backoff' });
      client.on('error', () => undefined);
      const stop = reconnectWithBackoff(client, new Backoff({ baseMs: 40, maxMs: 400, random: () => 0.999 }), (d) => waits.push(d));
      try {
        await new Promise((r) => setTimeout(r, 900));
        answer = true;
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        // Waits grew (39, 79, 159, 319, then capped at 399) rather than repeating one period.
        expect(waits.slice(0, 4)).toEqual([39, 79, 159, 319]);
        expect(accepts.length).toBeGreaterThanOrEqual(4);
        expect(accepts.length).toBeLessThan(10);
        // A success starts over: the next loss waits the base window again.
        waits.length = 0;
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        expect(waits[0]).toBe(39);
      } finally {
        stop();
        client.end(true);
      }
    });
  });
});
