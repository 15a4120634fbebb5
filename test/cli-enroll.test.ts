/**
 * `swarmgate hub enroll` against a hub store: create prints each token once with its claim URI
 * and a QR code, list shows states without secrets, revoke ends an unused token, and the errors
 * name what is wrong.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from './support/cli.js';
import { tempDir } from './support/tmp.js';

const dir = tempDir('swarmgate-cli-enroll-');

const swarmgate = (...args: string[]): CliResult => runCli(args, { timeoutMs: 60_000 });

describe('swarmgate hub enroll', () => {
  afterAll(() => dir.remove());
  const config = join(dir.path, 'hub.yaml');
  mkdirSync(join(dir.path, 'templates'));
  writeFileSync(join(dir.path, 'templates', 'default.yaml'), 'gateway: { id: x, site: y }\n');
  writeFileSync(
    config,
    'broker: { mode: embedded, embedded: { port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\napi: { port: 0 }\n' +
      'enrollment: { hubUrl: "https://hub.example.com:8443", brokerUrl: "mqtts://hub.example.com:8883", templatesDir: templates }\n',
  );

  it('creates tokens shown once with claim URI and QR code, lists and revokes them', () => {
    const created = swarmgate('hub', 'enroll', 'create', '--config', config, '--site', 'hq', '--count', '2', '--ttl', '12h', '--qr');
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const tokens = [...created.stdout.matchAll(/^ {2}(swg-enroll-v1\.([a-z0-9]{12})\.[A-Za-z0-9_-]{43})$/gm)];
    expect(tokens).toHaveLength(2);
    expect(created.stdout).toContain('claim: swarmgate://enroll?hub=https%3A%2F%2Fhub.example.com%3A8443&token=swg-enroll-v1.');
    expect(created.stdout).toMatch(/[█▀▄]{7}/); // the QR code, in block characters
    expect(created.stdout).toContain('2 token(s), shown once');

    const listed = swarmgate('hub', 'enroll', 'list', '--config', config, '--json');
    const items = JSON.parse(listed.stdout) as { id: string; state: string; token?: string }[];
    expect(items.map((t) => t.state)).toEqual(['active', 'active']);
    expect(items.every((t) => t.token === undefined)).toBe(true);
    expect(listed.stdout).not.toContain('swg-enroll-v1.');

    const id = tokens[0]?.[2] ?? '';
    const revoked = swarmgate('hub', 'enroll', 'revoke', id, '--config', config);
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^${id}  hq  \\*  revoked`));
    expect(swarmgate('hub', 'enroll', 'list', '--config', config, '--state', 'active').stdout.split('\n').filter(Boolean)).toHaveLength(1);
    // Revoked already: said so, exit 1, nothing changed.
    const again = swarmgate('hub', 'enroll', 'revoke', id, '--config', config);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`SWG_ERR_ENROLL_TOKEN_SPENT: token ${id} was already revoked at .* by cli:`));
  }, 60_000);

  it('names the wrong option or value', () => {
    const noSite = swarmgate('hub', 'enroll', 'create', '--config', config);
    expect(noSite.status).toBe(2);
    expect(noSite.stderr).toContain('create: --site SITE is required');
    const badTtl = swarmgate('hub', 'enroll', 'create', '--config', config, '--site', 'hq', '--ttl', 'forever');
    expect(badTtl.stderr).toContain('--ttl: expected a duration like 30m, 12h or 7d, got "forever"');
    const tooLong = swarmgate('hub', 'enroll', 'create', '--config', config, '--site', 'hq', '--ttl', '365d');
    expect(tooLong.stderr).toMatch(/ttl: expected at most 90 days/);
    const moveUnbound = swarmgate('hub', 'enroll', 'create', '--config', config, '--site', 'hq', '--move-site');
    expect(moveUnbound.stderr).toContain('moveSite: only for a token bound to a gateway id');
    expect(swarmgate('hub', 'enroll', '--help').stdout).toContain('[--gateway GW [--move-site]]');
    const unknown = swarmgate('hub', 'enroll', 'revoke', 'nosuchtoken1', '--config', config);
    expect(unknown.stderr).toContain('no enrollment token "nosuchtoken1"');
    // edge enroll: a token or CA file it cannot read is named with its option.
    const missing = swarmgate('edge', 'enroll', '--hub', 'https://hub.example:8443', '--token-file', join(dir.path, 'no-such-token'), '--out', join(dir.path, 'gw'));
    expect(missing.stderr).toMatch(/SWG_ERR_CLI_USAGE: enroll: --token-file \S+no-such-token: /);
  }, 60_000);
});
