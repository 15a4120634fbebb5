/**
 * The built-in registry is imported by every gateway: the BACnet and OPC UA libraries load only
 * when a device of theirs is checked or initialized. Run in a fresh process (this one has loaded
 * everything already), which reports the protocol libraries in its module cache at each step.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const SCRIPT = `
import { createRequire } from 'node:module';
import { builtinDrivers } from './edge/drivers/builtin.ts';
import { createLogger } from './shared/kit/log.ts';
const require = createRequire(import.meta.url);
const loaded = () => {
  const keys = Object.keys(require.cache);
  return { bacnet: keys.some((k) => k.includes('@bacnet-js/client')), opcua: keys.some((k) => k.includes('node-opcua-client')) };
};
const context = { log: createLogger('lazy', 'silent'), dataDir: '/tmp' };
const registry = builtinDrivers();
const steps = {};
registry.get('modbus-tcp').create({ id: 'ahu', protocol: 'modbus-tcp', connection: { host: '127.0.0.1', port: 1, unitId: 1 }, points: [] }, context);
steps.modbusOnly = loaded();
const bacnet = registry.get('bacnet-ip');
const device = { id: 'vav', protocol: 'bacnet-ip', connection: { bind: '127.0.0.1:0', deviceInstance: 1, deviceAddress: '127.0.0.1:9' }, points: [] };
const driver = bacnet.create(device, context);
steps.bacnetCreated = loaded();
steps.bacnetProblems = bacnet.validate({ ...device, points: [{ name: 't', address: { objectType: 'analog-input', instance: 1 } }] }).length;
steps.bacnetChecked = loaded();
await driver.initialize();
steps.bacnetInitialized = loaded();
await driver.stop();
const opcua = registry.get('opcua');
opcua.create({ id: 'cold', protocol: 'opcua', connection: { endpointUrl: 'opc.tcp://127.0.0.1:1' }, points: [] }, context);
steps.opcuaCreated = loaded();
steps.opcuaProblems = opcua.validate({ id: 'cold', protocol: 'opcua', connection: { endpointUrl: 'opc.tcp://127.0.0.1:1' }, points: [{ name: 'x', address: { nodeId: 'ns=1;s=X' } }] }).length;
steps.opcuaChecked = loaded();
console.log('STEPS ' + JSON.stringify(steps));
`;

describe('built-in drivers load their protocol library only when needed', { timeout: 60_000 }, () => {
  it('a Modbus-only gateway loads neither @bacnet-js/client nor node-opcua-client; checking or initializing a device of theirs does', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    // node-opcua prints notices on stdout when it loads: the report is the line marked STEPS.
    const line = stdout.split('\n').find((l) => l.startsWith('STEPS ')) ?? 'STEPS {}';
    const steps = JSON.parse(line.slice('STEPS '.length)) as Record<string, unknown>;
    expect(steps).toEqual({
      modbusOnly: { bacnet: false, opcua: false },
      bacnetCreated: { bacnet: false, opcua: false },
      bacnetProblems: 0,
      bacnetChecked: { bacnet: true, opcua: false },
      bacnetInitialized: { bacnet: true, opcua: false },
      opcuaCreated: { bacnet: true, opcua: false },
      opcuaProblems: 0,
      opcuaChecked: { bacnet: true, opcua: true },
    });
  });
});
