/**
 * A gateway run by hand as root (`sudo swarmgate edge --config /etc/swarmgate/gateway.yaml`) on an
 * installed box used to make /etc/swarmgate/data/<id> owned by root; the service (User=swarmgate,
 * $STATE_DIRECTORY set) then preferred that existing folder and crash-looped with EACCES. Root on
 * the service's config is refused, naming the folder, its owner and what to run instead; and from
 * a shell the data folder is the service's state directory, as `edge dead-letters` finds it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GATEWAY_STATE_DIRECTORY, GATEWAY_SERVICE_USER, defaultDataDir, rootOnServiceConfig } from '../../edge/config/load.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swarmgate-rootrun-');
afterAll(() => dir.remove());

describe('root on the gateway service\'s config', () => {
  const etc = join(dir.path, 'etc/swarmgate');
  mkdirSync(etc, { recursive: true });
  const config = join(etc, 'gateway.yaml');
  writeFileSync(config, 'gateway: { id: gw-rr, site: hq }\n');
  const names = (id: number): string | undefined => (id === 998 ? GATEWAY_SERVICE_USER : id === 1000 ? 'pi' : undefined);

  it('is refused with the folder, its owner and what to run instead', () => {
    const err = rootOnServiceConfig(config, 0, () => 998, names);
    expect(err?.code).toBe('SWG_ERR_FILE_WRITE');
    expect(err?.message).toContain(`its folder ${etc} belongs to user swarmgate (uid 998)`);
    expect(err?.toDisplay()).toContain('systemctl enable --now swarmgate-edge');
    expect(err?.toDisplay()).toContain(`sudo -u swarmgate swarmgate edge --config ${config}`);
  });

  it('is not refused for the service user, for root on root\'s folder, or on another user\'s checkout (the demo)', () => {
    expect(rootOnServiceConfig(config, 998, () => 998, names)).toBeUndefined();
    expect(rootOnServiceConfig(config, 0, () => 0, names)).toBeUndefined();
    expect(rootOnServiceConfig(config, 0, () => 1000, names)).toBeUndefined();
    expect(rootOnServiceConfig(join(dir.path, 'missing/gateway.yaml'), 0)).toBeUndefined();
  });

  it('from a shell (no $STATE_DIRECTORY) uses the service\'s state directory when only it exists, as the service does', () => {
    const exists = (p: string): boolean => p === GATEWAY_STATE_DIRECTORY;
    expect(defaultDataDir(config, 'gw-rr', {}, exists, GATEWAY_STATE_DIRECTORY)).toBe(GATEWAY_STATE_DIRECTORY);
    expect(defaultDataDir(config, 'gw-rr', { STATE_DIRECTORY: GATEWAY_STATE_DIRECTORY }, exists)).toBe(GATEWAY_STATE_DIRECTORY);
  });
});
