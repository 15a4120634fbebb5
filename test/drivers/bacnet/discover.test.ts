/**
 * `swarmgate edge discover --protocol bacnet-ip` against the bacnet-stack peer: Who-Is to one
 * address and to a broadcast address, the devices listed with vendor and model, and drafts (a
 * profile per device and a gateway config using them) that `edge check` accepts, with names, units
 * and commandable objects as writable points.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { discover, discoverBacnet } from '../../../cli/discover.js';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { formatProblem } from '../../../shared/kit/config-file.js';
import { peerOrSkip } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { bacnetStackPeer, freeUdpPort, startPeerDevice, type PeerDevice } from './bacnet-stack.js';

const run = peerOrSkip(bacnetStackPeer());

async function captured(fn: () => Promise<number>): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    return { code: await fn(), stderr: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe.skipIf(!run)('edge discover --protocol bacnet-ip (bacnet-stack peer)', { timeout: 30_000 }, () => {
  const dir = tempDir('swarmgate-bacnet-discover-');
  let serv: PeerDevice;
  let basic: PeerDevice;
  beforeAll(async () => {
    [serv, basic] = await Promise.all([startPeerDevice('bacserv', 1700, 'Plant Controller'), startPeerDevice('bacbasic', 2700)]);
  });
  afterAll(async () => {
    await Promise.all([serv?.stop(), basic?.stop()]);
    dir.remove();
  });

  it('Who-Is to one address: lists the device and writes drafts that edge check accepts', async () => {
    const output = join(dir.path, 'serv.yaml');
    const bind = `127.0.0.1:${await freeUdpPort()}`;
    const { code, stderr } = await captured(() => discover(['--protocol', 'bacnet-ip', '--bind', bind, '--target', serv.address, '--wait', '500', '--output', output]));
    expect(code).toBe(0);
    expect(stderr).toMatch(/1700 {2}127\.0\.0\.1:\d+ {2}BACnet Stack at SourceForge GNU {2}"Plant Controller"/);
    const { loaded, problems } = checkGatewayConfigFile(output, builtinDrivers());
    expect(problems.map(formatProblem)).toEqual([]);
    expect(loaded?.devices).toMatchObject([{ protocol: 'bacnet-ip', connection: { bind, deviceInstance: 1700, deviceAddress: serv.address } }]);
    const profile = parse(readFileSync(join(dir.path, 'serv-1700.yaml'), 'utf8')) as { points: { name: string; unit?: string; writable?: boolean; address: unknown }[] };
    const byName = new Map(profile.points.map((p) => [p.name, p]));
    expect(byName.get('analog_input_1')).toMatchObject({ unit: '%', address: { objectType: 'analog-input', instance: 1 } });
    expect(byName.get('analog_input_1')?.writable).toBeUndefined();
    expect(byName.get('analog_output_1')).toMatchObject({ writable: true }); // it has a priority-array
    expect(stderr).toContain(`${profile.points.length} points`);
  });

  it('Who-Is to a broadcast address within an instance range, with tags from a proposer', async () => {
    const output = join(dir.path, 'basic.yaml');
    const args = ['--protocol', 'bacnet-ip', '--bind', `127.0.0.1:${await freeUdpPort()}`, '--broadcast', `127.255.255.255:${basic.port}`, '--instances', '2000-2999', '--wait', '500', '--output', output];
    const { code } = await captured(() => discoverBacnet(args, { proposeTags: (p) => (p.unit === 'degC' ? ['temp'] : []) }));
    expect(code).toBe(0);
    const profile = parse(readFileSync(join(dir.path, 'basic-2700.yaml'), 'utf8')) as { points: { name: string; unit?: string; writable?: boolean; tags?: string[] }[] };
    expect(profile.points).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'indoor_air_temperature', unit: 'degC', tags: ['temp'] }),
        expect.objectContaining({ name: 'temperature_setpoint', unit: 'degC', writable: true }),
        expect.objectContaining({ name: 'vav_actuator', unit: 'deg' }),
      ]),
    );
  });

  it('says so when nothing answers', async () => {
    const silent = await freeUdpPort();
    const bind = `127.0.0.1:${await freeUdpPort()}`;
    const { code, stderr } = await captured(() => discover(['--protocol', 'bacnet-ip', '--bind', bind, '--target', `127.0.0.1:${silent}`, '--wait', '300']));
    expect(code).toBe(1);
    expect(stderr).toContain('no device answered Who-Is');
  });
});
