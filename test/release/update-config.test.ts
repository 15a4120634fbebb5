/** The `update:` section of gateway.yaml: checked with the rest of the config; its defaults. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGatewayConfigFile } from '../../edge/config/check-file.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { updateSettings } from '../../edge/update/schema.js';
import { tempDir } from '../support/tmp.js';

const AHU = fileURLToPath(new URL('../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const dir = tempDir('swg-update-config-');
afterAll(() => dir.remove());

function check(extra: string): string[] {
  const file = join(dir.path, 'gateway.yaml');
  writeFileSync(file, `gateway: { id: gw1, site: s1 }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: 127.0.0.1, port: 502 } }\n${extra}`);
  return checkGatewayConfigFile(file, builtinDrivers()).problems.map((p) => `${p.line}: ${p.path}: ${p.message}`);
}

describe('update config', () => {
  it('is checked like every section: it needs federation, the key and root, and nothing unknown', () => {
    const federation = 'federation: { mqtt: { url: "mqtt://127.0.0.1:1883" } }\n';
    expect(check(`${federation}update: { installRoot: /opt/swarmgate, releaseKeyFile: /etc/swarmgate/release.pub }\n`)).toEqual([]);
    expect(check('update: { installRoot: /opt/swarmgate, releaseKeyFile: k.pub }\n')).toEqual(['4: update: needs a federation section: releases come from the hub over its MQTT link and API']);
    expect(check(`${federation}update: { installRoot: /opt/swarmgate }\n`).join('\n')).toContain('releaseKeyFile');
    expect(check(`${federation}update: { installRoot: /x, releaseKeyFile: k.pub, healthDeadlineSec: 1 }\n`).join('\n')).toContain('healthDeadlineSec');
    expect(check(`${federation}update: { installRoot: /x, releaseKeyFile: k.pub, autoReboot: true }\n`).join('\n')).toContain('autoReboot');
  });

  it('has defaults, and paths resolve against the config file', () => {
    expect(updateSettings({ installRoot: 'root', releaseKeyFile: 'keys/release.pub' }, (p) => join('/etc/swarmgate', p))).toEqual({
      enabled: true,
      installRoot: '/etc/swarmgate/root',
      releaseKeyFile: '/etc/swarmgate/keys/release.pub',
      healthDeadlineMs: 300_000,
      healthyForMs: 10_000,
      maxBoots: 3,
      keepReleases: 3,
    });
  });
});
