/**
 * The shipped hub units with the hub's data paths. Under them /etc/swarmgate is read-only to the
 * hub (ProtectSystem=full) and systemd passes the state directory (StateDirectory=swarmgate-hub)
 * as $STATE_DIRECTORY: a relative SQLite store.path — the default `data/hub.db` included — must
 * land there, not next to /etc/swarmgate/hub.yaml (it used to: "cannot open SQLite store at
 * /etc/swarmgate/data/hub.db"), nor may releases.dir or a relative PostgreSQL journal. The cluster
 * examples' journal folders live in the same directory.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNITS = ['swarmgate-hub.service', 'swarmgate-hub@.service'];

function unit(name: string): { stateDir: string; configFile: string; protectSystem: string } {
  const text = readFileSync(join(ROOT, 'deploy/systemd', name), 'utf8');
  const value = (key: string): string => text.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1]?.trim() ?? '';
  return { stateDir: `/var/lib/${value('StateDirectory')}`, configFile: value('ExecStart').match(/--config (\S+)/)?.[1]?.replace('%i', '1') ?? '', protectSystem: value('ProtectSystem') };
}

describe('the hub units and the hub data paths', () => {
  for (const name of UNITS) {
    it(`${name}: the default and relative SQLite store paths, releases.dir and a relative journal resolve in its state directory`, () => {
      const { stateDir, configFile, protectSystem } = unit(name);
      expect(stateDir).toBe('/var/lib/swarmgate-hub');
      expect(configFile.startsWith('/etc/swarmgate/')).toBe(true);
      expect(protectSystem).toBe('full'); // why /etc is no place for data
      const env = { STATE_DIRECTORY: stateDir };
      const base = 'broker: { embedded: { credentialsFile: /var/lib/swarmgate-hub/users.yaml } }\n';
      expect(parseHubConfig(`${base}store: { kind: sqlite }\n`, configFile, env).store).toMatchObject({ path: `${stateDir}/data/hub.db` });
      expect(parseHubConfig(`${base}store: { kind: sqlite, path: hub.db }\n`, configFile, env).store).toMatchObject({ path: `${stateDir}/hub.db` });
      expect(parseHubConfig(`${base}store: { kind: sqlite, path: /srv/hub.db }\n`, configFile, env).store).toMatchObject({ path: '/srv/hub.db' });
      // Outside systemd (a shell, tests): next to the config file, as before.
      expect(parseHubConfig(`${base}store: { kind: sqlite }\n`, configFile, {}).store).toMatchObject({ path: '/etc/swarmgate/data/hub.db' });
      // What else the hub writes resolves there too (release artifacts, a relative journal); what it reads stays in /etc/swarmgate.
      const more = parseHubConfig(`${base}store: { kind: postgres, url: "postgres://hub@db/hub", journal: hub-1/ingest }\nreleases: { dir: releases, publicKeyFile: release.pub }\n`, configFile, env);
      expect(more.releases).toMatchObject({ dir: `${stateDir}/releases`, publicKeyFile: '/etc/swarmgate/release.pub' });
      expect(more.store).toMatchObject({ journal: `${stateDir}/hub-1/ingest` });
    });
  }

  it('the cluster examples keep their journal folders in the hub units\' state directory', () => {
    const dir = join(ROOT, 'deploy/examples/cluster');
    const paths = readdirSync(dir)
      .filter((f) => f.startsWith('hub-') && f.endsWith('.yaml'))
      .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/journal: (\S+)/g)].map((m) => ({ file: f, path: m[1] ?? '' })));
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p.path.startsWith(`${unit('swarmgate-hub@.service').stateDir}/`), `${p.file}: ${p.path}`).toBe(true);
  });
});
