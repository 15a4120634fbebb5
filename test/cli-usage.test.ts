/**
 * Wrong options and arguments of the `swarmgate` commands, as a technician types them: each is a
 * usage error (exit 2, as for an unknown command) naming the option and the value, with the
 * command's own --help as the hint; never a silent "nothing found", a raw SQL or file-system
 * error, or a hint that blames a config or credentials file. `edge enroll` keeps its documented
 * codes (1: not enrolled, worth retrying).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHubConfig, openHubStore } from '../hub/index.js';
import { sqlFor } from '../hub/db/sql.js';
import { PointIndex } from '../hub/registry/points.js';
import { ReviewService } from '../hub/review/index.js';
import { runCli, type CliResult } from './support/cli.js';
import { tempDir } from './support/tmp.js';

const dir = tempDir('swarmgate-cli-usage-');
afterAll(() => dir.remove());

const swarmgate = (...args: string[]): CliResult => runCli(args, { timeoutMs: 90_000 });

/** A usage error of `command`: exit 2, the message, the command's own help as the hint, nothing about files to fix. */
function expectUsage(r: CliResult, command: string, message: string): void {
  expect(r.stderr).toContain(`SWG_ERR_CLI_USAGE: ${message}`);
  expect(r.stderr).toContain(`\`swarmgate ${command} --help\` lists its options`);
  expect(r.stderr).not.toMatch(/fix the (fields|credentials file)|datatype mismatch|ENOENT/);
  expect(r.status, r.stderr).toBe(2);
}

// Each case starts `node --import tsx` children that load the app: slow on a loaded 2-core box.
describe('swarmgate: wrong options are usage errors naming the option and value', { timeout: 240_000 }, () => {
  const hubDir = join(dir.path, 'hub');
  mkdirSync(hubDir);
  const config = join(hubDir, 'hub.yaml');
  writeFileSync(config, 'broker: { mode: embedded, embedded: { port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n');

  it('review list: --min-priority and --limit take numbers; a word is refused, not "no review items" or a SQL error', async () => {
    const store = await openHubStore(loadHubConfig(config).store);
    try {
      const queue = await ReviewService.open({ store, writes: new PointIndex(sqlFor(store)) });
      await queue.submit({
        id: 'rv-usage-1',
        site: 'hq',
        gateway: 'gw-1',
        priority: 70,
        source: 'gateway',
        actionClass: 'setpoint',
        action: { kind: 'write', device: 'ahu1', point: 'fan_speed_setpoint', value: 40 },
        confidence: 0.5,
        rationale: 'test',
      } as Parameters<typeof queue.submit>[0]);
    } finally {
      await store.close();
    }
    const pending = swarmgate('review', 'list', '--config', config, '--min-priority', '50', '--limit', '10');
    expect(pending.status, pending.stderr).toBe(0);
    expect(pending.stdout).toContain('rv-usage-1');

    expectUsage(swarmgate('review', 'list', '--config', config, '--min-priority', 'high'), 'review', '--min-priority must be a number from 0 to 100, got "high"');
    expectUsage(swarmgate('review', 'list', '--config', config, '--limit', 'abc'), 'review', '--limit must be a whole number from 1 to 1000, got "abc"');
    // An unknown option: exit 2 like an unknown command (it used to be 1).
    expect(swarmgate('review', 'list', '--config', config, '--bogus').status).toBe(2);
  });

  it('hub quarantine show, hub enroll create --count: the CLI argument is blamed, not the config file or the API', () => {
    expectUsage(swarmgate('hub', 'quarantine', 'show', 'abc', '--config', config), 'hub quarantine', 'quarantine show ID must be a whole number from 1 to');
    expectUsage(swarmgate('hub', 'enroll', 'create', '--config', config, '--site', 'hq', '--count', 'abc'), 'hub enroll', '--count must be a whole number from 1 to 1000, got "abc"');
  });

  it('hub user add: a missing or wrong option is named before the credentials file is touched', () => {
    const credentials = join(dir.path, 'users.yaml');
    const missing = swarmgate('hub', 'user', 'add', '--credentials', credentials, '--role', 'gateway', '--site', 'hq');
    expectUsage(missing, 'hub', 'user add --role gateway needs --gateway');
    const wrong = swarmgate('hub', 'user', 'add', '--credentials', credentials, '--role', 'gateway', '--site', 'hq', '--gateway', 'bad id!');
    expectUsage(wrong, 'hub', 'user add: --gateway "bad id!": expected letters, digits');
    expect(existsSync(credentials)).toBe(false);
  });

  it('release verify and hub release: a missing file names its option; edge discover: --port takes a port number', () => {
    expectUsage(swarmgate('release', 'verify', '--manifest', '/nonexistent.json', '--pub', '/nonexistent.pub'), 'release', '--manifest /nonexistent.json: no such file');
    expectUsage(swarmgate('hub', 'release', 'upload', '--manifest', '/nonexistent.json', '--api', 'http://127.0.0.1:1', '--token', 't'), 'hub release', '--manifest /nonexistent.json: no such file');
    expectUsage(swarmgate('hub', 'release', 'deploy', '--version', '1.0.0', '--site', 'hq', '--canary', 'abc', '--api', 'http://127.0.0.1:1', '--token', 't'), 'hub release', '--canary must be a whole number from 1 to 10000, got "abc"');
    expectUsage(swarmgate('edge', 'discover', '--protocol', 'modbus-tcp', '--host', '127.0.0.1', '--port', 'abc'), 'edge discover', '--port must be a whole number from 1 to 65535, got "abc"');
  });

  it('edge enroll keeps its documented exit 1 for a missing token', () => {
    const r = swarmgate('edge', 'enroll', '--hub', 'https://hub.example:8443', '--out', join(dir.path, 'enroll'));
    expect(r.stderr).toContain('SWG_ERR_CLI_USAGE: enroll: --token TOKEN or --token-file FILE');
    expect(r.status).toBe(1);
  });
});
