import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { createLogger } from '../../../shared/kit/log.js';
import type { Driver, PointSpec, Reading, SubscribableDriver, BrowsableDriver } from '../../../edge/drivers/driver.js';
import { isBrowsable, isSubscribable } from '../../../edge/drivers/driver.js';
import { opcuaManifest, CONNECTION_LOST_CAUSE, SUBSCRIPTION_SILENT_CAUSE, type OpcuaAddress, type OpcuaConnection } from '../../../edge/drivers/opcua/index.js';
import { tempDir } from '../../support/tmp.js';
import { driverContract } from '../../contract/driver-contract.js';
import { NODES, quietNodeOpcua, startTestServer, type TestServer } from './test-server.js';
import { startTcpProxy } from './tcp-proxy.js';
import { waitFor } from '../support.js';

quietNodeOpcua();

function point(name: string, nodeId: string, extra: Partial<PointSpec<OpcuaAddress>> = {}, address: Partial<OpcuaAddress> = {}): PointSpec<OpcuaAddress> {
  return { name, address: { nodeId, ...address }, writable: false, scale: 1, offset: 0, deadband: 0, pollIntervalMs: 100, ...extra };
}

function fastConnection(endpointUrl: string, extra: Partial<OpcuaConnection> = {}): OpcuaConnection {
  return {
    endpointUrl,
    requestTimeoutMs: 2000,
    publishingIntervalMs: 100,
    sessionTimeoutMs: 10_000,
    subscriptionKeepAliveMs: 500,
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 500,
    automaticallyAcceptUnknownCertificate: true,
    ...extra,
  };
}

function makeDriver(endpointUrl: string, dataDir: string, points: PointSpec<OpcuaAddress>[] = [], extra: Partial<OpcuaConnection> = {}): SubscribableDriver & BrowsableDriver {
  const driver = opcuaManifest.create({ id: 'freezer', protocol: 'opcua', connection: fastConnection(endpointUrl, extra), points }, { log: createLogger('test-opcua'), dataDir });
  if (!isSubscribable(driver) || !isBrowsable(driver)) throw new Error('opcua driver must subscribe and browse');
  return driver;
}

/** Active handle counts by type (timers, sockets ...). */
function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function extraHandles(before: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, n] of handleCounts()) if (n > (before.get(type) ?? 0)) extra.push(`${type} x${n - (before.get(type) ?? 0)}`);
  return extra;
}

describe('opcua manifest', () => {
  it('declares protocol, profile family and capabilities', () => {
    expect(opcuaManifest.protocol).toBe('opcua');
    expect(opcuaManifest.profileProtocol).toBe('opcua');
    expect(opcuaManifest.capabilities).toEqual({ subscribe: true, browse: true });
  });

  it('schemas accept the documented fields and reject unknown ones', () => {
    expect(Value.Check(opcuaManifest.connectionSchema, { endpointUrl: 'opc.tcp://h:4840/x', securityMode: 'Sign', securityPolicy: 'Basic256Sha256', publishingIntervalMs: 500 })).toBe(true);
    expect(Value.Check(opcuaManifest.connectionSchema, { endpointUrl: 'http://h' })).toBe(false);
    expect(Value.Check(opcuaManifest.connectionSchema, { endpointUrl: 'opc.tcp://h', bogus: 1 })).toBe(false);
    expect(Value.Check(opcuaManifest.addressSchema, { nodeId: 'ns=1;s=A', samplingIntervalMs: 100, deadband: { type: 'percent', value: 2 } })).toBe(true);
    expect(Value.Check(opcuaManifest.addressSchema, { nodeId: 'ns=1;s=A', deadband: { type: 'relative', value: 2 } })).toBe(false);
  });

  it('validate() reports bad node ids and inconsistent security settings with paths', () => {
    const problems = opcuaManifest.validate({
      id: 'x',
      protocol: 'opcua',
      connection: { endpointUrl: 'opc.tcp://h:4840', securityMode: 'Sign', securityPolicy: 'None', password: 'p' },
      points: [
        point('ok', 'ns=1;s=ColdRoom.Temperature'),
        point('bad', 'ns=x;i=3'),
        point('null', 'i=0'),
        point('pct', 'ns=1;i=5', {}, { deadband: { type: 'percent', value: 150 } }),
      ],
    });
    const paths = problems.map((p) => p.path).sort();
    expect(paths).toEqual(['/connection/securityPolicy', '/connection/username', '/points/1/address/nodeId', '/points/2/address/nodeId', '/points/3/address/deadband/value']);
    expect(problems.find((p) => p.path === '/points/1/address/nodeId')?.message).toContain('ns=1;s=');
  });
});

