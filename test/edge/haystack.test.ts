import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConfig, loadConfig } from '../../edge/config/load.js';
import { normalizeTags, proposeTags, tagProblems, type TagProposalInput } from '../../edge/config/haystack.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { formatProblem } from '../../shared/kit/config-file.js';
import { tempDir } from '../support/tmp.js';

const registry = builtinDrivers();
const dir = tempDir('swarmgate-haystack-');
afterAll(() => dir.remove());

function write(name: string, text: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

const profile = (points: string): string => `profile: tagged
protocol: modbus
points:
${points}`;

const config = (overrides = ''): string => `gateway: { id: gw-1, site: s }
devices:
  - id: ahu1
    protocol: modbus-tcp
    profile: tagged.yaml
    connection: { host: 127.0.0.1 }
${overrides}`;

describe('haystack vocabulary: rules', () => {
  it.each([
    { tags: ['discharge', 'air', 'temp', 'sensor'], point: { unit: 'degC' }, problems: [] },
    { tags: ['point', 'chilled', 'water', 'supply', 'temp', 'sensor'], point: {}, problems: [] },
    { tags: ['discharge', 'air', 'temp'], point: {}, problems: ['exactly one of sensor'] },
    { tags: ['zone', 'air', 'temp', 'sensor', 'sp'], point: {}, problems: ['"sensor" and "sp"'] },
    { tags: ['temperature', 'sensor'], point: {}, problems: ['unknown marker "temperature"; Haystack writes "temp"'] },
    { tags: ['dischrge', 'air', 'temp', 'sensor'], point: {}, problems: ['did you mean "discharge"'] },
    { tags: ['Temp', 'sensor'], point: {}, problems: ['not a Haystack tag name'] },
    { tags: ['temp', 'humidity', 'sensor'], point: {}, problems: ['two quantities'] },
    { tags: ['supply', 'air', 'temp', 'sensor'], point: {}, problems: ['write "discharge" instead of "supply"'] },
    { tags: ['chilled', 'supply', 'temp', 'sensor'], point: {}, problems: ['add "water"'] },
    { tags: ['zone', 'air', 'temp', 'sensor'], point: { unit: 'kWh' }, problems: ['does not fit the point\'s unit "kWh", which measures energy'] },
    { tags: ['damper', 'sensor'], point: { writable: true }, problems: ['writable but tagged "sensor"'] },
    { tags: ['temp', 'sp', 'writable'], point: { writable: true }, problems: ['set `writable: true`'] },
    { tags: ['temp', 'temp', 'sensor'], point: {}, problems: ['given twice'] },
  ])('$tags ($point) -> $problems', ({ tags, point, problems }) => {
    const found = tagProblems(tags, point).map((p) => p.message);
    expect(found).toHaveLength(problems.length);
    problems.forEach((expected, i) => expect(found[i]).toContain(expected));
  });

  it('normalizes to reading order without the implied point', () => {
    expect(normalizeTags(['sensor', 'temp', 'air', 'point', 'discharge'])).toEqual(['discharge', 'air', 'temp', 'sensor']);
    expect(normalizeTags(['temp', 'supply', 'water', 'chilled', 'sensor'])).toEqual(['chilled', 'water', 'supply', 'temp', 'sensor']);
  });
});

describe('haystack tags in profiles and overrides: problems with file, line and point', () => {
  it('reports each bad tag at its line in the profile, naming the point', () => {
    write('tagged.yaml', profile(`  - name: supply_air_temp
    unit: degC
    address: { table: input, register: 0, type: float32 }
    tags:
      - supply
      - air
      - temprature
      - sensor
  - name: damper_cmd
    unit: "%"
    writable: true
    address: { table: holding, register: 0, type: uint16 }
    tags: [damper]
`));
    const result = checkConfig(write('gw.yaml', config()), registry);
    const lines = result.problems.map(formatProblem);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/tagged\.yaml:8:.*points\[0\]\.tags\[0\].*point "supply_air_temp".*"discharge" instead of "supply"/);
    expect(lines[1]).toMatch(/tagged\.yaml:10:.*points\[0\]\.tags\[2\].*point "supply_air_temp": unknown marker "temprature"; did you mean "temp"\?/);
    expect(lines[2]).toMatch(/tagged\.yaml:16:.*points\[1\]\.tags.*point "damper_cmd".*exactly one of sensor/);
  });

  it('reports a site override\'s tags at its line in the gateway config, against the merged unit', () => {
    write('tagged.yaml', profile(`  - name: zone_temp
    unit: degC
    address: { table: input, register: 0, type: float32 }
    tags: [zone, air, temp, sensor]
`));
    const file = write('gw.yaml', config(`    points:
      zone_temp:
        tags: [zone, air, humidity, sensor]
`));
    const lines = checkConfig(file, registry).problems.map(formatProblem);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/gw\.yaml:9:.*devices\[0\]\.points\.zone_temp\.tags\[2\].*point "zone_temp": "humidity" does not fit the point's unit "degC", which measures temp/);
  });

  it('refuses a tag list that is not a list of strings, by schema', () => {
    write('tagged.yaml', profile(`  - name: zone_temp
    address: { table: input, register: 0, type: float32 }
    tags: zone air temp sensor
`));
    const lines = checkConfig(write('gw.yaml', config()), registry).problems.map(formatProblem);
    expect(lines.join('\n')).toMatch(/tagged\.yaml:6:.*points\[0\]\.tags/);
  });

  it('gives the driver the override\'s tags, else the profile\'s, normalized', () => {
    write('tagged.yaml', profile(`  - name: zone_temp
    unit: degC
    address: { table: input, register: 0, type: float32 }
    tags: [sensor, temp, air, zone, point]
  - name: damper
    unit: "%"
    writable: true
    address: { table: holding, register: 0, type: uint16 }
    tags: [damper, cmd]
  - name: untagged
    address: { table: input, register: 2, type: uint16 }
`));
    const loaded = loadConfig(write('gw.yaml', config(`    points:
      damper: { tags: [outside, air, damper, cmd] }
`)), registry);
    const points = loaded.devices[0]!.points;
    expect(points.map((p) => p.tags)).toEqual([['zone', 'air', 'temp', 'sensor'], ['outside', 'air', 'damper', 'cmd'], undefined]);
  });
});

