import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConfig, defaultDataDir, loadConfig } from '../../edge/config/load.js';
import { checkGatewayConfigFile } from '../../edge/config/check-file.js';
import { formatProblem } from '../../shared/kit/config-file.js';
import { checkWrite } from '../../edge/runtime/point-write.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { clientOptions } from '../../edge/federation/mqtt-link.js';
import { resolveFederationConfig } from '../../edge/federation/schema.js';
import { tempDir } from '../support/tmp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/configs/', import.meta.url));
const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));
const registry = builtinDrivers();
const dir = tempDir('swarmgate-config-');
afterAll(() => dir.remove());

function write(name: string, text: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

const AHU = `${PROFILES}ahu-modbus.yaml`;

describe('gateway config: valid', () => {
  it('loads the example config with profiles, overrides and defaults', () => {
    const loaded = loadConfig(join(FIXTURES, 'good.yaml'), registry);
    expect(loaded.devices.map((d) => d.id)).toEqual(['ahu1', 'coldroom']);
    const ahu = loaded.devices[0]!;
    expect(ahu.points.find((p) => p.name === 'serial_number')).toBeUndefined();
    const setpoint = ahu.points.find((p) => p.name === 'fan_speed_setpoint');
    expect(setpoint).toMatchObject({ writable: true, limits: { min: 10, max: 90 }, scale: 0.1, pollIntervalMs: 1000, valueType: 'double', resolution: 0.1 });
    // A site narrowing one side keeps the profile's other side.
    const narrowed = loadConfig(write('narrow.yaml', limitsOf('{ max: 60 }')), registry);
    expect(narrowed.devices[0]!.points.find((p) => p.name === 'fan_speed_setpoint')?.limits).toEqual({ min: 0, max: 60 });
    expect(ahu.connection).toMatchObject({ host: '127.0.0.1', port: 15020, unitId: 1, timeoutMs: 1000 });
    expect(loaded.dataDir).toBe(join(FIXTURES, 'data', 'gw-test'));
    // Under systemd (StateDirectory=swarmgate) state goes to the state directory, not beside /etc's config.
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', { STATE_DIRECTORY: '/var/lib/swarmgate' }, () => false)).toBe('/var/lib/swarmgate');
    // ... unless the gateway already keeps its data beside the config (installed before this default).
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', { STATE_DIRECTORY: '/var/lib/swarmgate' }, (p) => p === '/etc/swarmgate/data/gw-1')).toBe('/etc/swarmgate/data/gw-1');
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', {})).toBe('/etc/swarmgate/data/gw-1');
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', { STATE_DIRECTORY: 'relative' })).toBe('/etc/swarmgate/data/gw-1');
    // A command run from a shell on the service's config (no $STATE_DIRECTORY) finds the service's data
    // in the unit's state directory when only that exists (`swarmgate edge dead-letters --config ...`).
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', {}, (p) => p === '/var/lib/swarmgate', '/var/lib/swarmgate')).toBe('/var/lib/swarmgate');
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', {}, () => true, '/var/lib/swarmgate')).toBe('/etc/swarmgate/data/gw-1');
    expect(defaultDataDir('/etc/swarmgate/gateway.yaml', 'gw-1', {}, () => false, '/var/lib/swarmgate')).toBe('/etc/swarmgate/data/gw-1');
  });

  it('a scaled integer register names its type on the device in refusals: a uint16 point, not "a number point (double)"', () => {
    const loaded = loadConfig(write('scaled.yaml', limitsOf('{ max: 60 }')), registry);
    const setpoint = loaded.devices[0]!.points.find((p) => p.name === 'fan_speed_setpoint')!;
    expect(setpoint).toMatchObject({ valueType: 'double', rawType: 'uint16' });
    expect(() => checkWrite('ahu1', setpoint, 'fast')).toThrow('ahu1/fan_speed_setpoint is a number point (uint16, scaled: a double in engineering units): "fast" is not a number');
    // Unscaled points keep the short form.
    const plain = loaded.devices[0]!.points.find((p) => p.valueType !== undefined && p.rawType === undefined && p.valueType !== 'boolean' && p.valueType !== 'string')!;
    expect(() => checkWrite('ahu1', { ...plain, writable: true }, 'x')).toThrow(`is a number point (${plain.valueType}): "x" is not a number`);
    // The config check of an interlock says the same.
    const interlock = write('scaled-interlock.yaml', `${limitsOf('{ max: 60 }')}rules:\n  interlocks:\n    - { name: i, point: ahu1/fan_speed_setpoint, value: "fast", when: { kind: above, point: ahu1/supply_air_temp, above: 30 } }\n`);
    const messages = checkGatewayConfigFile(interlock, registry).problems.map((p) => p.message);
    expect(messages.join('\n')).toContain('ahu1/fan_speed_setpoint is a number point (uint16, scaled: a double in engineering units)');
  });

  it('loads the shipped demo config', () => {
    const loaded = loadConfig(fileURLToPath(new URL('../../deploy/examples/demo-gateway.yaml', import.meta.url)), registry);
    expect(loaded.devices.map((d) => d.protocol).sort()).toEqual(['bacnet-ip', 'bacnet-ip', 'bacnet-ip', 'gpio', 'modbus-rtu', 'modbus-tcp', 'opcua']);
  });
});

interface BadCase {
  readonly name: string;
  readonly yaml: string;
  /** Expected in one problem line, e.g. `:4:` for the line and a field path and message. */
  readonly expect: readonly string[];
}

const head = 'gateway: { id: gw-1, site: s }\n';
const limitsOf = (limits: string): string =>
  `${head}devices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n    points:\n      fan_speed_setpoint: { limits: ${limits} }\n`;
const cases: BadCase[] = [
  { name: 'YAML syntax error', yaml: `${head}devices:\n  - id: a\n    protocol: [modbus-tcp\n`, expect: ['bad.yaml:', 'YAML syntax'] },
  { name: 'site limits wider than the profile\'s', yaml: limitsOf('{ min: -50, max: 500 }'), expect: [':8:', 'devices[0].points.fan_speed_setpoint.limits.max', 'max 500 is above the profile "ahu-modbus"\'s limits [0, 100]; a site may narrow limits, not widen them'] },
  { name: 'site limits below the profile\'s', yaml: limitsOf('{ min: -50 }'), expect: [':8:', 'limits.min', 'min -50 is below'] },
  { name: 'site limits with min above max', yaml: limitsOf('{ min: 80, max: 20 }'), expect: [':8:', 'fan_speed_setpoint.limits', 'min 80 is above max 20'] },
  { name: 'missing devices', yaml: head, expect: [':1:', 'devices', 'required field is missing'] },
  { name: 'unknown top-level key', yaml: `${head}devicez: []\ndevices: []\n`, expect: [':2:', 'devicez', 'unknown key; did you mean "devices"?'] },
  {
    name: 'unknown protocol',
    yaml: `${head}devices:\n  - id: a\n    protocol: bacnet\n    profile: ${AHU}\n    connection: {}\n`,
    expect: [':4:', 'devices[0].protocol', 'unknown protocol "bacnet"', 'modbus-tcp'],
  },
  {
    name: 'wrong type in connection',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h, port: "502x" }\n`,
    expect: [':6:', 'devices[0].connection.port', 'expected integer'],
  },
  {
    name: 'missing required connection field',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { port: 502 }\n`,
    expect: [':6:', 'devices[0].connection.host', 'required'],
  },
  {
    name: 'invalid device id',
    yaml: `${head}devices:\n  - id: "ahu 1"\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n`,
    expect: [':3:', 'devices[0].id', 'Identifier'],
  },
  {
    name: 'federation client id other than the gateway id (the hub refuses it)',
    yaml: `${head}federation:\n  mqtt: { url: "mqtt://hub:1883", clientId: other-gw }\ndevices: []\n`,
    expect: ['federation.mqtt.clientId', 'must be the gateway id'],
  },
  {
    name: 'sparkplug edge node id other than the gateway id (the hub lets a gateway be only its own node)',
    yaml: `${head}federation:\n  mqtt: { url: "mqtt://hub:1883" }\n  integration:\n    sparkplug: { enabled: true, groupId: plant, edgeNodeId: other-node }\ndevices: []\n`,
    expect: [':5:', 'federation.integration.sparkplug.edgeNodeId', 'must be the gateway id'],
  },
  {
    name: 'sparkplug group id STATE (reserved for host application state)',
    yaml: `${head}federation:\n  mqtt: { url: "mqtt://hub:1883" }\n  integration:\n    sparkplug: { enabled: true, groupId: STATE }\ndevices: []\n`,
    expect: [':5:', 'federation.integration.sparkplug.groupId', 'reserved'],
  },
  {
    name: 'sparkplug with an OPC UA point whose profile declares no data type',
    yaml: `${head}federation:\n  mqtt: { url: "mqtt://hub:1883" }\n  integration:\n    sparkplug: { enabled: true, groupId: plant }\ndevices:\n  - id: cr\n    protocol: opcua\n    profile: PROFILE_NO_TYPE\n    connection: { endpointUrl: "opc.tcp://h:4840" }\n`,
    expect: ['untyped-opcua.yaml:5:', 'points[0].address', 'declares no data type'],
  },
  {
    name: 'duplicate device id',
    yaml: `${head}devices:\n  - { id: a, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\n  - { id: a, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\n`,
    expect: [':4:', 'devices[1].id', 'duplicate device id'],
  },
  {
    name: 'profile file missing',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: nowhere.yaml\n    connection: { host: h }\n`,
    expect: [':5:', 'devices[0].profile', 'profile file not found'],
  },
  {
    name: 'profile file name misspelt',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU.replace('ahu-modbus', 'ahu-modbsu')}\n    connection: { host: h }\n`,
    expect: [':5:', 'devices[0].profile', `; did you mean "${basename(AHU)}" (same folder)?`],
  },
  {
    name: 'profile of another protocol family',
    yaml: `${head}devices:\n  - id: a\n    protocol: opcua\n    profile: ${AHU}\n    connection: { endpointUrl: "opc.tcp://h:4840" }\n`,
    expect: [':5:', 'devices[0].profile', 'protocol family "modbus"'],
  },
  {
    name: 'override of a point the profile does not have',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n    points:\n      no_such_point: { deadband: 1 }\n`,
    expect: [':8:', 'devices[0].points.no_such_point', 'has no point'],
  },
  {
    name: 'site makes a read-only point writable',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n    points:\n      supply_air_temp: { writable: true }\n`,
    expect: [':8:', 'supply_air_temp.writable', 'read-only'],
  },
  {
    name: 'negative poll interval',
    yaml: `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n    pollIntervalMs: -5\n`,
    expect: [':7:', 'devices[0].pollIntervalMs', 'expected integer to be greater or equal to 10'],
  },
];