describe('opcua driver against an in-process node-opcua server', () => {
  const tmp = tempDir('swarmgate-opcua-');
  let server: TestServer;
  let driver: SubscribableDriver & BrowsableDriver;

  beforeAll(async () => {
    server = await startTestServer(join(tmp.path, 'server-pki'));
    driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
    await driver.initialize();
  });

  afterAll(async () => {
    await driver?.stop(true);
    await server?.shutdown();
    tmp.remove();
  });

  it('creates its PKI under <dataDir>/pki/opcua', () => {
    expect(existsSync(join(tmp.path, 'data', 'pki', 'opcua', 'own'))).toBe(true);
  });

  it('reads values with source timestamps, scaling and quality from the StatusCode', async () => {
    const readings = await driver.read([
      point('temperature', NODES.temperature),
      point('scaled', NODES.temperature, { scale: 2, offset: 1 }),
      point('label', NODES.label),
      point('enabled', NODES.enabled),
      point('broken', NODES.broken),
      point('doubtful', NODES.doubtful),
      point('missing', 'ns=1;s=Room.Nope'),
    ]);
    const by = new Map(readings.map((r) => [r.point, r]));
    expect(by.get('temperature')).toMatchObject({ device: 'freezer', value: -18.5, quality: 'good' });
    expect(by.get('temperature')?.ts).toBeGreaterThan(Date.now() - 60_000);
    expect(by.get('scaled')?.value).toBe(-36);
    expect(by.get('label')?.value).toBe('freezer');
    expect(by.get('enabled')?.value).toBe(true);
    expect(by.get('broken')).toMatchObject({ quality: 'bad', value: null, cause: 'BadSensorFailure' });
    expect(by.get('doubtful')).toMatchObject({ quality: 'uncertain', value: 7, cause: 'UncertainLastUsableValue' });
    expect(by.get('missing')).toMatchObject({ quality: 'bad', value: null, cause: 'BadNodeIdUnknown' });
  });

  it('writes with the variable DataType (inverse scaling) and refuses what the server refuses', async () => {
    const setpoint = point('setpoint', NODES.setpoint, { writable: true });
    await driver.write(setpoint, -22.5);
    expect((await driver.read([setpoint]))[0]?.value).toBe(-22.5);

    const mode = point('mode', NODES.mode, { writable: true, scale: 0.5 });
    await driver.write(mode, 1.5); // raw 3 on an Int32
    expect((await driver.read([point('mode_raw', NODES.mode)]))[0]?.value).toBe(3);

    const enabled = point('enabled', NODES.enabled, { writable: true });
    await driver.write(enabled, false);
    expect((await driver.read([enabled]))[0]?.value).toBe(false);

    const readOnly = point('temperature', NODES.temperature, { writable: true });
    const refused = await driver.write(readOnly, 3).catch((e: unknown) => e);
    expect(isSwarmgateError(refused, 'SWG_ERR_DEVICE_EXCEPTION')).toBe(true);
    expect((refused as Error).message).toMatch(/Bad(NotWritable|UserAccessDenied)/);

    const wrongType = await driver.write(setpoint, 'cold').catch((e: unknown) => e);
    expect(isSwarmgateError(wrongType, 'SWG_ERR_POINT_TYPE')).toBe(true);

    const unknown = await driver.write(point('nope', 'ns=1;s=Room.Nope', { writable: true }), 1).catch((e: unknown) => e);
    expect(isSwarmgateError(unknown, 'SWG_ERR_DEVICE_EXCEPTION')).toBe(true);
  });

  it('browses variables from Objects with node ids, data types and writability, honouring maxDepth', async () => {
    const found = await driver.browse({ maxDepth: 4 });
    const by = new Map(found.map((p) => [(p.address as { nodeId: string }).nodeId, p]));
    expect(by.get(NODES.temperature)).toMatchObject({ name: 'room_temperature', dataType: 'Double', writable: false, description: 'Temperature of the test room' });
    expect(by.get(NODES.setpoint)).toMatchObject({ dataType: 'Double', writable: true });
    expect(by.get(NODES.mode)).toMatchObject({ dataType: 'Int32', writable: true });
    expect(by.get(NODES.enabled)).toMatchObject({ dataType: 'Boolean' });
    expect(by.has(NODES.level)).toBe(true);
    // Server diagnostics (namespace 0) and properties such as EURange are not points.
    expect(found.every((p) => !(p.address as { nodeId: string }).nodeId.startsWith('ns=0;'))).toBe(true);
    expect(found.some((p) => p.name.includes('eu_range'))).toBe(false);
    expect(await driver.browse({ maxDepth: 1 })).toEqual([]);
  });

  it('subscribes: initial values, pushed changes with source timestamps', async () => {
    const received: Reading[] = [];
    const sub = await driver.subscribe([point('setpoint', NODES.setpoint)], (r) => received.push(r));
    try {
      await waitFor(() => received.find((r) => r.quality === 'good') ?? undefined, 5000, 'initial value');
      const sourceTime = Date.now();
      server.set(NODES.setpoint, -19.25);
      const changed = await waitFor(() => received.find((r) => r.value === -19.25), 5000, 'changed value');
      expect(changed.quality).toBe('good');
      expect(changed.ts).toBeGreaterThanOrEqual(sourceTime - 5);
    } finally {
      await sub.close();
    }
  });

  it('absolute and percent deadbands filter small changes on the server', async () => {
    const received: Reading[] = [];
    const sub = await driver.subscribe(
      [
        point('temperature', NODES.temperature, {}, { deadband: { type: 'absolute', value: 0.5 }, samplingIntervalMs: 0 }),
        point('level', NODES.level, {}, { deadband: { type: 'percent', value: 5 }, samplingIntervalMs: 0 }),
      ],
      (r) => received.push(r),
    );
    try {
      await waitFor(() => (received.filter((r) => r.quality === 'good').length >= 2 ? true : undefined), 5000, 'initial values');
      server.set(NODES.temperature, -18.3); // 0.2 from -18.5: filtered
      server.set(NODES.level, 52); // 2 % of 0..100: filtered
      await new Promise((r) => setTimeout(r, 400));
      server.set(NODES.temperature, -17.0);
      server.set(NODES.level, 60);
      await waitFor(() => received.find((r) => r.point === 'temperature' && r.value === -17), 5000, 'temperature beyond deadband');
      await waitFor(() => received.find((r) => r.point === 'level' && r.value === 60), 5000, 'level beyond deadband');
      expect(received.some((r) => r.value === -18.3)).toBe(false);
      expect(received.some((r) => r.value === 52)).toBe(false);
    } finally {
      await sub.close();
    }
  });

  it('reports a monitored item the server refuses as bad without failing the others', async () => {
    const received: Reading[] = [];
    const sub = await driver.subscribe([point('ghost', 'ns=1;s=Room.Ghost'), point('label', NODES.label)], (r) => received.push(r));
    try {
      const ghost = await waitFor(() => received.find((r) => r.point === 'ghost'), 5000, 'ghost reading');
      expect(ghost).toMatchObject({ quality: 'bad', value: null });
      expect(ghost.cause).toContain('BadNodeIdUnknown');
      await waitFor(() => received.find((r) => r.point === 'label' && r.quality === 'good'), 5000, 'label');
    } finally {
      await sub.close();
    }
  });
});