describe('proposeTags: vendor names and units', () => {
  const cases: readonly (TagProposalInput & { readonly expected: string })[] = [
    // BACnet object names as controllers ship them
    { name: 'Zone Temp', unit: 'degC', expected: 'zone air temp sensor' },
    { name: 'ZN-T', unit: '°F', expected: 'zone air temp sensor' },
    { name: 'ZN-SP', unit: 'degF', writable: true, expected: 'zone air temp sp' },
    { name: 'VAV-2-14 ZoneTemp', unit: 'degC', expected: 'zone air temp sensor' },
    { name: 'AV-3', description: 'Zone temperature setpoint', unit: 'degC', writable: true, expected: 'zone air temp sp' },
    { name: 'Occ Clg SP', unit: 'degC', writable: true, expected: 'temp occ cooling sp' },
    { name: 'DA-T', unit: 'degC', expected: 'discharge air temp sensor' },
    { name: 'SAT', unit: 'degF', expected: 'discharge air temp sensor' },
    { name: 'RAT', unit: 'degF', expected: 'return air temp sensor' },
    { name: 'MA-T', unit: 'degC', expected: 'mixed air temp sensor' },
    { name: 'OA Temp', unit: 'degC', expected: 'outside air temp sensor' },
    { name: 'CHW Supply Temp', unit: 'degC', expected: 'chilled water supply temp sensor' },
    { name: 'CHWRT', unit: 'degF', expected: 'chilled water return temp sensor' },
    { name: 'HWST', unit: 'degC', expected: 'hot water supply temp sensor' },
    { name: 'CWST', unit: 'degF', expected: 'condenser water supply temp sensor' },
    { name: 'Damper', unit: '%', writable: true, expected: 'damper cmd' },
    { name: 'OA Damper Cmd', unit: '%', writable: true, expected: 'outside air damper cmd' },
    { name: 'HW Valve', unit: '%', writable: true, expected: 'hot water valve cmd' },
    { name: 'SF-S', binary: true, expected: 'fan run sensor' },
    { name: 'SF-C', binary: true, writable: true, expected: 'fan run cmd' },
    { name: 'CHWP-1 Status', binary: true, expected: 'chilled water pump run sensor' },
    { name: 'Zone CO2', unit: 'ppm', expected: 'zone air co2 sensor' },
    { name: 'Space RH', unit: '%RH', expected: 'zone air humidity sensor' },
    { name: 'Duct Static Pressure', unit: 'Pa', expected: 'discharge air pressure sensor' },
    { name: 'DSP', unit: 'inH2O', expected: 'discharge air pressure sensor' },
    { name: 'Airflow', unit: 'L/s', expected: 'air flow sensor' },
    { name: 'Occupancy', binary: true, expected: 'occupied sensor' },
    // Modbus register names as integrators write them
    { name: 'supply_air_temp', unit: 'degC', expected: 'discharge air temp sensor' },
    { name: 'supply_temp_setpoint', unit: 'degC', writable: true, expected: 'discharge air temp sp' },
    { name: 'fan_command', binary: true, writable: true, expected: 'fan run cmd' },
    { name: 'fan_speed_setpoint', unit: '%', writable: true, expected: 'fan speed sp' },
    { name: 'filter_alarm', binary: true, expected: 'filter alarm sensor' },
    { name: 'active_power', unit: 'kW', expected: 'elec power sensor' },
    { name: 'energy_total', unit: 'kWh', expected: 'elec energy sensor' },
    { name: 'voltage', unit: 'V', expected: 'elec volt sensor' },
    { name: 'power_factor', expected: 'elec pf sensor' },
    { name: 'door_contact', binary: true, expected: 'door sensor' },
    { name: 'ahu_enable_relay', binary: true, writable: true, expected: 'enable cmd' },
    // Nothing recognisable: no proposal rather than a guess
    { name: 'serial_number', expected: '' },
    { name: 'run_hours', unit: 'h', expected: '' },
    { name: 'AI-7', expected: '' },
  ];

  it.each(cases)('$name ($unit) -> "$expected"', ({ expected, ...input }) => {
    const proposed = proposeTags(input);
    expect(proposed.join(' ')).toBe(expected);
    if (proposed.length > 0) expect(tagProblems(proposed, input)).toEqual([]);
  });

  it('lets the unit decide the quantity a name leaves out or gets wrong', () => {
    expect(proposeTags({ name: 'AHU-1 Supply', unit: 'degC' }).join(' ')).toBe('discharge air temp sensor');
    expect(proposeTags({ name: 'Zone Temp', unit: 'ppm' }).join(' ')).toBe('zone air co2 sensor');
  });
});
