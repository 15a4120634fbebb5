/**
 * The OPC UA driver manifest: settings schemas, semantic checks that a schema cannot express
 * (node id syntax, security mode/policy pairing), and the factory.
 *
 * Every gateway imports it (edge/drivers/builtin.ts), so it stays light: node-opcua-client is
 * required on the first node id check (an OPC UA device in the config), and the driver with it is
 * imported when a device initializes (lazy-driver.ts).
 */
import { createRequire } from 'node:module';
import type { DeviceSpec, DriverManifest, ValidationProblem } from '../driver.js';
import { LazyOpcuaDriver } from './lazy-driver.js';
import { OPCUA_VALUE_TYPES, OpcuaAddressSchema, OpcuaConnectionSchema, type OpcuaAddress, type OpcuaConnection } from './settings.js';

let parseNodeId: (typeof import('node-opcua-client'))['resolveNodeId'] | undefined;

/** Why a node id string cannot be used, or undefined when it parses to a non-null node id. */
export function nodeIdProblem(nodeId: string): string | undefined {
  parseNodeId ??= (createRequire(import.meta.url)('node-opcua-client') as typeof import('node-opcua-client')).resolveNodeId;
  try {
    const parsed = parseNodeId(nodeId);
    if (parsed.isEmpty()) return `"${nodeId}" is the null node id; use e.g. ns=1;s=ColdRoom.Temperature`;
    return undefined;
  } catch {
    return `"${nodeId}" is not an OPC UA node id; use ns=<index>;i=<number> | s=<string> | g=<guid> | b=<base64>, e.g. ns=1;s=ColdRoom.Temperature`;
  }
}

export function validateOpcuaDevice(device: DeviceSpec<OpcuaConnection, OpcuaAddress>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const c = device.connection;
  const mode = c.securityMode ?? 'None';
  const policy = c.securityPolicy ?? 'None';
  if (mode === 'None' && policy !== 'None') {
    problems.push({ path: '/connection/securityPolicy', message: `securityPolicy ${policy} needs securityMode Sign or SignAndEncrypt` });
  }
  if (mode !== 'None' && policy === 'None') {
    problems.push({ path: '/connection/securityPolicy', message: `securityMode ${mode} needs a securityPolicy other than None (e.g. Basic256Sha256)` });
  }
  if (c.password !== undefined && c.username === undefined) {
    problems.push({ path: '/connection/username', message: 'password is set but username is missing' });
  }
  if (c.reconnectInitialDelayMs !== undefined && c.reconnectMaxDelayMs !== undefined && c.reconnectMaxDelayMs < c.reconnectInitialDelayMs) {
    problems.push({ path: '/connection/reconnectMaxDelayMs', message: 'reconnectMaxDelayMs must not be below reconnectInitialDelayMs' });
  }
  device.points.forEach((point, i) => {
    const problem = nodeIdProblem(point.address.nodeId);
    if (problem) problems.push({ path: `/points/${i}/address/nodeId`, message: problem });
    const deadband = point.address.deadband;
    if (deadband?.type === 'percent' && deadband.value > 100) {
      problems.push({ path: `/points/${i}/address/deadband/value`, message: 'a percent deadband is 0..100 (of the variable EURange)' });
    }
  });
  return problems;
}

export const opcuaManifest: DriverManifest<typeof OpcuaConnectionSchema, typeof OpcuaAddressSchema> = {
  protocol: 'opcua',
  profileProtocol: 'opcua',
  description: 'OPC UA client: monitored items with deadband, read/write, browse; subscriptions survive server restarts',
  connectionSchema: OpcuaConnectionSchema,
  addressSchema: OpcuaAddressSchema,
  capabilities: { subscribe: true, browse: true },
  pathFields: [['pkiDir']],
  sourceTimestamps: true,
  validate: validateOpcuaDevice,
  valueType: (address) => (address.dataType === undefined ? undefined : OPCUA_VALUE_TYPES[address.dataType]),
  create: (device, context) => new LazyOpcuaDriver(device, context),
};
