/**
 * A telemetry batch fits the wire limit whatever its text: the outbox counted a JSON reading's
 * characters, not its bytes, so a batch of text readings in "°" or "€" grew to 380-570 KiB, over
 * the 256 KiB the hub's broker takes (it closes the connection on a larger publish, and the
 * gateway's link stalls behind it).
 */
import { afterEach, expect, it } from 'vitest';
import { Outbox } from '../../../edge/federation/outbox.js';
import { MAX_BATCH_BYTES } from '../../../edge/federation/telemetry.js';
import { MIN_BROKER_PAYLOAD_BYTES } from '../../../hub/config.js';
import { tempDir } from '../../support/tmp.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

for (const encoding of ['json', 'binary'] as const) {
  it(`${encoding}: batches of multi-byte text readings stay within the batch bound in bytes`, () => {
    for (const ch of ['x', '°', '€', '😀']) {
      const dir = tempDir('swg-outbox-bytes-');
      const outbox = new Outbox({ path: `${dir.path}/outbox.db`, site: 's', gateway: 'g', batchMax: 100_000, flushMs: 60_000, encoding });
      cleanups.push(() => {
        outbox.close();
        dir.remove();
      });
      const t0 = Date.now();
      for (let i = 0; i < 600; i++) outbox.addReading({ device: 'd', point: 'p', value: ch.repeat(1024), quality: 'good', ts: t0 + i });
      outbox.flush();
      const { rows } = outbox.next(0, Number.MAX_SAFE_INTEGER, 100);
      expect(rows.reduce((n, r) => n + r.readings, 0)).toBe(600);
      for (const r of rows) {
        expect(r.payload.length, `${encoding} "${ch}": ${r.readings} readings in ${r.payload.length} bytes`).toBeLessThanOrEqual(MAX_BATCH_BYTES + 4096);
        expect(r.payload.length).toBeLessThan(MIN_BROKER_PAYLOAD_BYTES);
      }
    }
  });
}
