/**
 * ModbusLink against a scripted client: the per-link watchdog (a library that never calls back),
 * aborts on drop and close, one request at a time, and no timer left behind.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/kit/log.js';
import { ModbusLink, type ModbusClient } from '../../../edge/drivers/modbus/link.js';
import type { Reply, WireRequest } from '../../../edge/drivers/modbus/requests.js';

/** A client whose replies the test decides: each request waits for a call of `answer` (or forever). */
class ScriptedClient extends EventEmitter {
  readonly isOpen = true;
  readonly pending: { resolve: (v: { data: number[] }) => void; reject: (e: unknown) => void }[] = [];
  running = 0;
  maxRunning = 0;
  setID(): void {}
  setTimeout(): void {}
  readHoldingRegisters(start: number, count: number): Promise<{ data: number[] }> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise((resolve, reject) => {
      this.pending.push({
        resolve: (v) => {
          this.running--;
          resolve(v);
        },
        reject: (e) => {
          this.running--;
          reject(e);
        },
      });
      void start;
      void count;
    });
  }
  answerNext(data: number[] = [1]): void {
    this.pending.shift()?.resolve({ data });
  }
}

const log = createLogger('link-test');
const links: ModbusLink[] = [];

function scriptedLink(): { link: ModbusLink; client: ScriptedClient } {
  const client = new ScriptedClient();
  const link = new ModbusLink(async () => ({ client: client as unknown as ModbusClient, close: async () => undefined }), {
    name: 'scripted',
    log,
    reconnectBaseMs: 50,
  });
  links.push(link);
  return { link, client };
}

const read = (c: ModbusClient) => c.readHoldingRegisters(0, 1).then((r) => r.data);
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.close(true)));
});

describe('ModbusLink', () => {
  it('answers in order, one request at a time', async () => {
    const { link, client } = scriptedLink();
    await link.open();
    const replies = [link.exchange(1, 1000, 'a', read), link.exchange(1, 1000, 'b', read), link.exchange(1, 1000, 'c', read)];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      client.answerNext([i]);
    }
    expect(await Promise.all(replies)).toEqual([[0], [1], [2]]);
    expect(client.maxRunning).toBe(1);
    expect(link.pending).toBe(0);
  });

  it('the watchdog fails a request the library never answers, and the link goes on', async () => {
    const { link, client } = scriptedLink();
    await link.open();
    const started = Date.now();
    await expect(link.exchange(1, 20, 'reading holding 0..0', read)).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_TIMEOUT', message: 'no reply reading holding 0..0' });
    // timeoutMs + the 250 ms guard, not the library's own (never) answer; the bound leaves room for a loaded box.
    expect(Date.now() - started).toBeGreaterThanOrEqual(260);
    expect(Date.now() - started).toBeLessThan(2000);
    const next = link.exchange(1, 20, 'next', read);
    await new Promise((r) => setImmediate(r));
    client.pending.at(-1)?.resolve({ data: [7] });
    expect(await next).toEqual([7]);
  });

  it('a short deadline after a long one is still guarded on time', async () => {
    const { link, client } = scriptedLink();
    await link.open();
    const long = link.exchange(1, 5000, 'long', read);
    await new Promise((r) => setImmediate(r));
    client.answerNext();
    await long;
    const started = Date.now();
    await expect(link.exchange(1, 10, 'short', read)).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a dropped connection and close(force) fail the request in flight at once; nothing stays armed', async () => {
    const before = timers();
    const { link, client } = scriptedLink();
    await link.open();
    const dropped = link.exchange(1, 5000, 'dropped', read);
    await new Promise((r) => setImmediate(r));
    client.emit('close');
    await expect(dropped).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_NOT_CONNECTED' });
    expect(link.isOpen).toBe(false);

    const inFlight = link.exchange(1, 5000, 'in flight', read);
    await new Promise((r) => setImmediate(r));
    await link.close(true);
    await expect(inFlight).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_NOT_CONNECTED' });
    await expect(link.exchange(1, 100, 'after close', read)).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_NOT_CONNECTED' });
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('wire requests: a reply arriving after the watchdog gave up settles nothing and leaves the next request alone', async () => {
    const { link } = scriptedLink();
    await link.open();
    const replies: Reply<string>[] = [];
    const wire: WireRequest<string> = { wire: (_client, reply) => void replies.push(reply) };
    await expect(link.exchange(1, 10, 'slow', wire)).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_TIMEOUT' });
    const next = link.exchange(1, 1000, 'next', wire);
    await new Promise((r) => setImmediate(r));
    expect(replies).toHaveLength(2);
    replies[0]?.ok('late'); // the first request's reply, too late
    replies[1]?.ok('fresh');
    expect(await next).toBe('fresh');
    const failing = link.exchange(1, 1000, 'refused', wire);
    await new Promise((r) => setImmediate(r));
    replies[2]?.fail(Object.assign(new Error('Modbus exception 2: Illegal data address'), { modbusCode: 2 }));
    await expect(failing).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_EXCEPTION', details: { exceptionCode: 2 } });
  });

  it('a library that throws synchronously yields a rejection, not a throw', async () => {
    const { link } = scriptedLink();
    await link.open();
    const boom = (): Promise<number[]> => {
      throw new Error('Port Not Open');
    };
    await expect(link.exchange(1, 100, 'sync throw', boom)).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_NOT_CONNECTED' });
    expect(link.pending).toBe(0);
  });
});