describe('gateway config: every broken file names file, line, field and what is expected', () => {
  it.each(cases)('$name', ({ yaml, expect: parts }) => {
    const untyped = write('untyped-opcua.yaml', 'profile: untyped\nprotocol: opcua\npoints:\n  - name: door_open\n    address: { nodeId: "ns=1;s=ColdRoom.DoorOpen" }\n');
    const file = write('bad.yaml', yaml.replace('PROFILE_NO_TYPE', untyped));
    const result = checkConfig(file, registry);
    expect(result.loaded).toBeUndefined();
    const lines = result.problems.map(formatProblem);
    const match = lines.find((line) => parts.every((p) => line.includes(p)));
    expect(match, `expected a problem containing ${JSON.stringify(parts)} in:\n${lines.join('\n')}`).toBeDefined();
    expect(() => loadConfig(file, registry)).toThrow(/SWG|problem/);
  });

  it('reports problems inside a profile with the profile file and line', () => {
    const result = checkConfig(join(FIXTURES, 'bad-profile-user.yaml'), registry);
    const lines = result.problems.map(formatProblem);
    expect(lines.some((l) => l.includes('bad-profile.yaml:6:') && l.includes('points[1].name'))).toBe(true);
    expect(lines.some((l) => l.includes('bad-profile.yaml:9:') && l.includes('points[2].address.type'))).toBe(true);
  });

  it('a point scaled by 0 is refused at its line: every reading would be the offset', () => {
    const profile = write('scale0.yaml', `profile: scale0
protocol: modbus
points:
  - name: flow
    address: { table: holding, register: 0, type: uint16 }
    scale: 0
`);
    const config = write('scale0-gw.yaml', `gateway: { id: gw, site: s }
devices:
  - { id: m, protocol: modbus-tcp, profile: ${profile}, connection: { host: 127.0.0.1, port: 502 } }
`);
    expect(checkConfig(config, registry).problems.map(formatProblem)).toEqual([
      `${profile}:6:12: points[0].scale: "flow": scale 0 makes every reading equal the offset and a write divide by zero; give the factor from raw to engineering units (negative inverts)`,
    ]);
  });
});

