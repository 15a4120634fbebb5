/**
 * Remote configuration on the gateway against an in-process aedes broker: a desired config
 * (retained on config/desired) is checked like `swarmgate edge check`, installed atomically and
 * followed by a restart request, or rejected with file:line problems and nothing touched.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { startFederation } from '../../../edge/federation/index.js';
import { ConfigDocumentSchema, decode, encode, type ConfigDocument } from '../../../shared/wire/index.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';
const AHU = fileURLToPath(new URL('../../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const registry = builtinDrivers();

function gatewayConfig(extra: Record<string, unknown> = {}, gateway = { id: 'gw-1', site: 'site-a' }): Record<string, unknown> {
  return {
    gateway,
    devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: AHU, connection: { host: '127.0.0.1', port: 15020 } }],
    ...extra,
  };
}

async function setup(extraYaml = '') {
  const { broker, dir, hub } = await startPeers(cleanups, `${PREFIX}/config/reported`, 'swg-rcfg-');
  const configFile = join(dir.path, 'gateway.yaml');
  const original = `gateway: { id: gw-1, site: site-a }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: 127.0.0.1, port: 15020 } }\n${extraYaml}`;
  writeFileSync(configFile, original);
  const restarts: number[] = [];
  const fed = await startFederation({
    gateway: fakeGateway('gw-1', 'site-a'),
    dataDir: join(dir.path, 'data'),
    config: { mqtt: { url: broker.url, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 },
    configFile,
    checkConfig: (file) => checkGatewayConfigFile(file, registry),
    onRestart: (version) => restarts.push(version),
  });
  cleanups.push(() => fed.stop());
  const reports = (): ConfigDocument[] =>
    hub.messages.map((m) => {
      const d = decode(ConfigDocumentSchema, m.topic, m.payload);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    });
  // On connect the gateway reports what it runs.
  await waitFor(() => reports().some((r) => r.config.status === 'running'), 5000, 'running report');
  return { broker, dir, configFile, original, fed, restarts, reports };
}

function desired(version: number, config: Record<string, unknown>): Buffer {
  return encode(ConfigDocumentSchema, { v: 1, version, ts: Date.now(), config });
}

describe('remote configuration (aedes)', () => {
  it('reports the running config on connect', async () => {
    const { reports } = await setup();
    const running = reports().find((r) => r.config.status === 'running');
    expect(running).toMatchObject({ version: 0, config: { status: 'running', config: { gateway: { id: 'gw-1', site: 'site-a' } } } });
  });

  it('installs a valid desired config atomically, records the version, reports and asks for a restart', async () => {
    const { broker, configFile, original, fed, restarts, reports } = await setup();
    const next = gatewayConfig({ polling: { defaultIntervalMs: 2000 } });
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(3, next), true);
    await waitFor(() => reports().some((r) => r.config.status === 'applied-pending-restart'), 5000, 'applied report');
    expect(restarts).toEqual([3]);
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual(next);
    expect(readFileSync(`${configFile}.previous`, 'utf8')).toBe(original);
    expect(fed.state.configVersion).toBe(3);
    expect(reports().find((r) => r.config.status === 'applied-pending-restart')).toMatchObject({ version: 3, config: { config: next } });
    // The new file passes the same check the service manager runs before the restart.
    expect(checkGatewayConfigFile(configFile, registry).problems).toEqual([]);

    // The same version again (the retained copy after a reconnect) is not applied twice.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(3, next), true);
    await fed.remoteConfig?.idle();
    await new Promise((r) => setTimeout(r, 100));
    expect(restarts).toEqual([3]);
  });

  it('never reports a secret: the password shows redacted, and a desired config that keeps it redacted keeps the running one', async () => {
    const secret = 's3cret-broker-pw';
    const { broker, configFile, restarts, reports } = await setup(`federation:\n  mqtt: { url: "mqtt://hub.example:1883", username: gw-1, password: ${secret} }\n`);
    const running = reports().find((r) => r.config.status === 'running');
    expect(running?.config.config).toMatchObject({ federation: { mqtt: { username: 'gw-1', password: '(redacted)' } } });
    // An operator edits what the hub shows and sends it back with the password left as shown.
    const shown = running?.config.config as Record<string, unknown>;
    const next = { ...shown, polling: { defaultIntervalMs: 2000 } };
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(2, next), true);
    await waitFor(() => reports().some((r) => r.config.status === 'applied-pending-restart'), 5000, 'applied report');
    expect(restarts).toEqual([2]);
    expect(parse(readFileSync(configFile, 'utf8'))).toMatchObject({ federation: { mqtt: { password: secret } }, polling: { defaultIntervalMs: 2000 } });
    expect(JSON.stringify(reports())).not.toContain(secret);
  });

  it('rejects a redacted secret the running config does not have, naming its line', async () => {
    const { broker, configFile, original, restarts, reports } = await setup();
    const next = gatewayConfig({ federation: { mqtt: { url: 'mqtt://hub.example:1883', password: '(redacted)' } } });
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(4, next), true);
    await waitFor(() => reports().some((r) => r.config.status === 'rejected'), 5000, 'rejected report');
    const problems = (reports().find((r) => r.config.status === 'rejected')?.config.problems as string[]).join('\n');
    expect(problems).toMatch(/gateway\.yaml\.desired\.yaml:\d+:\d+: federation\.mqtt\.password: is "\(redacted\)" but the running config has no secret here to keep/);
    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(restarts).toEqual([]);
  });

  it('rejects an invalid config with file:line problems and leaves everything as is', async () => {
    const { broker, configFile, original, fed, restarts, reports } = await setup();
    const bad = gatewayConfig({ devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: AHU, connection: { host: '127.0.0.1', port: 'x502' } }] });
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(1, bad), true);
    await waitFor(() => reports().some((r) => r.config.status === 'rejected'), 5000, 'rejected report');
    const rejected = reports().find((r) => r.config.status === 'rejected');
    expect(rejected?.version).toBe(1);
    const problems = rejected?.config.problems as string[];
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(/gateway\.yaml\.desired\.yaml:\d+:\d+: devices\[0\]\.connection\.port/);
    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(existsSync(`${configFile}.previous`)).toBe(false);
    expect(fed.state.configVersion).toBeNull();
    expect(restarts).toEqual([]);
  });

  it('refuses a config that would change the gateway id or site', async () => {
    const { broker, configFile, original, restarts, reports } = await setup();
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(2, gatewayConfig({}, { id: 'gw-2', site: 'site-b' })), true);
    await waitFor(() => reports().some((r) => r.config.status === 'rejected'), 5000, 'rejected report');
    const problems = (reports().find((r) => r.config.status === 'rejected')?.config.problems as string[]).join('\n');
    expect(problems).toMatch(/desired\.yaml:\d+:\d+: gateway\.id: is "gw-2"/);
    expect(problems).toMatch(/gateway\.site: is "site-b"/);
    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(restarts).toEqual([]);
  });

  it('rejects a config whose profile is a device or a named pipe without reading it, keeps running and applies the next good one', async () => {
    const { broker, dir, configFile, original, fed, restarts, reports } = await setup();
    const { execFileSync } = await import('node:child_process');
    const fifo = join(dir.path, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    const rejected = (version: number): ConfigDocument | undefined => reports().find((r) => r.config.status === 'rejected' && r.version === version);
    const withProfile = (profile: string): Record<string, unknown> =>
      gatewayConfig({ devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile, connection: { host: '127.0.0.1', port: 15020 } }] });

    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(1, withProfile('/dev/zero')), true);
    await waitFor(() => rejected(1) !== undefined, 5000, 'rejected report for /dev/zero');
    expect((rejected(1)?.config.problems as string[]).join('\n')).toMatch(/desired\.yaml:\d+:\d+: devices\[0\]\.profile: \/dev\/zero: not a regular file \(character device\)/);

    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(2, withProfile(fifo)), true);
    await waitFor(() => rejected(2) !== undefined, 5000, 'rejected report for a named pipe');
    expect((rejected(2)?.config.problems as string[]).join('\n')).toContain(`${fifo}: not a regular file (named pipe)`);

    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(existsSync(`${configFile}.previous`)).toBe(false);
    expect(fed.state.configVersion).toBeNull();
    expect(restarts).toEqual([]);

    // Still up: the next good config is applied.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(3, gatewayConfig()), true);
    await waitFor(() => reports().some((r) => r.config.status === 'applied-pending-restart' && r.version === 3), 5000, 'applied report');
    expect(restarts).toEqual([3]);
  }, 120_000);

  it('a profile that makes the check throw (an alias bomb) is rejected, the gateway neither crashes nor restarts', async () => {
    const { broker, dir, configFile, original, restarts, reports } = await setup();
    const bomb = join(dir.path, 'bomb.yaml');
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]'];
    writeFileSync(bomb, `${rows.join('\n')}\n`);
    const config = gatewayConfig({ devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: bomb, connection: { host: '127.0.0.1', port: 15020 } }] });
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(4, config), true);
    await waitFor(() => reports().some((r) => r.config.status === 'rejected' && r.version === 4), 5000, 'rejected report');
    const problems = (reports().find((r) => r.version === 4)?.config.problems as string[]).join('\n');
    expect(problems).toMatch(/bomb\.yaml:\d+:\d+: \(document\): YAML aliases: /);
    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(restarts).toEqual([]);
  }, 120_000);
});
