/**
 * A polled device's state comes from all its poll groups, not from whichever ran last: a fast group
 * whose only point the device refuses (exception 2, a register its firmware lacks) and a slow group
 * that reads fine keep the device up; once the device stops answering at all it goes down.
 * Against a real Modbus TCP slave.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { DeviceRunner, type DeviceState } from '../../edge/runtime/device-runner.js';
import { GatewayMetrics } from '../../edge/runtime/metrics.js';
import { context, point, tcpDriver } from '../drivers/modbus/helpers.js';
import { startTcpSlave, type TcpSlave } from '../drivers/modbus/tcp-slave.js';
import { waitFor } from '../drivers/support.js';

let slave: TcpSlave | undefined;
let runner: DeviceRunner | undefined;
afterEach(async () => {
  await runner?.stop(true);
  await slave?.close();
  runner = undefined;
  slave = undefined;
});

describe('device state with several poll groups', () => {
  it('stays up while one group reads fine although another group is refused; down once nothing answers', async () => {
    const s = await startTcpSlave();
    slave = s;
    s.regs[0] = 215;
    const points = [point('alarm_word', { register: 150 }, { pollIntervalMs: 50 }), point('supply_temp', { register: 0 }, { pollIntervalMs: 300 })];
    const driver = tcpDriver({ host: '127.0.0.1', port: s.port, timeoutMs: 300, retries: 0 }, points, 'ahu1');
    const states: DeviceState[] = [];
    const readings: Reading[] = [];
    const r = new DeviceRunner({
      spec: { id: 'ahu1', protocol: 'modbus-tcp', connection: {}, points },
      driver,
      log: context.log,
      metrics: new GatewayMetrics(),
      onReadings: (batch) => readings.push(...batch),
      onState: (state) => states.push(state),
    });
    runner = r;
    r.start();

    // Several polls of both groups: the refused one's every poll, the good one's a few times.
    const count = (name: string, quality: Reading['quality']): number => readings.filter((x) => x.point === name && x.quality === quality).length;
    await waitFor(() => (count('supply_temp', 'good') >= 4 && count('alarm_word', 'bad') >= 12 ? true : undefined), 30_000, 'polls of both groups');
    expect(readings.find((x) => x.point === 'alarm_word')?.cause).toContain('ILLEGAL DATA ADDRESS');
    expect(states).toEqual(['up']);
    expect(r.status.state).toBe('up');

    await s.close();
    slave = undefined;
    await waitFor(() => (r.status.state === 'down' ? true : undefined), 30_000, 'the device down once it answers no group');
    expect(states).toEqual(['up', 'down']);
  });
});
