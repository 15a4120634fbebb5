/**
 * `swarmgate edge discover` in process: a scan of several units on an RS-485 bus (the energy-meter
 * simulator over a socat pty) writes what `edge check` accepts, with counts that are the points
 * drafted; the AHU simulator answers on every unit id, and is drafted once, saying so.
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { discover, discoverDataDir } from '../cli/discover.js';
import { startColdRoomServer, type ColdRoomServer } from '../devices/opcua/cold-room-server.js';
import { startAhuServer, type AhuServer } from '../devices/modbus/ahu-server.js';
import { startMeterBus, type MeterBus } from '../devices/modbus/meter-bus.js';
import { checkGatewayConfigFile } from '../edge/config/check-file.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { formatProblem } from '../shared/kit/config-file.js';
import { startSocat } from './drivers/modbus/helpers.js';
import { peerOrSkip, socatPeer } from './support/peers.js';
import { tempDir } from './support/tmp.js';

const dir = tempDir('swarmgate-discover-');
let ahu: AhuServer;

beforeAll(async () => {
  ahu = await startAhuServer({ speed: 0 });
});

afterAll(async () => {
  await ahu?.stop();
  dir.remove();
});

/** Runs discover with stderr captured. */
async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    const code = await discover(args);
    return { code, stderr: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe('edge discover --protocol modbus-tcp', { timeout: 60_000 }, () => {
  it('a device that answers on every unit id is drafted once, and the scan says so', async () => {
    const output = join(dir.path, 'ahu.yaml');
    const { code, stderr } = await run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--units', '1-3', '--output', output, '--name', 'ahu-draft']);
    expect(code).toBe(0);
    expect(stderr).toContain('on 1 unit (unit id 1)');
    expect(stderr).toContain('unit 1 also answers as units 2, 3 with the same registers and values (the device ignores the unit id): drafted once, as unit 1');
    const points = (readFileSync(output, 'utf8').match(/^ {2}- name: /gm) ?? []).length;
    expect(points).toBeGreaterThan(12);
    expect(stderr).toContain(`${points} points`);
  });

  it('a scan of one unit writes a profile, and its count is the profile points', async () => {
    const output = join(dir.path, 'one.yaml');
    const { code, stderr } = await run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--units', '1', '--output', output]);
    expect(code).toBe(0);
    const points = (readFileSync(output, 'utf8').match(/^ {2}- name: /gm) ?? []).length;
    expect(points).toBeGreaterThan(12);
    expect(stderr).toContain(`${points} points`);
  });

  it('several units without --output: refused before scanning, saying why', async () => {
    await expect(run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--units', '1-2'])).rejects.toThrow(/--output/);
  });

  it('an --output folder that does not exist or is not writable: refused before scanning, naming the folder', async () => {
    const missing = join(dir.path, 'nonexistent', 'dir', 'draft.yaml');
    const started = Date.now();
    await expect(run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--units', '1-247', '--output', missing])).rejects.toThrow(
      `--output ${missing}: cannot write the draft there (${join(dir.path, 'nonexistent', 'dir')}: no such file); nothing was scanned`,
    );
    // A scan of 247 units would take far longer.
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(run(['--protocol', 'bacnet-ip', '--output', missing])).rejects.toThrow('nothing was scanned');
    if (process.getuid?.() !== 0) {
      const locked = join(dir.path, 'locked');
      mkdirSync(locked, { mode: 0o500 });
      await expect(run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--output', join(locked, 'd.yaml')])).rejects.toThrow(`${locked}: permission denied`);
    }
    await expect(run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--output', dir.path])).rejects.toThrow('is a folder; give a file name');
  });

  it('--help prints the usage of every protocol, with the OPC UA security options, and exits 0', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await discover(['--help'])).toBe(0);
      expect(await discover(['--protocol', 'bacnet-ip', '--help'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out[0]).toContain('--security-mode None|Sign|SignAndEncrypt');
    for (const protocol of ['opcua', 'modbus-tcp', 'modbus-rtu', 'bacnet-ip']) expect(out[0]).toContain(`--protocol ${protocol}`);
    expect(out[1]).toBe(out[0]);
  });
});

describe('edge discover --protocol opcua: where its client certificate and key go', { timeout: 90_000 }, () => {
  let server: ColdRoomServer;
  beforeAll(async () => {
    server = await startColdRoomServer({ dataDir: dir.path, speed: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a private per-user folder ($XDG_CONFIG_HOME/swarmgate/discover, mode 0700), or the gateway data folder given, never the shared tmp', async () => {
    const config = join(dir.path, 'xdg');
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = config;
    try {
      mkdirSync(join(config, 'swarmgate', 'discover'), { recursive: true, mode: 0o755 });
      chmodSync(join(config, 'swarmgate', 'discover'), 0o755);
      const output = join(dir.path, 'cold.yaml');
      const { code } = await run(['--protocol', 'opcua', '--endpoint', server.endpointUrl, '--output', output]);
      expect(code).toBe(0);
      const folder = join(config, 'swarmgate', 'discover');
      expect(statSync(folder).mode & 0o777).toBe(0o700);
      expect(readdirSync(join(folder, 'pki', 'opcua'))).toContain('own');
      expect(discoverDataDir(undefined, { XDG_CONFIG_HOME: config })).toBe(folder);
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
    const gatewayData = join(dir.path, 'gw-data');
    const { code } = await run(['--protocol', 'opcua', '--endpoint', server.endpointUrl, '--data-dir', gatewayData, '--output', join(dir.path, 'cold2.yaml')]);
    expect(code).toBe(0);
    expect(readdirSync(join(gatewayData, 'pki', 'opcua'))).toContain('own');
    await expect(run(['--protocol', 'modbus-tcp', '--host', 'h', '--data-dir', gatewayData])).rejects.toThrow('OPC UA options');
  });
});

describe.skipIf(!peerOrSkip(socatPeer()))('edge discover --protocol modbus-rtu: two meters on one bus', { timeout: 60_000 }, () => {
  let pty: Awaited<ReturnType<typeof startSocat>>;
  let bus: MeterBus;
  beforeAll(async () => {
    pty = await startSocat();
    bus = await startMeterBus({ path: pty.simPath, unitIds: [1, 2], speed: 0, seed: 9 });
    bus.model.step(60);
  });
  afterAll(async () => {
    await bus?.stop();
    await pty?.close();
  });

  it('a scan of several units writes what edge check accepts: one profile per unit and a gateway config draft using them', async () => {
    const output = join(dir.path, 'meters.yaml');
    const { code, stderr } = await run(['--protocol', 'modbus-rtu', '--path', pty.gatewayPath, '--baud', '9600', '--units', '1-3', '--output', output, '--name', 'meter-draft']);
    expect(code).toBe(0);
    expect(readFileSync(output, 'utf8')).not.toMatch(/^---/m);
    const { loaded, problems } = checkGatewayConfigFile(output, builtinDrivers());
    expect(problems.map(formatProblem)).toEqual([]);
    expect(loaded?.devices).toMatchObject([
      { protocol: 'modbus-rtu', connection: { path: pty.gatewayPath, unitId: 1 } },
      { protocol: 'modbus-rtu', connection: { path: pty.gatewayPath, unitId: 2 } },
    ]);
    // The counts printed are the points written, not the readable ranges the scan found.
    const perUnit = loaded?.devices.map((d) => d.points.length) ?? [];
    expect(perUnit[0]).toBeGreaterThan(3);
    for (const count of perUnit) expect(stderr).toContain(`${count} points`);
    expect(stderr).toContain(`edge check ${output}`);
    expect(stderr).not.toContain('also answers as');
  });
});
