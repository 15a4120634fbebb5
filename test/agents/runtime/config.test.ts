/** The hub config's agents and review sections: defaults, relative facility model path, validation; the demo model loads. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFacilityModel } from '../../../hub/agents/runtime/index.js';
import { parseHubConfig } from '../../../hub/config.js';
import { featureMigrations, FEATURES } from '../../../hub/features.js';
import { ROOT } from '../../e2e/support/edge.js';

const BASE = 'broker: { embedded: { port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n';

describe('hub config: agents and review', () => {
  it('fills defaults and resolves the facility model against the config file', () => {
    const c = parseHubConfig(`${BASE}agents: { enabled: true, facilityModel: facility.yaml }\nreview: {}\n`, '/etc/swarmgate/hub.yaml');
    expect(c.agents).toEqual({ enabled: true, facilityModel: '/etc/swarmgate/facility.yaml', threshold: 0.8, evaluationIntervalS: 60 });
    expect(c.review).toEqual({ defaultExpiryMinutes: 480, evidenceWindowMinutes: 60, sweepIntervalMs: 5000 });
    expect(parseHubConfig(BASE, '/x/hub.yaml').agents).toBeUndefined();
  });

  it('names bad fields', () => {
    expect(() => parseHubConfig(`${BASE}agents: { enabled: true, facilityModel: f.yaml, threshold: 1.5 }\n`, '/x/hub.yaml')).toThrow(/agents\.threshold/);
    expect(() => parseHubConfig(`${BASE}agents: { enabled: true }\n`, '/x/hub.yaml')).toThrow(/facilityModel/);
  });

  it('the demo facility model matches the demo gateway', () => {
    const f = loadFacilityModel(join(ROOT, 'deploy/examples/demo-facility.yaml'));
    expect(f.gateway('gw-demo-1')?.site.id).toBe('demo-site');
    expect(f.first('freezer', 'backup_compressor_relay')).toMatchObject({ device: 'io', point: 'backup_compressor_relay', writable: true });
    expect(f.first('freezer', 'cold_room_temp')).toMatchObject({ device: 'coldroom', point: 'temperature' });
    expect(() => loadFacilityModel(join(ROOT, 'deploy/examples/demo-gateway.yaml'))).toThrow(/facility model is invalid/);
  });

  it('feature migrations stay inside their version ranges and never collide', () => {
    expect(featureMigrations('sqlite').map((m) => m.version)).toEqual(expect.arrayContaining([10, 30]));
    expect(featureMigrations('postgres').length).toBe(featureMigrations('sqlite').length);
    const clash = { feature: 'x', versions: [10, 19] as const, sqlite: [{ version: 10, name: 'x', sql: '' }], postgres: [] };
    expect(() => featureMigrations('sqlite', [...FEATURES, clash])).toThrow(/used by both/);
    expect(() => featureMigrations('sqlite', [{ ...clash, versions: [40, 49] as const }])).toThrow(/outside its range/);
  });
});
