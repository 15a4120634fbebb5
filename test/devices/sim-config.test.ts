import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSimConfig, runSimulator } from '../../devices/sim-config.js';
import { tempDir } from '../support/tmp.js';

describe('simulator config', () => {
  const dir = tempDir('swarmgate-simcfg-');
  afterAll(() => dir.remove());

  const write = (name: string, text: string): string => {
    const p = join(dir.path, name);
    writeFileSync(p, text);
    return p;
  };

  it('has defaults without a file', () => {
    const c = loadSimConfig();
    expect(c).toMatchObject({ host: '127.0.0.1', speed: 1, seed: 1, energyWordOrder: 'little', ports: { modbusTcp: 5020, opcua: 4841, gpio: 5017, control: 5080 } });
    expect(c.rtu).toBeUndefined();
  });

  it('reads a file, fills defaults, resolves dataDir against it', () => {
    const c = loadSimConfig(write('ok.yaml', 'speed: 60\nseed: 7\nports: { modbusTcp: 0 }\nrtu: { path: /dev/ttyS9 }\ndataDir: state\n'));
    expect(c.speed).toBe(60);
    expect(c.ports).toEqual({ modbusTcp: 0, opcua: 4841, gpio: 5017, control: 5080 });
    expect(c.rtu).toEqual({ path: '/dev/ttyS9', baudRate: 9600, unitIds: [1, 2] });
    expect(c.dataDir).toBe(join(dir.path, 'state'));
  });

  it('names bad fields and YAML errors', () => {
    // Every problem names file:line:column and the field.
    expect(() => loadSimConfig(write('bad.yaml', 'speed: -1\nports: { gpio: 70000 }\nbogus: 1\n'))).toThrow(/bad\.yaml:1:\d+: speed: .*bad\.yaml:2:\d+: ports\.gpio: .*bad\.yaml:3:\d+: bogus: unknown key/s);
    expect(() => loadSimConfig(write('yaml.yaml', 'speed: [1,\n'))).toThrow(expect.objectContaining({ code: 'SWG_ERR_CONFIG_YAML' }));
    expect(() => loadSimConfig(join(dir.path, 'missing.yaml'))).toThrow(expect.objectContaining({ code: 'SWG_ERR_CONFIG_NOT_FOUND' }));
  });

  it('runSimulator starts the facility from the file', async () => {
    const p = write('run.yaml', `speed: 0\nports: { modbusTcp: 0, opcua: 0, gpio: 0, control: 0 }\nstartTime: "2024-11-25T08:00:00Z"\n`);
    const facility = await runSimulator(p);
    try {
      expect(facility.endpoints.modbusTcp.port).toBeGreaterThan(0);
      expect(facility.model.now()).toBe(Date.parse('2024-11-25T08:00:00Z'));
      const state = (await (await fetch(`${facility.endpoints.control.url}/state`)).json()) as { time: number };
      expect(state.time).toBe(facility.model.now());
    } finally {
      await facility.stop();
    }
  });
});
