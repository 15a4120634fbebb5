/**
 * Every file and folder path of the hub config resolves by one rule (hub/config-paths.ts): what the
 * hub reads (certificates, keys, the credentials file, the facility model, site templates, the
 * release key) next to the config file; what it writes (the SQLite store, a PostgreSQL hub's
 * ingest journal, release artifacts) in the state directory under systemd. The unit is simulated
 * with $STATE_DIRECTORY and a config folder on a read-only mount, as /etc is to the hub.
 *
 * It used to be so for store.path only: releases.dir resolved next to the config, so a hub under
 * the unit did not start with a releases section (mkdir in /etc: EROFS), or could not store an
 * upload; a relative store.journal resolved from the working directory, so a command run from a
 * shell made its own journal wherever it ran.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hubReleaseCommand } from '../../cli/hub-release.js';
import { quarantineCommand } from '../../cli/quarantine.js';
import { configPathFields, resolveConfigPaths } from '../../hub/config-paths.js';
import { HubConfigSchema, parseHubConfig, type HubConfig } from '../../hub/config.js';
import { openHubStore } from '../../hub/features.js';
import { startHub, type Hub } from '../../hub/index.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import type { BuiltRelease } from '../../shared/release/artifact.js';
import { ADMIN_PASSWORD, adminToken, buildTestRelease, makeKeys } from '../release/support/releases.js';
import { capturedLog } from '../support/captured-log.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { readOnlyFolder } from '../support/read-only-folder.js';
import { tempDir } from '../support/tmp.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const EVERY_PATH = `
broker:
  mode: embedded
  embedded: { credentialsFile: users.yaml, tls: { certFile: tls/broker.crt, keyFile: tls/broker.key } }
store: { kind: postgres, url: "postgres://hub@127.0.0.1/hub", journal: hub-1/ingest }
agents: { facilityModel: facility.yaml }
api: { tls: { certFile: tls/api.crt, keyFile: tls/api.key } }
enrollment: { brokerUrl: "mqtts://hub.example.com:8883", brokerCaFile: tls/ca.pem, templatesDir: site-templates }
releases: { dir: releases, publicKeyFile: release.pub }
`;

/** Where each path of EVERY_PATH went. */
function paths(config: HubConfig): Record<string, string | undefined> {
  const store = config.store.kind === 'postgres' ? config.store : undefined;
  return {
    credentialsFile: config.broker.embedded?.credentialsFile,
    brokerCert: config.broker.embedded?.tls?.certFile,
    brokerKey: config.broker.embedded?.tls?.keyFile,
    journal: store?.journal,
    facilityModel: config.agents?.facilityModel,
    apiCert: config.api?.tls?.certFile,
    apiKey: config.api?.tls?.keyFile,
    brokerCa: config.enrollment?.brokerCaFile,
    templatesDir: config.enrollment?.templatesDir,
    releasesDir: config.releases?.dir,
    publicKeyFile: config.releases?.publicKeyFile,
  };
}

/** Every string field of a schema, by its dotted name (array items as `*`). */
function stringFields(schema: TSchema, field: readonly string[] = []): string[] {
  if (schema[Kind] === 'String') return [field.join('.')];
  if (schema[Kind] === 'Object') return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([key, p]) => stringFields(p, [...field, key]));
  if (schema[Kind] === 'Union') return [...new Set((schema.anyOf as TSchema[]).flatMap((v) => stringFields(v, field)))];
  if (schema[Kind] === 'Array') return stringFields(schema.items as TSchema, [...field, '*']);
  return [];
}