describe('JSON Schema for editors', () => {
  it('is up to date with the TypeBox schemas (run `npm run schema` after changing them)', async () => {
    const { readFileSync } = await import('node:fs');
    const { gatewayConfigJsonSchema, profileJsonSchema } = await import('../../edge/config/json-schema.js');
    const shipped = (name: string): unknown => JSON.parse(readFileSync(fileURLToPath(new URL(`../../deploy/schema/${name}`, import.meta.url)), 'utf8'));
    expect(shipped('gateway-config.schema.json')).toEqual(gatewayConfigJsonSchema(registry));
    expect(shipped('device-profile.schema.json')).toEqual(profileJsonSchema(registry));
  });

  it('accepts the shipped demo config and profiles, and refuses a broken one (checked with ajv, as an editor would)', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const { Ajv } = await import('ajv');
    const { gatewayConfigJsonSchema, profileJsonSchema } = await import('../../edge/config/json-schema.js');
    const ajv = new Ajv({ strict: false, allErrors: true });
    const config = ajv.compile(gatewayConfigJsonSchema(registry));
    const profile = ajv.compile(profileJsonSchema(registry));
    const demo = parse(readFileSync(fileURLToPath(new URL('../../deploy/examples/demo-gateway.yaml', import.meta.url)), 'utf8')) as Record<string, unknown>;
    expect(config(demo), JSON.stringify(config.errors)).toBe(true);
    for (const name of ['ahu-modbus', 'energy-meter-modbus', 'cold-room-opcua', 'facility-gpio']) {
      const doc = parse(readFileSync(`${PROFILES}${name}.yaml`, 'utf8')) as unknown;
      expect(profile(doc), `${name}: ${JSON.stringify(profile.errors)}`).toBe(true);
    }
    expect(config({ ...demo, devicez: [] })).toBe(false);
  });
});

