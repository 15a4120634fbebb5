/**
 * `swarmgate sim speed|step` as a user runs them against a running simulator (in this process).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = join(ROOT, 'cli', 'main.ts');

async function sim(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', ENTRY, 'sim', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'error' } });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code ?? -1 };
  }
}

// Each child loads the CLI under tsx: 5-15 s on a loaded 2-core box.
describe('swarmgate sim speed / step', { timeout: 120_000 }, () => {
  let facility: Facility;
  beforeAll(async () => {
    facility = await startFacility({ speed: 0, seed: 3 });
  });
  afterAll(() => facility.stop());

  it('sets the speed, jumps simulated time ahead, and refuses a bad number with exit 2', async () => {
    const control = ['--control', facility.endpoints.control.url];
    const set = await sim(['speed', '30', ...control]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('simulated time runs at 30 s per real second\n');
    expect(facility.speed).toBe(30);
    facility.setSpeed(0);

    const before = facility.model.now();
    const step = await sim(['step', '1800', ...control]);
    expect(step.code, step.stderr).toBe(0);
    expect(facility.model.now() - before).toBeGreaterThanOrEqual(1_800_000);
    expect(step.stdout).toMatch(/^simulated time now \d{4}-\d\d-\d\dT.*; cold room -?\d+\.\d degC\n$/);

    const bad = await sim(['step', 'soon', ...control]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('sim step: expected a number >= 0');

    const cleared = await sim(['fault', 'clear', ...control]);
    expect(cleared.stdout).toBe('all faults cleared\n');
    // Nothing listening there: the addresses tried are named (it used to say only "fetch failed").
    const closed = await sim(['speed', '--control', 'http://127.0.0.1:9']);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('no simulator control API answered at http://127.0.0.1:9');
  });
});
