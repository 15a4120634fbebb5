/**
 * Safety of local actuation against the simulated facility (frozen physics, moved by hand): an
 * output goes to its safe value when the OPC UA device feeding its rule is lost, and interlocks
 * (Gateway write guards) refuse writes whoever asks — hub command, rule — until clear.
 */
import { describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { ruleSuite, waitFor } from './support.js';

const INTERLOCKS = `rules:
  interlocks:
    - name: backup-door
      point: io/backup_compressor_relay
      value: true
      when: { kind: equals, point: io/door_contact, value: false }
      message: never start the backup compressor while the cold-room door is open
    - name: fan-min-speed
      point: ahu1/fan_speed_setpoint
      when: { kind: equals, point: ahu1/fan_command, value: true }
      min: 20
`;

describe('safe state and interlocks against the simulated facility', () => {
  const suite = ruleSuite(INTERLOCKS);
  const { start, actions, model, setTemperature, reset, setDoor } = suite;

  it('safe state: the output goes to its safe value when the OPC UA device feeding its rule is lost, and back after', async () => {
    await reset();
    start({
      list: [
        {
          name: 'freezer-backup',
          when: { kind: 'above', point: 'coldroom/temperature', on: -10, off: -12 },
          then: [{ write: 'io/backup_compressor_relay', value: true }],
          else: [{ write: 'io/backup_compressor_relay', value: false }],
        },
      ],
      outputs: [{ point: 'io/backup_compressor_relay', safeValue: true }],
    });
    await waitFor('relay commanded off', () => suite.engine?.status().outputs[0]?.commanded === false);
    const fault = suite.sim.facility.faults.inject({ kind: 'offline', device: 'freezer' });
    try {
      const lostAt = Date.now();
      await waitFor('temperature bad', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'bad', 10_000);
      await waitFor('relay on (safe value)', () => model().coldRoom.backupCompressor, 5000);
      const reaction = Date.now() - lostAt;
      // The chip applies the write before the gateway hears back and records the action: wait for the record.
      const applied = (): ReturnType<typeof actions>[number] | undefined => actions().find((a) => a.data?.outcome === 'applied' && String(a.data?.origin).startsWith('safe-state'));
      await waitFor('safe-state action recorded', () => applied() !== undefined, 5000);
      expect(applied()).toMatchObject({ severity: 'warning', device: 'io', point: 'backup_compressor_relay', data: { value: true, reason: 'input coldroom/temperature bad' } });
      expect(reaction).toBeLessThan(10_000);
    } finally {
      // Cleared even when an expectation fails, so the next test does not start with the device lost.
      suite.sim.facility.faults.clear(fault);
    }
    await waitFor('temperature good again', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'good', 20_000);
    await waitFor('relay off again', () => !model().coldRoom.backupCompressor, 5000);
  });

  it('interlocks refuse writes from any origin (hub command, rule) and let them through once clear', async () => {
    await reset();
    await setDoor(true);
    const code = async (p: Promise<void>): Promise<string> => p.then(() => 'applied', (err: unknown) => (isSwarmgateError(err) ? err.code : String(err)));
    expect(await code(suite.sim.gateway.write('io', 'backup_compressor_relay', true, 'hub:operator'))).toBe('SWG_ERR_INTERLOCK');
    await expect(suite.sim.gateway.write('io', 'backup_compressor_relay', true)).rejects.toThrow(/interlock "backup-door".*door is open/);
    // The same value in another spelling is the same write: the relay driver would switch on for 1 or "on".
    for (const spelling of [1, 'on', '1', 'true'] as const) expect(await code(suite.sim.gateway.write('io', 'backup_compressor_relay', spelling, 'hub:operator'))).toBe('SWG_ERR_INTERLOCK');
    expect(await code(suite.sim.gateway.write('io', 'backup_compressor_relay', 'maybe', 'hub:operator'))).toBe('SWG_ERR_POINT_TYPE');
    expect(model().coldRoom.backupCompressor).toBe(false);
    // Switching it off is always allowed.
    expect(await code(suite.sim.gateway.write('io', 'backup_compressor_relay', false))).toBe('applied');

    start({ list: [{ name: 'warm', when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'io/backup_compressor_relay', value: true }] }] });
    await setTemperature(-5);
    await waitFor('refused local action', () => actions().some((a) => a.data?.outcome === 'refused'));
    expect(actions().find((a) => a.data?.outcome === 'refused')).toMatchObject({ data: { code: 'SWG_ERR_INTERLOCK', rule: 'warm' } });
    expect(model().coldRoom.backupCompressor).toBe(false);
    await suite.stopEngine();

    await setDoor(false);
    expect(await code(suite.sim.gateway.write('io', 'backup_compressor_relay', true))).toBe('applied');
    await waitFor('relay on', () => model().coldRoom.backupCompressor);

    await suite.sim.gateway.write('ahu1', 'fan_command', true);
    await waitFor('fan command read back', () => suite.sim.gateway.latest('ahu1', 'fan_command')?.value === true);
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', 10))).toBe('SWG_ERR_INTERLOCK');
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', '10'))).toBe('SWG_ERR_INTERLOCK');
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', 'fast'))).toBe('SWG_ERR_POINT_TYPE');
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', '0x30'))).toBe('SWG_ERR_POINT_TYPE');
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', 35))).toBe('applied');
    await suite.sim.gateway.write('ahu1', 'fan_command', false);
    await waitFor('fan command off read back', () => suite.sim.gateway.latest('ahu1', 'fan_command')?.value === false);
    expect(await code(suite.sim.gateway.write('ahu1', 'fan_speed_setpoint', 10))).toBe('applied');
  });

  it("an operator's override is not fought, but losing the rule's input still applies the safe value", async () => {
    await reset();
    start({
      list: [{ name: 'warm', when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'io/backup_compressor_relay', value: true }] }],
      outputs: [{ point: 'io/backup_compressor_relay', safeValue: true }],
    });
    await setTemperature(-5);
    await waitFor('relay on', () => model().coldRoom.backupCompressor);
    await suite.sim.gateway.write('io', 'backup_compressor_relay', false, 'hub:operator');
    await waitFor('relay off by the operator', () => !model().coldRoom.backupCompressor);
    await new Promise((r) => setTimeout(r, 600));
    expect(model().coldRoom.backupCompressor).toBe(false); // not fought
    const fault = suite.sim.facility.faults.inject({ kind: 'offline', device: 'freezer' });
    try {
      await waitFor('temperature bad', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'bad', 10_000);
      await waitFor('relay on (safe value)', () => model().coldRoom.backupCompressor, 5000);
    } finally {
      suite.sim.facility.faults.clear(fault);
    }
    await waitFor('temperature good again', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'good', 20_000);
  });

  it('a write an interlock refused does not use up the rate limit: the relay switches once the door is shut', async () => {
    await reset();
    await setDoor(true);
    start({
      list: [{ name: 'warm', when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'io/backup_compressor_relay', value: true }] }],
      outputs: [{ point: 'io/backup_compressor_relay', rateLimit: { max: 1, periodS: 3600 } }],
    });
    await setTemperature(-5);
    await waitFor('refused local action', () => actions().some((a) => a.data?.outcome === 'refused'));
    await setDoor(false);
    // The retry (5 s after the refusal) is the one write of the hour: it switches the relay.
    await waitFor('relay on', () => model().coldRoom.backupCompressor, 10_000);
    expect(actions().map((a) => a.data?.outcome)).toEqual(['refused', 'applied']);
  });
});
