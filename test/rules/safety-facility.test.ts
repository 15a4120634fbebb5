/**
 * Safety of local actuation against the simulated facility (frozen physics, moved by hand): an
 * output goes to its safe value when the OPC UA device feeding its rule is lost, and interlocks
 * (Gateway write guards) refuse writes whoever asks — hub command, rule — until clear.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import { MemoryReporter, RuleEngine, type RulesConfig } from '../../edge/rules/index.js';
import { isSwarmgateError } from '../../shared/errors.js';
import { controls, startSimGateway, waitFor, type SimGateway } from './support.js';

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
  let sim: SimGateway;
  let engine: RuleEngine | undefined;
  let reporter: MemoryReporter;

  beforeAll(async () => {
    sim = await startSimGateway(INTERLOCKS, { facility: { speed: 0 }, pollMs: 100 });
  });
  afterAll(async () => {
    await sim?.stop();
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  const model = () => sim.facility.model;
  const setTemperature = (c: number): Promise<void> => controls(sim).setTemperature(c);
  const setDoor = (open: boolean): Promise<void> => controls(sim).setDoor(open);
  const reset = (): Promise<void> => controls(sim).reset();
  function start(config: RulesConfig): RuleEngine {
    reporter = new MemoryReporter();
    engine = new RuleEngine({ gateway: sim.gateway, config: { evaluateEveryMs: 100, ...config }, reporter });
    engine.start();
    return engine;
  }
  const actions = (): GatewayEvent[] => reporter.events.filter((e) => e.kind === 'local-action');

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
    await waitFor('relay commanded off', () => engine?.status().outputs[0]?.commanded === false);
    const fault = sim.facility.faults.inject({ kind: 'offline', device: 'freezer' });
    const lostAt = Date.now();
    await waitFor('temperature bad', () => sim.gateway.latest('coldroom', 'temperature')?.quality === 'bad', 10_000);
    await waitFor('relay on (safe value)', () => model().coldRoom.backupCompressor, 5000);
    const reaction = Date.now() - lostAt;
    const safe = actions().find((a) => a.data?.outcome === 'applied' && String(a.data?.origin).startsWith('safe-state'));
    expect(safe).toMatchObject({ severity: 'warning', device: 'io', point: 'backup_compressor_relay', data: { value: true, reason: 'input coldroom/temperature bad' } });
    expect(reaction).toBeLessThan(10_000);
    sim.facility.faults.clear(fault);
    await waitFor('temperature good again', () => sim.gateway.latest('coldroom', 'temperature')?.quality === 'good', 20_000);
    await waitFor('relay off again', () => !model().coldRoom.backupCompressor, 5000);
  });

  it('interlocks refuse writes from any origin (hub command, rule) and let them through once clear', async () => {
    await reset();
    await setDoor(true);
    const code = async (p: Promise<void>): Promise<string> => p.then(() => 'applied', (err: unknown) => (isSwarmgateError(err) ? err.code : String(err)));
    expect(await code(sim.gateway.write('io', 'backup_compressor_relay', true, 'hub:operator'))).toBe('SWG_ERR_INTERLOCK');
    await expect(sim.gateway.write('io', 'backup_compressor_relay', true)).rejects.toThrow(/interlock "backup-door".*door is open/);
    expect(model().coldRoom.backupCompressor).toBe(false);
    // Switching it off is always allowed.
    expect(await code(sim.gateway.write('io', 'backup_compressor_relay', false))).toBe('applied');

    start({ list: [{ name: 'warm', when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'io/backup_compressor_relay', value: true }] }] });
    await setTemperature(-5);
    await waitFor('refused local action', () => actions().some((a) => a.data?.outcome === 'refused'));
    expect(actions().find((a) => a.data?.outcome === 'refused')).toMatchObject({ data: { code: 'SWG_ERR_INTERLOCK', rule: 'warm' } });
    expect(model().coldRoom.backupCompressor).toBe(false);
    await engine?.stop();
    engine = undefined;

    await setDoor(false);
    expect(await code(sim.gateway.write('io', 'backup_compressor_relay', true))).toBe('applied');
    await waitFor('relay on', () => model().coldRoom.backupCompressor);

    await sim.gateway.write('ahu1', 'fan_command', true);
    await waitFor('fan command read back', () => sim.gateway.latest('ahu1', 'fan_command')?.value === true);
    expect(await code(sim.gateway.write('ahu1', 'fan_speed_setpoint', 10))).toBe('SWG_ERR_INTERLOCK');
    expect(await code(sim.gateway.write('ahu1', 'fan_speed_setpoint', 35))).toBe('applied');
    await sim.gateway.write('ahu1', 'fan_command', false);
    await waitFor('fan command off read back', () => sim.gateway.latest('ahu1', 'fan_command')?.value === false);
    expect(await code(sim.gateway.write('ahu1', 'fan_speed_setpoint', 10))).toBe('applied');
  });
});
