/**
 * The run-time guard of a shared serial bus: `edge check` reports devices on one port with
 * different line settings (with file and line); the bus registry still refuses them when a
 * config reaches it without that check (a test, an embedding program).
 */
import { describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { createLogger } from '../../../shared/kit/log.js';
import { acquireBus, openBuses } from '../../../edge/drivers/modbus/rtu-bus.js';

const log = createLogger('rtu-bus-test');
const settings = { path: '/dev/ttyS-rtu-bus-test', baudRate: 19200, parity: 'none', dataBits: 8, stopBits: 1 } as const;

describe('rtu bus registry', () => {
  it('a second device on the port with other line settings is refused; the same settings share the bus', async () => {
    const first = acquireBus(settings, { log, reconnectBaseMs: 100 });
    let err: unknown;
    try {
      acquireBus({ ...settings, baudRate: 9600 }, { log, reconnectBaseMs: 100 });
    } catch (e) {
      err = e;
    }
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain('serial port /dev/ttyS-rtu-bus-test is already used at 19200 baud, 8N1');
    const second = acquireBus(settings, { log, reconnectBaseMs: 100 });
    expect(second.link).toBe(first.link);
    expect(openBuses()).toEqual([expect.objectContaining({ users: 2, open: false })]);
    await second.release();
    await first.release();
    expect(openBuses()).toEqual([]);
  });
});
