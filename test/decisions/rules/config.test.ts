/**
 * Config checks of the local decision sections: schema errors name the rule's field with file and
 * line (the loader), semantic problems (unknown device/point, read-only outputs, kinds missing
 * their fields, unknown strategies and roles) name the rule or strategy with file and line too.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLocalDecisions, startLocalDecisions } from '../../../edge/decisions/index.js';
import { checkConfig, loadConfig } from '../../../edge/config/load.js';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import { formatProblem } from '../../../shared/kit/config-file.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { RuleEngine, MemoryReporter, createInterlockGuard } from '../../../edge/decisions/rules/index.js';
import { Gateway } from '../../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../../edge/runtime/metrics.js';
import { tempDir } from '../../support/tmp.js';
import { PROFILES } from './support.js';

const DEVICES = `gateway: { id: gw-check, site: test }
devices:
  - id: ahu1
    protocol: modbus-tcp
    profile: ${PROFILES}ahu-modbus.yaml
    connection: { host: 127.0.0.1, port: 1 }
  - id: coldroom
    protocol: opcua
    profile: ${PROFILES}cold-room-opcua.yaml
    connection: { endpointUrl: "opc.tcp://127.0.0.1:1/x" }
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: 1 } }
`;

describe('local decision config checks', () => {
  const dir = tempDir('swarmgate-ldcfg-');
  afterAll(() => dir.remove());
  let n = 0;
  const write = (text: string): string => {
    const file = join(dir.path, `gw${n++}.yaml`);
    writeFileSync(file, text);
    return file;
  };
  const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

  it('schema errors in a rule name the field, file and line', () => {
    const text = `${DEVICES}rules:
  list:
    - name: warm
      when: { kind: above, point: coldroom/temperature, onn: -10 }
      then: [{ write: io/backup_compressor_relay, value: true }]
    - name: bad-kind
      when: { kind: hotter, point: coldroom/temperature }
      then: [{ event: hot }]
`;
    const file = write(text);
    const { problems } = checkConfig(file, builtinDrivers());
    const lines = problems.map(formatProblem);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`:${lineOf(text, 'onn:')}:\\d+: rules\\.list\\[0\\]\\.when\\.onn: unknown key`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`:${lineOf(text, 'kind: hotter')}:\\d+: rules\\.list\\[1\\]\\.when\\.kind: expected one of "above", "below"`)));
  });

  it('semantic problems name the rule/strategy and field, with file and line', () => {
    const text = `${DEVICES}rules:
  list:
    - name: unknown-device
      when: { kind: above, point: nodev/temperature, on: 1 }
      then: [{ event: x }]
    - name: unknown-point
      when: { kind: below, point: coldroom/nope, on: 1 }
      then: [{ event: x }]
    - name: read-only-output
      when: { kind: above, point: coldroom/temperature, on: -10 }
      then: [{ write: coldroom/temperature, value: 1 }]
    - name: missing-on
      when: { kind: all, of: [{ kind: above, point: coldroom/temperature }, { kind: rate, point: coldroom/temperature }] }
      then: [{ write: ahu1/fan_speed_setpoint, value: 150 }]
  interlocks:
    - name: guard-read-only
      point: coldroom/door_open
      when: { kind: equals, point: io/door_contact, value: false }
    - name: guard-impossible
      point: ahu1/fan_speed_setpoint
      min: 120
      when: { kind: above, point: coldroom/temperature, on: -10 }
    - name: guard-floor
      point: ahu1/fan_speed_setpoint
      min: 60
      when: { kind: above, point: coldroom/temperature, on: -5 }
    - name: guard-other-condition
      point: ahu1/fan_speed_setpoint
      max: 10
      when: { kind: below, point: coldroom/temperature, on: -30 }
    - name: guard-ceiling
      point: ahu1/fan_speed_setpoint
      max: 40
      when: { kind: above, point: coldroom/temperature, on: -5 }
    - name: guard-history
      point: ahu1/fan_command
      value: true
      when: { kind: any, of: [{ kind: bad, device: coldroom }, { kind: rate, point: coldroom/temperature, above: 1 }] }
analytics:
  points:
    - { point: ahu1/no_such_point }
advisor:
  strategies:
    - kind: no-such-strategy
      bindings: {}
    - kind: freezer-protection
      bindings: { temperature: coldroom/temperature, backupRelay: coldroom/backup_compressor, colour: io/occupancy }
      params: { windowS: fast }
    - kind: fan-setback
      name: setback-typed
      bindings: { zoneTemperature: io/occupancy, occupancy: ahu1/return_air_temp, fanSpeed: ahu1/fan_speed_setpoint }
`;
    const file = write(text);
    const loaded = loadConfig(file, builtinDrivers());
    const lines = checkLocalDecisions(loaded).map(formatProblem);
    const expectLine = (needle: string, pattern: RegExp): void => {
      expect(lines, lines.join('\n')).toContainEqual(expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, '\\.')}:${lineOf(text, needle)}:\\d+: ${pattern.source}`)));
    };
    expectLine('nodev/temperature', /rules\.list\[0\]\.when\.point: rule "unknown-device": unknown device "nodev"/);
    expectLine('coldroom/nope', /rules\.list\[1\]\.when\.point: rule "unknown-point": device "coldroom" has no point "nope"/);
    expectLine('write: coldroom/temperature', /rules\.list\[2\]\.then\[0\]\.write: rule "read-only-output": coldroom\/temperature is read-only/);
    expectLine('kind: all, of:', /rules\.list\[3\]\.when\.of\[0\]\.on: rule "missing-on": condition kind "above" needs "on"/);
    expectLine('kind: all, of:', /rules\.list\[3\]\.when\.of\[1\]\.above: rule "missing-on": condition kind "rate" needs "above"/);
    expectLine('value: 150', /rules\.list\[3\]\.then\[0\]\.value: rule "missing-on": 150 is outside the limits of ahu1\/fan_speed_setpoint \[0, 100\]/);
    expectLine('point: coldroom/door_open', /rules\.interlocks\[0\]\.point: interlock "guard-read-only": coldroom\/door_open is read-only/);
    expectLine('min: 120', /rules\.interlocks\[1\]\.min: interlock "guard-impossible": min 120 is above ahu1\/fan_speed_setpoint's limit max 100, so while it holds every write is refused/);
    // Two bounds under the same condition that no value meets; one under another condition may never hold with them.
    expectLine('max: 40', /rules\.interlocks\[4\]\.max: interlocks "guard-floor" \(min 60\) and "guard-ceiling" \(max 40\) leave no value ahu1\/fan_speed_setpoint may take, so while their condition holds every write is refused/);
    expect(lines.filter((l) => l.includes('guard-other-condition')), lines.join('\n')).toEqual([]);
    // Conditions an interlock cannot judge at the moment of a write (never or always unknown there).
    expectLine('kind: bad, device: coldroom', /rules\.interlocks\[5\]\.when: interlock "guard-history": its condition uses "rate" \(it needs a history of readings\), "bad" with a device \(give a point of the device instead\), which an interlock cannot judge/);
    expectLine('ahu1/no_such_point', /analytics\.points\[0\]\.point: device "ahu1" has no point "no_such_point"/);
    expectLine('no-such-strategy', /advisor\.strategies\[0\]\.kind: strategy "no-such-strategy": unknown strategy kind/);
    expectLine('colour: io/occupancy', /advisor\.strategies\[1\]\.bindings\.colour: strategy "freezer-protection": unknown role "colour"/);
    expectLine('colour: io/occupancy', /advisor\.strategies\[1\]\.bindings\.backupRelay: .*written by the advisor but coldroom\/backup_compressor is read-only/);
    expectLine('windowS: fast', /advisor\.strategies\[1\]\.params\.windowS: .*must be a number/);
    expectLine('zoneTemperature: io/occupancy', /advisor\.strategies\[2\]\.bindings\.zoneTemperature: strategy "setback-typed": role "zoneTemperature" takes a number point, but io\/occupancy is a boolean point/);
    expectLine('zoneTemperature: io/occupancy', /advisor\.strategies\[2\]\.bindings\.occupancy: strategy "setback-typed": role "occupancy" takes a boolean point, but ahu1\/return_air_temp is a number point/);
    expect(() => createInterlockGuard(loaded)).toThrow(/interlock "guard-read-only"/);
  });

  it('values and comparisons of the wrong type for the point name the rule or interlock, field, file and line', () => {
    // io/backup_compressor_relay: GPIO, boolean; ahu1/fan_speed_setpoint: uint16 scaled 0.1, a number;
    // coldroom/compressor_fault: OPC UA Boolean; ahu1/serial_number: a Modbus string.
    const text = `${DEVICES}rules:
  list:
    - name: fault-string
      when: { kind: equals, point: coldroom/compressor_fault, value: "true" }
      then: [{ write: io/backup_compressor_relay, value: 1 }]
    - name: door-above
      when: { kind: above, point: io/door_contact, on: 0.5 }
      then: [{ write: ahu1/fan_speed_setpoint, value: "50" }]
    - name: serial-below
      when: { kind: any, of: [{ kind: below, point: ahu1/serial_number, on: 3 }, { kind: equals, point: ahu1/fan_speed_setpoint, value: "fast" }] }
      then: [{ event: odd }]
    - name: door-range
      when: { kind: range, point: coldroom/door_open, min: 0, max: 1 }
      then: [{ event: odd }]
      else: [{ write: ahu1/fan_speed_setpoint, value: true }]
    - name: fault-backup
      when: { kind: equals, point: coldroom/compressor_fault, value: true }
      then: [{ write: io/backup_compressor_relay, value: true }]
  outputs:
    - { point: io/backup_compressor_relay, safeValue: 1 }
  interlocks:
    - name: relay-number
      point: io/backup_compressor_relay
      value: 1
      when: { kind: equals, point: io/door_contact, value: 0 }
    - name: setpoint-string
      point: ahu1/fan_speed_setpoint
      value: "off"
    - name: relay-bounds
      point: io/backup_compressor_relay
      max: 0
      when: { kind: below, point: coldroom/door_open, on: 1 }
`;
    const file = write(text);
    const problems = checkGatewayConfigFile(file, builtinDrivers()).problems;
    const lines = problems.map(formatProblem);
    const expectLine = (needle: string, pattern: RegExp): void => {
      const line = needle.endsWith('\n') ? text.split('\n').findIndex((l) => l.trim() === needle.trim()) + 1 : lineOf(text, needle);
      expect(lines, lines.join('\n')).toContainEqual(expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, '\\.')}:${line}:\\d+: ${pattern.source}`)));
    };
    expectLine('value: "true"', /rules\.list\[0\]\.when\.value: rule "fault-string": coldroom\/compressor_fault is a boolean point, so value "true" \(a string\) never equals it: write true without quotes$/);
    expectLine('write: io/backup_compressor_relay, value: 1', /rules\.list\[0\]\.then\[0\]\.value: rule "fault-string": io\/backup_compressor_relay is a boolean point, so value 1 \(a number\) cannot be written to it: use true or false$/);
    expectLine('point: io/door_contact, on: 0.5', /rules\.list\[1\]\.when\.point: rule "door-above": condition kind "above" compares numbers, but io\/door_contact is a boolean point, so it is never true: use kind "equals" with value true or false$/);
    expectLine('value: "50"', /rules\.list\[1\]\.then\[0\]\.value: rule "door-above": ahu1\/fan_speed_setpoint is a number point \(uint16, scaled: a double in engineering units\), so value "50" \(a string\) cannot be written to it: write 50 without quotes$/);
    expectLine('ahu1/serial_number', /rules\.list\[2\]\.when\.of\[0\]\.point: rule "serial-below": condition kind "below" compares numbers, but ahu1\/serial_number is a string point, so it is never true: use kind "equals" with a quoted value$/);
    expectLine('ahu1/serial_number', /rules\.list\[2\]\.when\.of\[1\]\.value: rule "serial-below": ahu1\/fan_speed_setpoint is a number point \(uint16, scaled: a double in engineering units\), so value "fast" \(a string\) never equals it: use a number$/);
    expectLine('kind: range', /rules\.list\[3\]\.when\.point: rule "door-range": condition kind "range" compares numbers, but coldroom\/door_open is a boolean point/);
    expectLine('value: true }]', /rules\.list\[3\]\.else\[0\]\.value: rule "door-range": ahu1\/fan_speed_setpoint is a number point \(uint16, scaled: a double in engineering units\), so value true \(a boolean\) cannot be written to it: use a number$/);
    expectLine('safeValue: 1', /rules\.outputs\[0\]\.safeValue: output io\/backup_compressor_relay: io\/backup_compressor_relay is a boolean point, so value 1 \(a number\) cannot be written to it: use true or false$/);
    expectLine('value: 1\n', /rules\.interlocks\[0\]\.value: interlock "relay-number": io\/backup_compressor_relay is a boolean point, so value 1 \(a number\) never matches a write to it, so the interlock refuses nothing: use true or false$/);
    expectLine('point: io/door_contact, value: 0', /rules\.interlocks\[0\]\.when\.value: io\/door_contact is a boolean point, so value 0 \(a number\) never equals it: use true or false$/);
    expectLine('value: "off"', /rules\.interlocks\[1\]\.value: interlock "setpoint-string": ahu1\/fan_speed_setpoint is a number point \(uint16, scaled: a double in engineering units\), so value "off" \(a string\) never matches a write to it, so the interlock refuses nothing: use a number$/);
    expectLine('max: 0', /rules\.interlocks\[2\]\.max: interlock "relay-bounds": min\/max bound numbers, but io\/backup_compressor_relay is a boolean point, so while it holds every write is refused: use "value" to refuse one value$/);
    expectLine('point: coldroom/door_open, on: 1', /rules\.interlocks\[2\]\.when\.point: condition kind "below" compares numbers, but coldroom\/door_open is a boolean point/);
    expect(lines, lines.join('\n')).toHaveLength(14);
    // The gateway's start runs the same checks: the rule engine and the interlock guard refuse this config.
    expect(() => loadConfig(file, builtinDrivers())).not.toThrow();
    expect(() => createInterlockGuard(loadConfig(file, builtinDrivers()))).toThrow(/interlock "relay-number": io\/backup_compressor_relay is a boolean point/);
  });

  it('the engine and the whole layer refuse to start on such problems (SWG_ERR_CONFIG_INVALID)', async () => {
    const text = `${DEVICES}rules:
  list:
    - name: r1
      when: { kind: bad }
      then: [{ event: lost }]
    - name: r1
      when: { kind: equals, point: coldroom/door_open }
      then: [{ write: io/backup_compressor_relay }]
`;
    const loaded = loadConfig(write(text), builtinDrivers());
    const gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const config = (loaded.config as { rules?: ConstructorParameters<typeof RuleEngine>[0]['config'] }).rules ?? {};
    let message = '';
    try {
      new RuleEngine({ gateway, config, reporter: new MemoryReporter() });
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/SWG_ERR_CONFIG_INVALID|problem\(s\) in the rules/);
    expect(message).toContain('rules.list[0].when.point: rule "r1": condition kind "bad" needs exactly one of "point" or "device"');
    expect(message).toContain('rules.list[1].name: duplicate rule name "r1"');
    expect(message).toContain('rules.list[1].when.value: rule "r1": condition kind "equals" needs "value"');
    expect(message).toContain('rules.list[1].then[0].value: rule "r1": write io/backup_compressor_relay needs "value"');
    await expect(startLocalDecisions({ gateway })).rejects.toMatchObject({ code: 'SWG_ERR_CONFIG_INVALID' });
  });

  it('a valid config starts monitor, rules and advisor together, wired to one reporter', async () => {
    const text = `${DEVICES}dataDir: ${dir.path}/data
rules:
  list:
    - name: warm
      when: { kind: any, of: [{ kind: anomaly, point: coldroom/temperature, above: 0.9 }, { kind: above, point: coldroom/temperature, on: -12, off: -14, forS: 60 }] }
      then: [{ write: io/backup_compressor_relay, value: true }, { event: freezer warm, severity: critical }]
  outputs:
    - { point: io/backup_compressor_relay, safeValue: true, rateLimit: { max: 6, periodS: 3600 } }
  interlocks:
    - name: backup-door
      point: io/backup_compressor_relay
      value: true
      when: { kind: equals, point: io/door_contact, value: false }
analytics:
  points:
    - { point: coldroom/temperature, intervalMs: 60000 }
advisor:
  intervalS: 300
  classes: { safety: { threshold: 0.85 } }
  strategies:
    - kind: freezer-protection
      bindings: { temperature: coldroom/temperature, backupRelay: io/backup_compressor_relay }
`;
    const loaded = loadConfig(write(text), builtinDrivers());
    expect(checkLocalDecisions(loaded)).toEqual([]);
    expect(createInterlockGuard(loaded)).toBeTypeOf('function');
    const gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const local = await startLocalDecisions({ gateway, reporter: new MemoryReporter() });
    expect(local.monitor?.monitored).toEqual(['coldroom/temperature']);
    expect(local.rules?.ruleCount).toBe(1);
    expect(local.advisor).toBeDefined();
    await local.stop();
  });
});
