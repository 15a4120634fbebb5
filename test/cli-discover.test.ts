/**
 * `swarmgate edge discover` in process against the AHU simulator (it answers on every unit id):
 * what a scan of several units writes must pass `edge check`, and the counts it prints must be
 * the points it drafted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { discover } from '../cli/discover.js';
import { startAhuServer, type AhuServer } from '../devices/modbus/ahu-server.js';
import { checkGatewayConfigFile } from '../edge/config/check-file.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { formatProblem } from '../shared/kit/config-file.js';
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
  it('a scan of two units writes what edge check accepts: one profile per unit and a gateway config draft using them', async () => {
    const output = join(dir.path, 'draft.yaml');
    const { code, stderr } = await run(['--protocol', 'modbus-tcp', '--host', ahu.host, '--port', String(ahu.port), '--units', '1-2', '--output', output, '--name', 'ahu-draft']);
    expect(code).toBe(0);
    expect(readFileSync(output, 'utf8')).not.toMatch(/^---/m);
    const { loaded, problems } = checkGatewayConfigFile(output, builtinDrivers());
    expect(problems.map(formatProblem)).toEqual([]);
    expect(loaded?.devices).toMatchObject([
      { protocol: 'modbus-tcp', connection: { host: ahu.host, port: ahu.port, unitId: 1 } },
      { protocol: 'modbus-tcp', connection: { host: ahu.host, port: ahu.port, unitId: 2 } },
    ]);
    // The counts printed are the points written, not the readable ranges the scan found.
    const perUnit = loaded?.devices.map((d) => d.points.length) ?? [];
    expect(perUnit[0]).toBeGreaterThan(12);
    for (const count of perUnit) expect(stderr).toContain(`${count} points`);
    expect(stderr).toContain(`edge check ${output}`);
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
});
