/**
 * A hub command while the SD card refuses writes (review of the outbox change that made enqueue()
 * never throw): the device is written, the outbox keeps the acks in memory, and the record of the
 * applied command (federation.json, on the same card) cannot be saved. The hub must still hear
 * "applied" once the card takes writes, not "rejected" with the disk error for a write that
 * reached the device; a redelivery in the same run is a duplicate, not a second write.
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandHandler } from '../../../edge/federation/commands.js';
import { FederationMetrics } from '../../../edge/federation/metrics.js';
import { Outbox } from '../../../edge/federation/outbox.js';
import { FederationState } from '../../../edge/federation/state.js';
import { CommandAckSchema, CommandSchema, decode, encode, type CommandAck } from '../../../shared/wire/index.js';
import { capturedLog } from '../../support/captured-log.js';
import { tempDir } from '../../support/tmp.js';
import { failOutboxWrites } from './helpers.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a hub command while the card refuses writes', () => {
  it('is applied once and acknowledged as applied once the card takes writes again', async () => {
    const dir = tempDir('swg-cmd-failing-disk-');
    cleanups.push(() => dir.remove());
    let mono = 0;
    const outboxPath = join(dir.path, 'outbox.sqlite');
    const outbox = new Outbox({ path: outboxPath, site: 'site-a', gateway: 'gw-1', flushMs: 20, monotonic: () => mono });
    cleanups.push(() => outbox.close());
    const state = await FederationState.open({ path: join(dir.path, 'federation.json'), gateway: 'gw-1', site: 'site-a' });
    const { log, lines } = capturedLog<{ msg: string; command?: string }>('error');
    const writes: unknown[] = [];
    const handler = new CommandHandler({
      site: 'site-a',
      gateway: 'gw-1',
      outbox,
      state,
      write: async (device, point, value) => void writes.push({ device, point, value }),
      metrics: new FederationMetrics(new Registry()),
      log,
    });

    const cure = failOutboxWrites(outboxPath);
    // federation.json is on the same card: the only way to fail its write here (the tests run as root).
    vi.spyOn(state, 'save').mockRejectedValue(Object.assign(new Error('EROFS: read-only file system, open federation.json'), { code: 'EROFS' }));
    const command = encode(CommandSchema, { v: 1, id: 'cmd-ro-000001', ts: Date.now(), origin: 'user:alice', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21.5 } });
    await handler.handle(command);
    // The broker delivers it again (the hub's retry, or a resumed session): remembered in this run.
    await handler.handle(command);
    expect(writes).toEqual([{ device: 'ahu1', point: 'setpoint', value: 21.5 }]);
    expect(lines.some((l) => l.command === 'cmd-ro-000001' && l.msg.startsWith('command applied, but the record of it could not be saved'))).toBe(true);

    cure();
    mono += 60_000;
    outbox.flush();
    const acks = outbox
      .all()
      .filter((r) => r.kind === 'ack')
      .map((r) => {
        const d = decode(CommandAckSchema, r.topic, r.payload);
        return d.ok ? d.value : undefined;
      });
    expect(acks.map((a?: CommandAck) => [a?.status, a?.duplicate ?? false])).toEqual([
      ['delivered', false],
      ['applied', false],
      ['applied', true],
    ]);
  });
});