describe('hub config paths: inputs next to the config, state in the state directory', () => {
  const dir = tempDir('swg-hub-paths-');
  afterAll(() => dir.remove());

  it('every path field of the hub config is declared with its kind', () => {
    const declared = configPathFields(HubConfigSchema);
    expect(Object.fromEntries(declared.map((d) => [d.field, d.kind]))).toEqual({
      'broker.embedded.tls.certFile': 'input',
      'broker.embedded.tls.keyFile': 'input',
      'broker.embedded.credentialsFile': 'input',
      'store.path': 'state',
      'store.journal': 'state',
      'agents.facilityModel': 'input',
      'api.tls.certFile': 'input',
      'api.tls.keyFile': 'input',
      'enrollment.brokerCaFile': 'input',
      'enrollment.templatesDir': 'input',
      'releases.dir': 'state',
      'releases.publicKeyFile': 'input',
    });
    // A new field named like a path and not declared as one would resolve by no rule.
    const pathLike = stringFields(HubConfigSchema).filter((f) => /(File|Dir|\.dir|\.path|journal|Model)$/.test(f));
    expect(pathLike.sort()).toEqual(declared.map((d) => d.field).sort());
  });

  it('under the unit ($STATE_DIRECTORY): what the hub writes resolves in the state directory, what it reads next to the config', () => {
    const etc = join(dir.path, 'unit', 'etc');
    const state = join(dir.path, 'unit', 'state');
    mkdirSync(etc, { recursive: true });
    const file = join(etc, 'hub.yaml');
    expect(paths(parseHubConfig(EVERY_PATH, file, { STATE_DIRECTORY: state }))).toEqual({
      credentialsFile: join(etc, 'users.yaml'),
      brokerCert: join(etc, 'tls/broker.crt'),
      brokerKey: join(etc, 'tls/broker.key'),
      journal: join(state, 'hub-1/ingest'),
      facilityModel: join(etc, 'facility.yaml'),
      apiCert: join(etc, 'tls/api.crt'),
      apiKey: join(etc, 'tls/api.key'),
      brokerCa: join(etc, 'tls/ca.pem'),
      templatesDir: join(etc, 'site-templates'),
      releasesDir: join(state, 'releases'),
      publicKeyFile: join(etc, 'release.pub'),
    });
    // Outside systemd everything is next to the config file: the journal too, not in the working directory.
    const outside = paths(parseHubConfig(EVERY_PATH, file, {}));
    expect([outside.journal, outside.releasesDir, outside.publicKeyFile]).toEqual([join(etc, 'hub-1/ingest'), join(etc, 'releases'), join(etc, 'release.pub')]);
    // Absolute paths stay as given.
    const absolute = parseHubConfig(`${EVERY_PATH}`.replace('dir: releases', 'dir: /srv/releases').replace('journal: hub-1/ingest', 'journal: /srv/ingest'), file, { STATE_DIRECTORY: state });
    expect([paths(absolute).releasesDir, paths(absolute).journal]).toEqual(['/srv/releases', '/srv/ingest']);
  });

  it('data already next to the config stays in use under the unit; an empty folder left there does not', () => {
    const etc = join(dir.path, 'kept', 'etc');
    const state = join(dir.path, 'kept', 'state');
    mkdirSync(join(etc, 'releases'), { recursive: true });
    const file = join(etc, 'hub.yaml');
    expect(paths(parseHubConfig(EVERY_PATH, file, { STATE_DIRECTORY: state })).releasesDir).toBe(join(state, 'releases'));
    writeFileSync(join(etc, 'releases', '1.0.0.tar.gz'), 'artifact');
    expect(paths(parseHubConfig(EVERY_PATH, file, { STATE_DIRECTORY: state })).releasesDir).toBe(join(etc, 'releases'));
  });

  it('a journal with data left where an earlier release put a relative store.journal (the working directory) is not passed over', () => {
    const etc = join(dir.path, 'moved', 'etc');
    const work = join(dir.path, 'moved', 'work');
    mkdirSync(etc, { recursive: true });
    mkdirSync(join(work, 'hub-1/ingest'), { recursive: true });
    const file = join(etc, 'hub.yaml');
    const cwd = process.cwd();
    process.chdir(work);
    try {
      // An empty folder there is nothing to strand.
      expect(paths(parseHubConfig(EVERY_PATH, file, {})).journal).toBe(join(etc, 'hub-1/ingest'));
      writeFileSync(join(work, 'hub-1/ingest', '00000001.seg'), 'unflushed');
      let error: unknown;
      try {
        parseHubConfig(EVERY_PATH, file, {});
      } catch (err) {
        error = err;
      }
      expect(isSwarmgateError(error, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
      expect((error as Error).message).toContain(`${file}:5`);
      expect((error as Error).message).toContain(`a journal holding data is at ${join(work, 'hub-1/ingest')}`);
      expect((error as Error).message).toContain(`move its files into ${join(etc, 'hub-1/ingest')}`);
      // Once moved (the new folder holds the data), the hub starts on it.
      mkdirSync(join(etc, 'hub-1/ingest'), { recursive: true });
      writeFileSync(join(etc, 'hub-1/ingest', '00000001.seg'), 'unflushed');
      expect(paths(parseHubConfig(EVERY_PATH, file, {})).journal).toBe(join(etc, 'hub-1/ingest'));
    } finally {
      process.chdir(cwd);
    }
  });

  it("a command run from a shell (no $STATE_DIRECTORY) uses the installed service's folders when only they hold data", () => {
    const etc = join(dir.path, 'shell', 'etc');
    const installed = join(dir.path, 'shell', 'var-lib-swarmgate-hub');
    mkdirSync(etc, { recursive: true });
    const file = join(etc, 'hub.yaml');
    const resolveFromShell = (): Record<string, string | undefined> => {
      const config = Value.Default(HubConfigSchema, parse(EVERY_PATH)) as HubConfig;
      resolveConfigPaths(HubConfigSchema, config, file, { env: {}, installed });
      return paths(config);
    };
    // Nothing anywhere yet: next to the config, as before.
    expect([resolveFromShell().releasesDir, resolveFromShell().journal]).toEqual([join(etc, 'releases'), join(etc, 'hub-1/ingest')]);
    // The service has stored a release and journaled telemetry: the command finds them.
    mkdirSync(join(installed, 'releases'), { recursive: true });
    writeFileSync(join(installed, 'releases', '1.0.0.tar.gz'), 'artifact');
    mkdirSync(join(installed, 'hub-1/ingest'), { recursive: true });
    writeFileSync(join(installed, 'hub-1/ingest', '00000001.seg'), 'x');
    mkdirSync(join(etc, 'releases')); // an empty folder an earlier command made
    const shell = resolveFromShell();
    expect([shell.releasesDir, shell.journal]).toEqual([join(installed, 'releases'), join(installed, 'hub-1/ingest')]);
    // What the hub reads is next to the config whoever reads it.
    expect([shell.publicKeyFile, shell.credentialsFile]).toEqual([join(etc, 'release.pub'), join(etc, 'users.yaml')]);
  });
});

const roDir = tempDir('swg-hub-paths-ro-');
const roEtc = readOnlyFolder(join(roDir.path, 'etc'));
const runnable = peerOrSkip({ available: roEtc !== undefined, reason: 'needs root and mount (a read-only tmpfs, as /etc is to the hub unit)' });

describe.skipIf(!runnable)('a hub whose config folder is read-only, as under the unit', { timeout: 60_000 }, () => {
  let built: BuiltRelease;
  const hubs: Hub[] = [];

  beforeAll(async () => {
    if (!roEtc) return;
    const keys = makeKeys(roEtc.path);
    writeFileSync(join(roEtc.path, 'users.yaml'), 'users: []\n');
    roEtc.seal();
    built = await buildTestRelease(join(roDir.path, 'build'), keys, '2.0.0');
    process.env.SWG_TEST_RELEASE_ADMIN_PW = ADMIN_PASSWORD;
  });

  afterAll(async () => {
    for (const hub of hubs) await hub.stop();
    roEtc?.remove();
    roDir.remove();
  });

  const hubYaml = (releasesDir: string): string =>
    'broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml }\n' +
    'store: { kind: sqlite }\n' +
    'api: { host: 127.0.0.1, port: 0, initialAdmin: { username: root, passwordEnv: SWG_TEST_RELEASE_ADMIN_PW } }\n' +
    `releases: { dir: ${releasesDir}, publicKeyFile: release.pub }\n`;

  const upload = async (hub: Hub): Promise<number> =>
    hubReleaseCommand(['upload', '--manifest', built.manifestFile, '--api', hub.api?.url ?? '', '--token', await adminToken(hub)]);

  it('starts, and `swarmgate hub release upload` stores the release in the state directory', async () => {
    const state = join(roDir.path, 'state-a');
    const config = parseHubConfig(hubYaml('releases'), join(roEtc?.path ?? '', 'hub.yaml'), { STATE_DIRECTORY: state });
    const hub = await startHub(config, { retentionIntervalMs: 0 });
    hubs.push(hub);
    expect(await upload(hub)).toBe(0);
    expect(existsSync(join(state, 'releases', '2.0.0.tar.gz'))).toBe(true);
    expect((await hub.releases?.releases.get('2.0.0'))?.state).toBe('ready');
  });

  it('a releases.dir it cannot write: it starts, says why, and refuses new releases with 503 SWG_ERR_RELEASE_STORAGE', async () => {
    const releasesDir = join(roEtc?.path ?? '', 'releases');
    const { log, lines } = capturedLog<{ msg: string; errno?: string; folder?: string }>('warn');
    const config = parseHubConfig(hubYaml(releasesDir), join(roEtc?.path ?? '', 'hub.yaml'), { STATE_DIRECTORY: join(roDir.path, 'state-b') });
    const hub = await startHub(config, { retentionIntervalMs: 0, logger: log });
    hubs.push(hub);
    const said = lines.find((l) => l.msg.includes('cannot store release artifacts'));
    expect(said?.msg).toContain(`releases.dir ${releasesDir}: ${roEtc?.path} is on a read-only file system (EROFS)`);
    expect(said?.msg).toContain('/var/lib/swarmgate-hub');
    expect(said).toMatchObject({ folder: roEtc?.path, errno: 'EROFS' });
    const err = await upload(hub).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_RELEASE_STORAGE'), String(err)).toBe(true);
    expect(String(err)).toContain('HTTP 503');
    expect(String(err)).toContain(`${roEtc?.path} is on a read-only file system (EROFS)`);
    // Refused before a release waiting for an artifact it could never store was recorded.
    expect(await hub.releases?.releases.list()).toEqual([]);
  });
});

const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

describe.skipIf(!runnable || !pgAvailable)('a PostgreSQL hub\'s store.journal', { timeout: 60_000 }, () => {
  const pgDir = tempDir('swg-hub-journal-');
  const pgEtc = readOnlyFolder(join(pgDir.path, 'etc'));
  const schemas: string[] = [];
  beforeAll(() => pgEtc?.seal());
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    pgEtc?.remove();
    pgDir.remove();
  });
  const storeYaml = (journal: string): string => {
    const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    schemas.push(schema);
    return `broker: { mode: external, external: { url: "mqtt://127.0.0.1:1883" } }\nstore: { kind: postgres, url: "${PG_URL}", schema: ${schema}, journal: ${journal} }\n`;
  };

  it('relative, under the unit: the journal folder is made in the state directory', async () => {
    const state = join(pgDir.path, 'state');
    const config = parseHubConfig(storeYaml('hub-1/ingest'), join(pgEtc?.path ?? '', 'hub-1.yaml'), { STATE_DIRECTORY: state });
    const store = await openHubStore(config.store);
    await store.close();
    expect(existsSync(join(state, 'hub-1/ingest'))).toBe(true);
  });

  it('a CLI command on the config makes no journal of its own: the journal belongs to the hub process', async () => {
    const etc = join(pgDir.path, 'shell-etc');
    mkdirSync(etc, { recursive: true });
    const file = join(etc, 'hub.yaml');
    writeFileSync(file, storeYaml('hub-1/ingest'));
    expect(await quarantineCommand(['list', '--config', file])).toBe(0);
    // From a shell with no service data anywhere the journal would resolve next to the config.
    expect(existsSync(join(etc, 'hub-1'))).toBe(false);
  });

  it('in a folder the hub cannot write: the error names the folder, why, and where the journal belongs', async () => {
    const journal = join(pgEtc?.path ?? '', 'ingest');
    const config = parseHubConfig(storeYaml(journal), join(pgEtc?.path ?? '', 'hub-1.yaml'), { STATE_DIRECTORY: join(pgDir.path, 'state') });
    const err = await openHubStore(config.store).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_HUB_STORE'), String(err)).toBe(true);
    if (!isSwarmgateError(err)) return;
    expect(err.message).toContain(`(${pgEtc?.path} is on a read-only file system, EROFS)`);
    expect(err.details).toMatchObject({ path: journal, errno: 'EROFS' });
    expect(err.hint).toContain(`store.journal ${journal}`);
    expect(err.hint).toContain('/var/lib/swarmgate-hub');
  });
});