describe('gateway config: files that are not regular files or too large are refused, not read', () => {
  const device = (profile: string): string => `${head}devices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${profile}\n    connection: { host: h }\n`;

  it.each(['/dev/zero', '/dev/urandom'])('a profile at %s is a problem at the device, naming the file', (profile) => {
    const result = checkConfig(write('dev.yaml', device(profile)), registry);
    expect(result.loaded).toBeUndefined();
    expect(result.problems.map(formatProblem)).toEqual([expect.stringMatching(new RegExp(`dev\\.yaml:5:\\d+: devices\\[0\\]\\.profile: ${profile}: not a regular file \\(character device\\)$`))]);
  });

  it('a profile that is a named pipe is refused without waiting for a writer', async () => {
    const { execFileSync } = await import('node:child_process');
    const fifo = join(dir.path, 'profile-pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    const lines = checkConfig(write('fifo.yaml', device(fifo)), registry).problems.map(formatProblem);
    expect(lines).toEqual([expect.stringContaining(`devices[0].profile: ${fifo}: not a regular file (named pipe)`)]);
  }, 5000);

  it('a profile over the size limit is refused with its size', () => {
    const big = write('big-profile.yaml', `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    const lines = checkConfig(write('big.yaml', device(big)), registry).problems.map(formatProblem);
    expect(lines).toEqual([expect.stringContaining(`devices[0].profile: ${big}: 2.0 MiB exceeds the 1 MiB limit for config files`)]);
  });

  it('the broker password file must exist and be readable by its owner only', () => {
    const secret = join(dir.path, 'broker-password');
    const config = (file: string): string => `${limitsOf('{ max: 60 }')}federation: { mqtt: { url: "mqtt://127.0.0.1:1883", username: gw-1, passwordFile: ${file} } }\n`;
    const problems = (file: string): string[] => checkConfig(write('secret.yaml', config(file)), registry).problems.map((p) => p.message);
    expect(problems(join(dir.path, 'missing'))).toEqual([`cannot read ${join(dir.path, 'missing')}: no such file`]);
    writeFileSync(secret, 'pw\n', { mode: 0o644 });
    chmodSync(secret, 0o644);
    expect(problems(secret)).toEqual([`${secret} is readable by other users (mode 0644): chmod 600 ${secret}`]);
    chmodSync(secret, 0o600);
    expect(problems(secret)).toEqual([]);
  });

  it('relative file paths in the config are resolved against its folder, not the working directory', () => {
    // The check and the gateway run from anywhere (systemd: WorkingDirectory=/var/lib/swarmgate).
    const site = join(dir.path, 'site');
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, 'broker-password'), 'pw-site\n', { mode: 0o600 });
    chmodSync(join(site, 'broker-password'), 0o600);
    mkdirSync(join(site, 'certs'));
    // The check reads the TLS files: each holds a PEM block of its kind (here with its own name inside).
    const pem = (f: string): string => (f.endsWith('.key') ? `-----BEGIN PRIVATE KEY-----\n${f}\n-----END PRIVATE KEY-----\n` : `-----BEGIN CERTIFICATE-----\n${f}\n-----END CERTIFICATE-----\n`);
    for (const f of ['ca.pem', 'certs/gw.pem', 'certs/gw.key']) writeFileSync(join(site, f), pem(f));
    const file = join(site, 'gateway.yaml');
    writeFileSync(
      file,
      `${head}devices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${relative(site, AHU)}, connection: { host: h } }\n` +
        `  - { id: cold, protocol: opcua, profile: ${relative(site, PROFILES)}/cold-room-opcua.yaml, connection: { endpointUrl: "opc.tcp://h:4840", pkiDir: pki } }\n` +
        'federation: { mqtt: { url: "mqtts://127.0.0.1:8883", username: gw-1, passwordFile: broker-password, tls: { ca: ca.pem, cert: certs/gw.pem, key: ./certs/gw.key } } }\n' +
        'update: { installRoot: opt, releaseKeyFile: release-key.pem, caFile: ../hub-ca.pem }\n',
    );
    expect(process.cwd()).not.toBe(site);
    const checked = checkConfig(file, registry);
    expect(checked.problems.map(formatProblem)).toEqual([]);
    const config = checked.loaded!.config;
    expect(config.federation?.mqtt).toMatchObject({ passwordFile: join(site, 'broker-password'), tls: { ca: join(site, 'ca.pem'), cert: join(site, 'certs/gw.pem'), key: join(site, 'certs/gw.key') } });
    expect(config.update).toMatchObject({ installRoot: join(site, 'opt'), releaseKeyFile: join(site, 'release-key.pem'), caFile: join(dir.path, 'hub-ca.pem') });
    expect(checked.loaded!.devices.find((d) => d.id === 'cold')?.connection).toMatchObject({ pkiDir: join(site, 'pki') });
    // The MQTT link reads the password the check found.
    expect(clientOptions(resolveFederationConfig(config.federation!).mqtt, 'gw-1')).toMatchObject({ password: 'pw-site', ca: Buffer.from(pem('ca.pem')), key: Buffer.from(pem('certs/gw.key')) });
    // Absolute paths stay as given.
    writeFileSync(file, `${head}devices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\nfederation: { mqtt: { url: "mqtt://127.0.0.1:1883", passwordFile: ${join(site, 'broker-password')} } }\n`);
    expect(loadConfig(file, registry).config.federation?.mqtt.passwordFile).toBe(join(site, 'broker-password'));
  });

  it('a duplicate device id is one problem, not one per reference to the other device\'s points', () => {
    const file = write(
      'dup.yaml',
      `${head}devices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\n  - { id: ahu1, protocol: opcua, profile: ${PROFILES}cold-room-opcua.yaml, connection: { endpointUrl: "opc.tcp://h:4840" } }\n` +
        'rules:\n  list:\n    - { name: r, when: { kind: above, point: ahu1/supply_air_temp, on: 20 }, then: [{ event: warm }] }\n',
    );
    expect(checkGatewayConfigFile(file, registry).problems.map((p) => p.message)).toEqual(['duplicate device id "ahu1": a device above has it']);
  });

  it('a device profile given to the check is one problem saying what it is', () => {
    const result = checkConfig(AHU, registry);
    expect(result.problems.map(formatProblem)).toEqual([`${AHU}:2:1: (document): this is a device profile ("ahu-modbus"), not a gateway config: a device in gateway.yaml uses it (profile: ${AHU}); check that config`]);
  });

  it('a hub config given to the check is one problem saying what it is', () => {
    const hub = fileURLToPath(new URL('../../deploy/examples/demo-hub.yaml', import.meta.url));
    expect(checkConfig(hub, registry).problems.map(formatProblem)).toEqual([
      `${hub}:3:1: (document): this is a hub config (broker, store, api sections), not a gateway config: the hub checks it when it starts (swarmgate hub --config FILE); edge check takes gateway configs`,
    ]);
  });

  it('a config file that is a device is one problem naming it', () => {
    const result = checkConfig('/dev/zero', registry);
    expect(result.problems.map(formatProblem)).toEqual(['/dev/zero:1:1: (document): not a regular file (character device)']);
    expect(() => loadConfig('/dev/zero', registry)).toThrow('not a regular file (character device)');
  });
});

describe('gateway config: hostile YAML', () => {
  it('an alias bomb is a problem with file, line and column', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]', ''].join('\n');
    const file = write('bomb.yaml', `${head}${bomb}`);
    const result = checkConfig(file, registry);
    const lines = result.problems.map(formatProblem);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/bomb\.yaml:\d+:\d+: \(document\): YAML aliases: /);
    expect(lines[0]).not.toContain('Excessive alias count');
    expect(lines[0]).toMatch(/bomb\.yaml:(3|4|5):/);
  });

  it('control characters from the file are escaped in every problem line', () => {
    const file = write('ctl.yaml', `${head}devices:\n  - id: "\\e[2J\\e]0;pwned\\a\\x9b31m"\n    protocol: "bac\\rnet\\x85"\n    profile: ${AHU}\n    connection: { host: h }\n"key\\e[5m": 1\n`);
    const lines = checkConfig(file, registry).problems.map(formatProblem);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line, JSON.stringify(line)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    const text = lines.join('\n');
    expect(text).toContain('\\x1b[2J\\x1b]0;pwned\\x07\\u009b31m');
    expect(text).toContain('"bac\\rnet\\u0085"');
    expect(text).toContain('key\\x1b[5m');
  });

  it('a file name with control characters is escaped too', () => {
    const file = write('evil\u001b[31m.yaml', `${head}devicez: []\n`);
    const lines = checkConfig(file, registry).problems.map(formatProblem);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toContain('evil\\x1b[31m.yaml:');
  });
});

describe('gateway config: a YAML syntax error names the line and column of the mistake', () => {
  it('`broken: [unclosed` appended as the last line of the demo config is reported at its line, column 9, in plain words', () => {
    const demo = readFileSync(fileURLToPath(new URL('../../deploy/examples/demo-gateway.yaml', import.meta.url)), 'utf8');
    const line = demo.split('\n').length; // the appended line's number (the file ends with a newline)
    expect(line).toBeGreaterThan(70);
    const file = write('g.yaml', `${demo}broken: [unclosed\n`);
    const lines = checkConfig(file, registry).problems.map(formatProblem);
    expect(lines).toEqual([`${file}:${line}:9: (document): YAML syntax: unclosed '[' opened at line ${line} column 9: add the closing ']'`]);
  });
});

describe('edge check: one run reports schema, profile and reference problems together', () => {
  it('a broken device, a broken profile, a missing override point and bad references all come out of one check', () => {
    const file = write(
      'staged.yaml',
      [
        head.trimEnd(),
        'devices:',
        '  - id: a', // line 3: its settings fail the schema, its profile is fine
        '    protocol: modbus-tcp',
        `    profile: ${AHU}`,
        '    connection: { host: h }',
        '    pollIntervalMs: -5', // 7
        '  - id: b', // its profile fails the profile schema
        '    protocol: modbus-tcp',
        `    profile: ${FIXTURES}bad-profile.yaml`,
        '    connection: { host: h }',
        '  - id: c', // 12: valid, but overrides a point its profile lacks
        '    protocol: modbus-tcp',
        `    profile: ${AHU}`,
        '    connection: { host: h, port: 70000 }', // 15
        '    points:',
        '      no_such_point: { deadband: 1 }', // 17
        'analytics:',
        '  points:',
        '    - { point: c/no_such_point }', // 20: reference to a point c lacks
        '    - { point: b/anything }', // b could not be resolved: nothing to say about this reference
        '    - { point: a/supply_air_temp }',
        'rules:',
        '  list:',
        '    - name: r',
        '      when: { kind: above, point: a/supply_air_tmp, on: 30, off: 28 }', // 26
        '      then: [{ event: hot }]',
        '',
      ].join('\n'),
    );
    const { loaded, problems } = checkGatewayConfigFile(file, registry);
    expect(loaded).toBeUndefined();
    const lines = problems.map(formatProblem);
    const expected: readonly (readonly string[])[] = [
      ['staged.yaml:7:', 'devices[0].pollIntervalMs', 'greater or equal to 10'],
      ['bad-profile.yaml:6:', 'points[1].name'],
      ['bad-profile.yaml:9:', 'points[2].address.type'],
      ['staged.yaml:15:', 'devices[2].connection.port'],
      ['staged.yaml:17:', 'devices[2].points.no_such_point', 'has no point'],
      ['staged.yaml:20:', 'analytics.points[0].point', 'device "c" has no point "no_such_point"'],
      ['staged.yaml:26:', 'rules.list[0].when.point', 'device "a" has no point "supply_air_tmp" (or it is disabled); did you mean "supply_air_temp"?'],
    ];
    for (const parts of expected) {
      expect(lines.some((l) => parts.every((p) => l.includes(p))), `expected ${JSON.stringify(parts)} in:\n${lines.join('\n')}`).toBe(true);
    }
    expect(lines, lines.join('\n')).toHaveLength(expected.length);
  });

  it('analytics.fleetLearning: a wrong value is named with its line, and share/use without a federation section is refused', () => {
    const devices = `devices:\n  - { id: a, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\n`;
    const bad = write('fleet-bad.yaml', `${head}${devices}analytics:\n  fleetLearning: { share: sometimes, every: 3 }\n  points:\n    - { point: a/supply_air_temp }\n`);
    const badLines = checkGatewayConfigFile(bad, registry).problems.map(formatProblem);
    expect(badLines.some((l) => l.includes('fleet-bad.yaml:') && l.includes('analytics.fleetLearning.share')), badLines.join('\n')).toBe(true);
    expect(badLines.some((l) => l.includes('analytics.fleetLearning') && l.includes('every')), badLines.join('\n')).toBe(true);
    const lonely = write('fleet-lonely.yaml', `${head}${devices}analytics:\n  fleetLearning: { use: true }\n  points:\n    - { point: a/supply_air_temp }\n`);
    const lonelyLines = checkGatewayConfigFile(lonely, registry).problems.map(formatProblem);
    expect(lonelyLines, lonelyLines.join('\n')).toHaveLength(1);
    expect(lonelyLines[0]).toMatch(/fleet-lonely\.yaml:\d+:.*analytics\.fleetLearning.*use: true needs a federation section/);
    const off = write('fleet-off.yaml', `${head}${devices}analytics:\n  fleetLearning: { share: false, use: false }\n  points:\n    - { point: a/supply_air_temp }\n`);
    expect(checkGatewayConfigFile(off, registry).problems.map(formatProblem)).toEqual([]);
  });

  it('a section that fails its schema is not reference-checked, the others still are', () => {
    const file = write(
      'sections.yaml',
      `${head}devices:\n  - { id: a, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\nanalytics:\n  points:\n    - { point: a/nope }\nrules:\n  list:\n    - { name: r, when: { kind: abov, point: a/nope2 }, then: [{ event: x }] }\n`,
    );
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    expect(lines.some((l) => l.includes('analytics.points[0].point') && l.includes('no point "nope"')), lines.join('\n')).toBe(true);
    expect(lines.some((l) => l.includes('rules.list[0].when')), lines.join('\n')).toBe(true);
    expect(lines.some((l) => l.includes('nope2')), lines.join('\n')).toBe(false);
  });
});

describe('edge check: what devices share (serial ports, bus addresses, GPIO lines) is checked across devices', () => {
  const METER = `${PROFILES}energy-meter-modbus.yaml`;
  const GPIO = `${PROFILES}facility-gpio.yaml`;
  const lineIn = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  const profileLine = (file: string, needle: string): number => lineIn(readFileSync(file, 'utf8'), needle);
  const rel = (from: string, to: string): string => relative(dirname(from), to);

  it('RTU devices on one serial port with different line settings: both places named', () => {
    const text = `${head}devices:
  - id: meter1
    protocol: modbus-rtu
    profile: ${METER}
    connection: { path: /dev/ttyS-test-bus, baudRate: 19200, unitId: 1 }
  - id: meter2
    protocol: modbus-rtu
    profile: ${METER}
    connection:
      path: /dev/ttyS-test-bus
      baudRate: 9600
      parity: even
      unitId: 2
`;
    const file = write('rtu-settings.yaml', text);
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    expect(lines).toEqual([
      `${file}:${lineIn(text, 'baudRate: 9600')}:17: devices[1].connection.baudRate: serial port /dev/ttyS-test-bus is also used by device "meter1" (line ${lineIn(text, 'baudRate: 19200')}) with baudRate 19200, parity none; this device has baudRate 9600, parity even: every device on one serial port must use the same baudRate, parity, dataBits and stopBits`,
    ]);
    expect(() => loadConfig(file, registry)).toThrow(/serial port \/dev\/ttyS-test-bus is also used by device "meter1"/);
  });

  it('two RTU devices with one unit id on one serial port, also through a symlink to it; other ports and disabled devices are not compared', () => {
    const port = write('tty-real', '');
    const link = join(dir.path, 'tty-link');
    symlinkSync(port, link);
    const text = `${head}devices:
  - id: meter1
    protocol: modbus-rtu
    profile: ${METER}
    connection: { path: ${port}, baudRate: 19200 }
  - id: meter2
    protocol: modbus-rtu
    profile: ${METER}
    connection: { path: ${link}, baudRate: 19200 }
  - id: meter3
    protocol: modbus-rtu
    profile: ${METER}
    connection: { path: /dev/ttyS-other, unitId: 1 }
  - id: meter4
    enabled: false
    protocol: modbus-rtu
    profile: ${METER}
    connection: { path: ${port}, baudRate: 19200, unitId: 1 }
`;
    const file = write('rtu-units.yaml', text);
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    // unitId is not written: its default (1) is meant, and the problem is at the connection.
    expect(lines).toEqual([
      `${file}:${lineIn(text, `path: ${link}`)}:17: devices[1].connection.unitId: unit id 1 on serial port ${link} is already claimed by device "meter1" (line ${lineIn(text, `path: ${port}, baudRate`)}): two devices on one bus cannot answer to the same address: give each its own unitId`,
    ]);
  });

  it('a BACnet bind on the wildcard address clashes with any other bind of that UDP port; equal binds share one socket', () => {
    const VAV = `${PROFILES}vav-bacnet.yaml`;
    const text = `${head}devices:
  - { id: vav1, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 1, bind: "127.0.0.1:47915" } }
  - { id: vav2, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 2, bind: "127.0.0.1:47915" } }
  - { id: vav3, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 3, bind: "0.0.0.0:47915" } }
  - { id: vav4, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 4, bind: "127.0.0.2:47915" } }
  - { id: vav5, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 5, bind: "0.0.0.0:47916" } }
  - { id: vav6, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 6, bind: "0.0.0.0:0" } }
  - { id: vav7, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 7, bind: "0.0.0.0:0" } }
`;
    const file = write('bacnet-binds.yaml', text);
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    // Two specific addresses on one port do not clash (127.0.0.1 and 127.0.0.2); port 0 is any free port.
    expect(lines).toEqual([
      `${file}:${lineIn(text, 'id: vav3')}:${(text.split('\n')[lineIn(text, 'id: vav3') - 1] ?? '').indexOf('"0.0.0.0:47915"') + 1}: devices[2].connection.bind: BACnet/IP bind 0.0.0.0:47915 clashes with BACnet/IP bind 127.0.0.1:47915 of device "vav1" (line ${lineIn(text, 'id: vav1')}): this wildcard address takes the port on every address, so the second socket cannot bind (EADDRINUSE); give both devices the same bind to share one socket, or use different ports`,
    ]);
    // The other order: the wildcard first, a specific address later.
    const reversed = write('bacnet-binds-2.yaml', `${head}devices:\n  - { id: a, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 1 } }\n  - { id: b, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 2, bind: "192.168.1.5:47808" } }\n`);
    expect(checkGatewayConfigFile(reversed, registry).problems.map((p) => p.message)).toEqual([
      'BACnet/IP bind 192.168.1.5:47808 clashes with BACnet/IP bind 0.0.0.0:47808 of device "a" (line 3): that wildcard address takes the port on every address, so the second socket cannot bind (EADDRINUSE); give both devices the same bind to share one socket, or use different ports',
    ]);
  });

  it('two GPIO devices on one chip claiming the same lines: the device, the point and the profile line of each', () => {
    const text = `${head}devices:
  - id: io
    protocol: gpio
    profile: ${GPIO}
    connection: { chip: { kind: sim, host: 127.0.0.1, port: 15021 } }
  - id: io-other-chip
    protocol: gpio
    profile: ${GPIO}
    connection: { chip: { kind: sim, host: 127.0.0.1, port: 15022 } }
  - id: io2
    protocol: gpio
    profile: ${GPIO}
    connection: { chip: { kind: sim, host: localhost, port: 15021 } }
