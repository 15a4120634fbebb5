import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startGpioChipServer, type GpioChipServer } from '../../devices/gpio/chip-server.js';
import { waitFor } from './support.js';

/** Minimal JSON-lines client: request/response by id, plus collected pushes. */
class LineClient {
  readonly events: Array<{ event: string; line: number; value: number; ts: number }> = [];
  private readonly waiting = new Map<number, (msg: Record<string, unknown>) => void>();
  private nextId = 1;
  private buffer = '';

  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, nl)) as Record<string, unknown>;
        this.buffer = this.buffer.slice(nl + 1);
        if (msg.event === 'edge') this.events.push(msg as unknown as LineClient['events'][number]);
        else if (typeof msg.id === 'number') this.waiting.get(msg.id)?.(msg);
      }
    });
  }

  static open(host: string, port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port }, () => resolve(new LineClient(sock)));
      sock.once('error', reject);
    });
  }

  request(body: Record<string, unknown>, timeoutMs = 1000): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to request ${id}`));
      }, timeoutMs);
      this.waiting.set(id, (msg) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(msg);
      });
      this.sock.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  raw(text: string): void {
    this.sock.write(text);
  }

  close(): void {
    this.sock.destroy();
  }
}

describe('GPIO sim chip (TCP JSON lines)', () => {
  let chip: GpioChipServer;
  let client: LineClient;

  beforeAll(async () => {
    chip = await startGpioChipServer({ speed: 0, seed: 8 });
    client = await LineClient.open(chip.host, chip.port);
  });

  afterAll(async () => {
    client?.close();
    await chip?.stop();
  });

  it('info lists the lines', async () => {
    const info = await client.request({ op: 'info' });
    expect(info.label).toBe('swarmgate-sim');
    expect(info.lines).toEqual([
      { line: 17, name: 'door_contact', direction: 'in' },
      { line: 27, name: 'occupancy', direction: 'in' },
      { line: 22, name: 'backup_compressor_relay', direction: 'out' },
      { line: 23, name: 'ahu_enable_relay', direction: 'out' },
    ]);
  });

  it('read mirrors the physics (door contact raw 1 = closed)', async () => {
    chip.model.setDoorOverride(false);
    expect((await client.request({ op: 'read', line: 17 })).value).toBe(1);
    chip.model.setDoorOverride(true);
    expect((await client.request({ op: 'read', line: 17 })).value).toBe(0);
    chip.model.setDoorOverride(undefined);
    expect((await client.request({ op: 'read', line: 23 })).value).toBe(1);
  });

  it('write drives the physics; errors are answered per request', async () => {
    expect(await client.request({ op: 'write', line: 22, value: 1 })).toMatchObject({ ok: true });
    expect(chip.model.coldRoom.backupCompressor).toBe(true);
    expect(await client.request({ op: 'write', line: 23, value: 0 })).toMatchObject({ ok: true });
    expect(chip.model.ahu.enableRelay).toBe(false);
    await client.request({ op: 'write', line: 23, value: 1 });
    expect((await client.request({ op: 'write', line: 17, value: 1 })).error).toBe('line 17 is an input');
    expect((await client.request({ op: 'read', line: 99 })).error).toBe('line 99 does not exist');
    expect((await client.request({ op: 'write', line: 22, value: 5 })).error).toMatch(/0 or 1/);
    expect((await client.request({ op: 'frobnicate' })).error).toMatch(/unknown op/);
  });

  it('claim applies an output\'s initial level once per power-up; a later claim (gateway restart) finds it held', async () => {
    const fresh = await startGpioChipServer({ speed: 0, seed: 9 });
    const a = await LineClient.open(fresh.host, fresh.port);
    try {
      expect(await a.request({ op: 'claim', line: 22, initial: 1 })).toMatchObject({ ok: true, held: false, value: 1 });
      expect(fresh.model.coldRoom.backupCompressor).toBe(true);
      a.close();
      const b = await LineClient.open(fresh.host, fresh.port);
      expect(await b.request({ op: 'claim', line: 22, initial: 0 })).toMatchObject({ ok: true, held: true, value: 1 });
      expect(fresh.model.coldRoom.backupCompressor).toBe(true);
      // A line written before it was claimed is held too; inputs are never held.
      expect(await b.request({ op: 'write', line: 23, value: 0 })).toMatchObject({ ok: true });
      expect(await b.request({ op: 'claim', line: 23, initial: 1 })).toMatchObject({ held: true, value: 0 });
      expect(await b.request({ op: 'claim', line: 17 })).toMatchObject({ ok: true, held: false });
      expect((await b.request({ op: 'claim', line: 22, initial: 7 })).error).toMatch(/initial must be 0 or 1/);
      b.close();
    } finally {
      a.close();
      await fresh.stop();
    }
  });

  it('watch pushes edges on level changes (physics and writes)', async () => {
    expect(await client.request({ op: 'watch', line: 17 })).toMatchObject({ ok: true });
    expect(await client.request({ op: 'watch', line: 22 })).toMatchObject({ ok: true });
    // Start from a known level: the door schedule follows the wall clock, so the door may be open
    // already when this test runs, and setting it open again would be no edge at all.
    chip.model.setDoorOverride(false);
    chip.model.step(1);
    await client.request({ op: 'read', line: 17 });
    client.events.length = 0;
    chip.model.setDoorOverride(true);
    chip.model.step(1);
    await waitFor(() => client.events.some((e) => e.line === 17 && e.value === 0));
    chip.model.setDoorOverride(false);
    chip.model.step(1);
    await waitFor(() => client.events.some((e) => e.line === 17 && e.value === 1));
    await client.request({ op: 'write', line: 22, value: 0 });
    await waitFor(() => client.events.some((e) => e.line === 22 && e.value === 0));
    const edge = client.events[0];
    expect(edge?.event).toBe('edge');
    expect(Math.abs((edge?.ts ?? 0) - Date.now())).toBeLessThan(5000);
    // Unwatched lines do not push.
    expect(client.events.every((e) => e.line === 17 || e.line === 22)).toBe(true);
  });

  it('offline stops answers and pushes; invalid JSON gets an error line', async () => {
    const id = chip.faults.inject({ kind: 'offline', device: 'gpio' });
    await expect(client.request({ op: 'info' }, 200)).rejects.toThrow(/no answer/);
    chip.faults.clear(id);
    expect((await client.request({ op: 'read', line: 27 })).value).toBeTypeOf('number');
  });
});