describe('opcua recovery and teardown', () => {
  const tmp = tempDir('swarmgate-opcua-rec-');
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(join(tmp.path, 'server-pki'));
  });

  afterAll(async () => {
    await server?.shutdown();
    tmp.remove();
  });

  it('initialize() rejects fast with SWG_ERR_DEVICE_UNREACHABLE when nothing listens', async () => {
    const driver = makeDriver('opc.tcp://127.0.0.1:1/none', join(tmp.path, 'data'));
    const started = Date.now();
    const err = await driver.initialize().catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_DEVICE_UNREACHABLE')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    const read = await driver.read([point('t', NODES.temperature)]);
    expect(read[0]).toMatchObject({ quality: 'bad' });
    await driver.stop();
  });

  it('an unusable PKI folder is a clear configuration error', async () => {
    const file = join(tmp.path, 'not-a-dir');
    writeFileSync(file, 'x');
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'), [], { pkiDir: join(file, 'pki') });
    const err = await driver.initialize().catch((e: unknown) => e);
    await driver.stop();
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain('pkiDir');
  });

  it('server restart on the same port: points go bad during the outage, the subscription is restored and new values flow', async () => {
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
    await driver.initialize();
    const received: Reading[] = [];
    const points = [point('temperature', NODES.temperature), point('setpoint', NODES.setpoint)];
    const sub = await driver.subscribe(points, (r) => received.push(r));
    try {
      await waitFor(() => (received.filter((r) => r.quality === 'good').length >= 2 ? true : undefined), 5000, 'initial values');
      server.set(NODES.temperature, -10.5);
      await waitFor(() => received.find((r) => r.value === -10.5), 5000, 'value before restart');

      const port = server.port;
      await server.shutdown();
      const lost = await waitFor(() => received.find((r) => r.point === 'temperature' && r.cause === CONNECTION_LOST_CAUSE), 5000, 'connection lost reading');
      expect(lost).toMatchObject({ quality: 'bad', value: null });
      expect(received.some((r) => r.point === 'setpoint' && r.cause === CONNECTION_LOST_CAUSE)).toBe(true);
      // Polling during the outage answers at once with bad readings instead of hanging.
      const polled = await driver.read(points);
      expect(polled.every((r) => r.quality === 'bad')).toBe(true);

      const mark = received.length;
      await new Promise((r) => setTimeout(r, 300));
      await server.start(); // same port, fresh state (temperature back at -18.5)
      expect(server.port).toBe(port);
      // The restored subscription delivers the fresh server state ...
      await waitFor(() => received.slice(mark).find((r) => r.point === 'temperature' && r.quality === 'good' && r.value === -18.5), 15_000, 'value after restart');
      // ... and keeps delivering new changes.
      server.set(NODES.temperature, 4.25);
      server.set(NODES.setpoint, -30);
      await waitFor(() => received.slice(mark).find((r) => r.point === 'temperature' && r.value === 4.25), 5000, 'new temperature after restart');
      await waitFor(() => received.slice(mark).find((r) => r.point === 'setpoint' && r.value === -30), 5000, 'new setpoint after restart');
      const after = await driver.read(points);
      expect(after.map((r) => r.quality)).toEqual(['good', 'good']);
    } finally {
      await sub.close();
      await driver.stop();
    }
  });

  it('link cut while the server keeps its state: the kept subscription resumes and points turn good again without a value change', async () => {
    const proxy = await startTcpProxy(server.port);
    const driver = makeDriver(`opc.tcp://127.0.0.1:${proxy.port}/test`, join(tmp.path, 'data'));
    const received: Reading[] = [];
    try {
      await driver.initialize();
      const sub = await driver.subscribe([point('label', NODES.label)], (r) => received.push(r));
      await waitFor(() => received.find((r) => r.quality === 'good'), 5000, 'initial value');
      const created = server.cumulatedSubscriptionCount();
      proxy.cut(true);
      await waitFor(() => received.find((r) => r.cause === CONNECTION_LOST_CAUSE), 5000, 'connection lost');
      const mark = received.length;
      await new Promise((r) => setTimeout(r, 300));
      proxy.allow();
      // 'freezer' never changed: the good reading comes from the transfer's initial values or the
      // driver's re-read after the restore (which covers a plain republish that sends nothing).
      const back = await waitFor(() => received.slice(mark).find((r) => r.quality === 'good'), 15_000, 'good again');
      expect(back.value).toBe('freezer');
      expect(server.cumulatedSubscriptionCount()).toBe(created); // kept (republish/transfer), not recreated
      server.set(NODES.label, 'chiller');
      await waitFor(() => received.slice(mark).find((r) => r.value === 'chiller'), 5000, 'change after the cut');
      await sub.close();
    } finally {
      await driver.stop();
      await proxy.close();
    }
  });

  it('a variable missing after a restart is reported bad, retried, and monitored again once the server has it', async () => {
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
    const received: Reading[] = [];
    try {
      await driver.initialize();
      const sub = await driver.subscribe([point('setpoint', NODES.setpoint), point('temperature', NODES.temperature)], (r) => received.push(r));
      await waitFor(() => (received.filter((r) => r.quality === 'good').length >= 2 ? true : undefined), 5000, 'initial values');
      await server.shutdown();
      await waitFor(() => received.find((r) => r.cause === CONNECTION_LOST_CAUSE), 5000, 'connection lost');
      const mark = received.length;
      await server.start({ without: ['Setpoint'] });
      const refused = await waitFor(() => received.slice(mark).find((r) => r.point === 'setpoint' && r.cause?.includes('BadNodeIdUnknown')), 15_000, 'setpoint refused');
      expect(refused.quality).toBe('bad');
      await waitFor(() => received.slice(mark).find((r) => r.point === 'temperature' && r.quality === 'good'), 5000, 'temperature good');
      server.addMissing();
      server.set(NODES.setpoint, -33);
      await waitFor(() => received.slice(mark).find((r) => r.point === 'setpoint' && r.value === -33), 10_000, 'setpoint monitored again');
      await sub.close();
    } finally {
      await driver.stop();
      if (server.running) await server.shutdown();
      await server.start();
    }
  });

  it('SignAndEncrypt with Basic256Sha256 and a user name; wrong password and untrusted server certificates fail clearly', async () => {
    const secure = { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', username: 'operator', password: 'secret' } as const;
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'secure'), [], secure);
    try {
      await driver.initialize();
      expect((await driver.read([point('label', NODES.label)]))[0]?.value).toBe('freezer');
    } finally {
      await driver.stop();
    }
    const wrong = makeDriver(server.endpointUrl, join(tmp.path, 'secure'), [], { ...secure, password: 'nope' });
    const denied = await wrong.initialize().catch((e: unknown) => e);
    await wrong.stop();
    expect(isSwarmgateError(denied, 'SWG_ERR_OPCUA_SESSION')).toBe(true);
    expect((denied as Error).message).toMatch(/refused the session/);

    const strict = makeDriver(server.endpointUrl, join(tmp.path, 'strict'), [], { ...secure, automaticallyAcceptUnknownCertificate: false });
    const untrusted = await strict.initialize().catch((e: unknown) => e);
    await strict.stop();
    expect(isSwarmgateError(untrusted, 'SWG_ERR_OPCUA_SESSION')).toBe(true);
    expect((untrusted as Error).message).toMatch(/BadCertificateUntrusted.*move its certificate from .*rejected/);
    expect(existsSync(join(tmp.path, 'strict', 'pki', 'opcua', 'rejected'))).toBe(true);
  });

  it('a subscription the server drops silently is noticed and recreated', async () => {
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
    const received: Reading[] = [];
    try {
      await driver.initialize();
      const sub = await driver.subscribe([point('mode', NODES.mode)], (r) => received.push(r));
      await waitFor(() => received.find((r) => r.quality === 'good'), 5000, 'initial value');
      const created = server.cumulatedSubscriptionCount();
      expect(server.dropSubscriptions()).toBe(1);
      // node-opcua reports nothing here; the keep-alive watchdog (3 x 500 ms silent) notices.
      // Meanwhile nobody knows the value is current: the point is reported bad, not left good.
      const silent = await waitFor(() => received.find((r) => r.cause === SUBSCRIPTION_SILENT_CAUSE), 5000, 'the point reported bad while silent');
      expect(silent).toMatchObject({ point: 'mode', quality: 'bad', value: null });
      await waitFor(() => (server.cumulatedSubscriptionCount() > created ? true : undefined), 5000, 'a new subscription');
      server.set(NODES.mode, 7);
      await waitFor(() => received.find((r) => r.value === 7), 5000, 'value through the new subscription');
      await sub.close();
    } finally {
      await driver.stop();
    }
  });

  it('stop() leaves no sockets or timers behind, connected or in the middle of reconnecting', async () => {
    for (const outage of [false, true]) {
      if (!server.running) await server.start();
      await new Promise((r) => setTimeout(r, 50));
      const before = handleCounts();
      const driver: Driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
      await driver.initialize();
      if (isSubscribable(driver)) await driver.subscribe([point('temperature', NODES.temperature)], () => undefined);
      if (outage) {
        await server.shutdown();
        await new Promise((r) => setTimeout(r, 700)); // inside node-opcua's reconnect backoff
      }
      await driver.stop();
      if (outage) {
        // the server's own handles went away with it
        expect(extraHandles(before), 'after stop during an outage').toEqual([]);
      } else {
        expect(extraHandles(before), 'after stop while connected').toEqual([]);
      }
    }
  });
});

driverContract({
  name: 'opcua (in-process node-opcua server)',
  async setup() {
    const tmp = tempDir('swarmgate-opcua-contract-');
    const server = await startTestServer(join(tmp.path, 'server-pki'));
    const driver = makeDriver(server.endpointUrl, join(tmp.path, 'data'));
    return {
      driver,
      readable: [point('temperature', NODES.temperature), point('label', NODES.label), point('enabled', NODES.enabled)],
      writes: [
        { point: point('setpoint', NODES.setpoint, { writable: true }), value: -21.5 },
        { point: point('mode', NODES.mode, { writable: true }), value: 2 },
      ],
      missing: point('ghost', 'ns=1;s=Room.Ghost'),
      async teardown() {
        await server.shutdown();
        tmp.remove();
      },
    };
  },
});