`;
    const file = write('gpio-devices.yaml', text);
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    const at = `${file}:${lineIn(text, 'host: localhost')}:25: devices[2].connection.chip`;
    const profile = rel(file, GPIO);
    const pins: readonly [string, number][] = [['door_contact', 17], ['occupancy', 27], ['backup_compressor_relay', 22], ['ahu_enable_relay', 23]];
    expect(lines).toEqual(
      pins.map(([point, pin]) => {
        const where = `${profile}:${profileLine(GPIO, `pin: ${pin},`)}`;
        return `${at}: BCM pin ${pin} of the simulated chip at localhost:15021 (point "${point}", ${where}) is already claimed by device "io" (line ${lineIn(text, 'port: 15021')}, point "${point}" at ${where}): a GPIO line belongs to one point of one device`;
      }),
    );
    // The header chip is the same whether a device says sysfs or auto.
    const header = write('gpio-header.yaml', `${head}devices:\n  - { id: a, protocol: gpio, profile: ${GPIO}, connection: { chip: { kind: auto } } }\n  - { id: b, protocol: gpio, profile: ${GPIO}, connection: { chip: { kind: sysfs } } }\n  - { id: c, protocol: gpio, profile: ${GPIO}, connection: { chip: { kind: sysfs, label: pinctrl-other } } }\n`);
    const headerLines = checkGatewayConfigFile(header, registry).problems.map(formatProblem);
    expect(headerLines, headerLines.join('\n')).toHaveLength(4);
    expect(headerLines.every((l) => l.includes(`${header}:4:`) && l.includes('devices[1].connection.chip: BCM pin') && l.includes('of the header chip') && l.includes('already claimed by device "a" (line 3,')), headerLines.join('\n')).toBe(true);
  });

  it('two points of one profile on one GPIO line: both profile lines, in line order, one rule', () => {
    const profile = write(
      'two-on-one-pin.yaml',
      [
        'profile: two-on-one-pin',
        'protocol: gpio',
        'points:',
        '  - name: door',
        '    address: { pin: 17, direction: in }',
        '  - name: door_again', // 6
        '    address: { pin: 17, direction: in }', // 7
        '  - name: relay',
        '    address: { pin: 22, direction: out }', // 9
        '    writable: true',
        '  - name: relay_as_input',
        '    address: { pin: 22, direction: in }', // 12
        '',
      ].join('\n'),
    );
    const file = write('gpio-points.yaml', `${head}devices:\n  - { id: io, protocol: gpio, profile: ${profile}, connection: { chip: { kind: sim, host: h, port: 1 } } }\n`);
    const lines = checkGatewayConfigFile(file, registry).problems.map(formatProblem);
    expect(lines).toEqual([
      `${profile}:7:21: points[1].address.pin: BCM pin 17 of the simulated chip at h:1 is also claimed by point "door" (line 5): a GPIO line belongs to one point of one device`,
      `${profile}:12:21: points[3].address.pin: BCM pin 22 of the simulated chip at h:1 is also claimed by point "relay" (line 9): a GPIO line belongs to one point of one device`,
    ]);
  });

  it('the shipped demo config shares nothing it must not', () => {
    const demo = fileURLToPath(new URL('../../deploy/examples/demo-gateway.yaml', import.meta.url));
    expect(checkGatewayConfigFile(demo, registry).problems.map(formatProblem)).toEqual([]);
  });
});
