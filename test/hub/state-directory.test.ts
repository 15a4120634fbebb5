/**
 * The hub's SQLite store path under systemd ($STATE_DIRECTORY) and the error when it cannot be
 * created: the path and where it belongs, not only "ENOENT ... mkdir".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HUB_STATE_DIRECTORY, parseHubConfig } from '../../hub/config.js';
import { resolveDataPath } from '../../shared/kit/state-dir.js';
import { openHubStore } from '../../hub/features.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { peerOrSkip } from '../support/peers.js';
import { readOnlyFolder } from '../support/read-only-folder.js';
import { tempDir } from '../support/tmp.js';

const CONFIG = 'broker: { embedded: { credentialsFile: users.yaml } }\nstore: { kind: sqlite }\n';

describe('hub store path and $STATE_DIRECTORY', () => {
  const dir = tempDir('swg-hub-state-');
  afterAll(() => dir.remove());

  it('a relative store.path goes to the state directory, unless the database exists next to the config already', () => {
    const etc = join(dir.path, 'etc');
    const state = join(dir.path, 'state');
    mkdirSync(etc);
    const file = join(etc, 'hub.yaml');
    expect(parseHubConfig(CONFIG, file, { STATE_DIRECTORY: state }).store).toMatchObject({ path: join(state, 'data/hub.db') });
    expect(parseHubConfig(CONFIG, file, { STATE_DIRECTORY: `${state}:/other` }).store).toMatchObject({ path: join(state, 'data/hub.db') });
    expect(parseHubConfig(CONFIG, file, { STATE_DIRECTORY: 'relative' }).store).toMatchObject({ path: join(etc, 'data/hub.db') });
    expect(parseHubConfig(CONFIG, file, {}).store).toMatchObject({ path: join(etc, 'data/hub.db') });
    // A hub installed before this rule keeps its database.
    mkdirSync(join(etc, 'data'));
    writeFileSync(join(etc, 'data/hub.db'), '');
    expect(parseHubConfig(CONFIG, file, { STATE_DIRECTORY: state }).store).toMatchObject({ path: join(etc, 'data/hub.db') });
  });

  it("a command run from a shell (no $STATE_DIRECTORY) opens the service's database in the installed state directory, not a new one next to the config", () => {
    const file = '/etc/swarmgate/hub.yaml';
    const exists = (have: string[]) => (p: string) => have.includes(p);
    const installed = join(HUB_STATE_DIRECTORY, 'data/hub.db');
    // Only the service's database exists: the command opens it.
    expect(resolveDataPath(file, 'data/hub.db', {}, exists([installed]), HUB_STATE_DIRECTORY)).toBe(installed);
    // One next to the config (a hub run from a shell before): that one, as before.
    expect(resolveDataPath(file, 'data/hub.db', {}, exists([installed, '/etc/swarmgate/data/hub.db']), HUB_STATE_DIRECTORY)).toBe('/etc/swarmgate/data/hub.db');
    // Neither: next to the config, as before (a hub started from a checkout).
    expect(resolveDataPath(file, 'data/hub.db', {}, exists([]), HUB_STATE_DIRECTORY)).toBe('/etc/swarmgate/data/hub.db');
    // Under systemd the state directory it is given wins over the installed default.
    expect(resolveDataPath(file, 'data/hub.db', { STATE_DIRECTORY: '/srv/hub' }, exists([installed]), HUB_STATE_DIRECTORY)).toBe('/srv/hub/data/hub.db');
  });

  const roFolder = readOnlyFolder(join(dir.path, 'ro'));
  roFolder?.seal();
  const ro = roFolder?.path ?? '';
  afterAll(() => roFolder?.remove());
  const runnable = peerOrSkip({ available: roFolder !== undefined, reason: 'needs root and mount (a read-only tmpfs, as /etc is to the hub unit)' });

  it.skipIf(!runnable)('a store.path in a read-only folder: the error names the path, the errno and the state directory', async () => {
    const config = parseHubConfig(CONFIG, join(ro, 'hub.yaml'), {});
    const err = await openHubStore(config.store).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_HUB_STORE'), String(err)).toBe(true);
    if (!isSwarmgateError(err)) return;
    expect(err.message).toContain(join(ro, 'data/hub.db'));
    expect(err.message).toContain(`(${ro} is on a read-only file system, EROFS)`);
    expect(err.details).toMatchObject({ path: join(ro, 'data/hub.db'), errno: 'EROFS' });
    expect(err.hint).toContain(`store.path ${join(ro, 'data/hub.db')}`);
    expect(err.hint).toContain('/var/lib/swarmgate-hub');
  });
});
