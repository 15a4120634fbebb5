/**
 * Remote configuration against an in-process aedes broker: what must never happen to a gateway
 * whatever the hub pushes. A config the gateway could not start on (TLS file missing, data folder
 * that cannot be made) is rejected before it is installed; redacted secrets go back to the device
 * they belong to (by id, and only to the same server and user), never to the device now at that
 * list position; a retained document applied again after a crash between the rename and the
 * version's save keeps the config from before the push in .previous; an older version than the
 * applied one is refused out loud, naming the applied version.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { startFederation } from '../../../edge/federation/index.js';
import { redactSecrets } from '../../../shared/kit/secrets.js';
import { ConfigDocumentSchema, decode, encode, type ConfigDocument } from '../../../shared/wire/index.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';
const AHU = fileURLToPath(new URL('../../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const COLD = fileURLToPath(new URL('../../../devices/profiles/cold-room-opcua.yaml', import.meta.url));
const registry = builtinDrivers();

const gatewayConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  gateway: { id: 'gw-1', site: 'site-a' },
  devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: AHU, connection: { host: '127.0.0.1', port: 15020 } }],
  ...extra,
});

function desired(version: number, config: Record<string, unknown>): Buffer {
  return encode(ConfigDocumentSchema, { v: 1, version, ts: Date.now(), config });
}

/** A gateway started from `original`; `before` runs first (e.g. a document retained before the start). */
async function setup(original: string, before: (ctx: { broker: Awaited<ReturnType<typeof startPeers>>['broker']; configFile: string; dir: string }) => Promise<void> = async () => undefined) {
  const { broker, dir, hub } = await startPeers(cleanups, `${PREFIX}/config/reported`, 'swg-rcfg-safe-');
  const configFile = join(dir.path, 'gateway.yaml');
  writeFileSync(configFile, original);
  await before({ broker, configFile, dir: dir.path });
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
  const reportOf = async (version: number): Promise<ConfigDocument> => {
    await waitFor(() => reports().some((r) => r.version === version && r.config.status !== 'running'), 5000, `report of version ${version}`);
    return reports().find((r) => r.version === version && r.config.status !== 'running')!;
  };
  await waitFor(() => reports().some((r) => r.config.status === 'running'), 5000, 'running report');
  return { broker, dir: dir.path, configFile, fed, restarts, reports, reportOf };
}

const problemsOf = (doc: ConfigDocument): string => (doc.config.problems as string[] | undefined ?? []).join('\n');

describe('remote configuration: what a push must never do (aedes)', () => {
  it('rejects a config the gateway could not start on: a TLS file that is not there, a data folder that cannot be made', async () => {
    const original = stringify(gatewayConfig());
    const { broker, dir, configFile, restarts, reportOf } = await setup(original);
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(2, gatewayConfig({ federation: { mqtt: { url: 'mqtts://hub.example:8883', tls: { ca: 'certs/hub-ca.pem' } } } })), true);
    const tls = await reportOf(2);
    expect(tls.config.status).toBe('rejected');
    expect(problemsOf(tls)).toMatch(new RegExp(`desired\\.yaml:\\d+:\\d+: federation\\.mqtt\\.tls\\.ca: cannot read ${join(dir, 'certs/hub-ca.pem')}: no such file`));

    writeFileSync(join(dir, 'not-a-folder'), 'x');
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(3, gatewayConfig({ dataDir: 'not-a-folder/data' })), true);
    const data = await reportOf(3);
    expect(data.config.status).toBe('rejected');
    expect(problemsOf(data)).toMatch(/desired\.yaml:\d+:\d+: dataDir: .*not-a-folder\/data cannot be made: .*not-a-folder is not a folder/);

    expect(readFileSync(configFile, 'utf8')).toBe(original);
    expect(existsSync(`${configFile}.previous`)).toBe(false);
    expect(restarts).toEqual([]);
  });

  it('puts redacted secrets back by device id and only for the same server and user, never by list position', async () => {
    const opcua = (id: string, host: string, username: string, password: string): Record<string, unknown> => ({
      id,
      protocol: 'opcua',
      profile: COLD,
      connection: { endpointUrl: `opc.tcp://${host}:4840`, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', username, password },
    });
    const running = { gateway: { id: 'gw-1', site: 'site-a' }, devices: [opcua('coldroom', '10.0.0.5', 'cold', 'COLDROOM-SECRET'), opcua('boiler', '10.0.9.9', 'boil', 'BOILER-SECRET')] };
    const { broker, configFile, restarts, reportOf } = await setup(stringify(running));
    const view = redactSecrets(running) as { devices: Record<string, Record<string, unknown>>[] };
    const [coldroom, boiler] = view.devices as [Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>];
    const installed = (): { id: string; connection: { password: string } }[] => (parse(readFileSync(configFile, 'utf8')) as { devices: { id: string; connection: { password: string } }[] }).devices;

    // The cold room decommissioned: the boiler, now first in the list, keeps its own password.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(2, { ...view, devices: [boiler] }), true);
    expect((await reportOf(2)).config.status).toBe('applied-pending-restart');
    expect(installed()).toMatchObject([{ id: 'boiler', connection: { password: 'BOILER-SECRET' } }]);

    // The boiler pointed at another server with its password left redacted: the secret is not sent there.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(3, { ...view, devices: [{ ...boiler, connection: { ...boiler.connection, endpointUrl: 'opc.tcp://203.0.113.7:4840' } }] }), true);
    const moved = await reportOf(3);
    expect(moved.config.status).toBe('rejected');
    expect(problemsOf(moved)).toMatch(/desired\.yaml:\d+:\d+: devices\[0\]\.connection\.password: is "\(redacted\)" but endpointUrl "opc\.tcp:\/\/10\.0\.9\.9:4840" is now "opc\.tcp:\/\/203\.0\.113\.7:4840": a kept secret goes only to the server and user it was given for/);

    // The cold room back (a device the running config no longer has): its redacted password has nothing to keep.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(4, { ...view, devices: [boiler, coldroom] }), true);
    const back = await reportOf(4);
    expect(back.config.status).toBe('rejected');
    expect(problemsOf(back)).toMatch(/desired\.yaml:\d+:\d+: devices\[1\]\.connection\.password: is "\(redacted\)" but the running config has no item with id "coldroom" here whose secret to keep/);
    expect(installed()).toMatchObject([{ id: 'boiler', connection: { password: 'BOILER-SECRET' } }]);
    expect(restarts).toEqual([2]);
  });

  it('a retained document applied again after a crash between the rename and the version\'s save keeps the pre-push config in .previous and does not restart', async () => {
    const handTuned = `# hand-tuned on site\n${stringify(gatewayConfig())}`;
    const next = gatewayConfig({ polling: { defaultIntervalMs: 5000 } });
    // What the crashed process left: the new file in place, the old one in .previous, no version saved.
    const { configFile, fed, restarts, reports } = await setup(stringify(next), async ({ broker, configFile }) => {
      writeFileSync(`${configFile}.previous`, handTuned);
      await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(4, next), true);
    });
    await waitFor(() => reports().some((r) => r.version === 4), 5000, 'report of version 4');
    await fed.remoteConfig?.idle();
    // This process runs that config already: the version is recorded, nothing installed again.
    expect(reports().find((r) => r.version === 4)?.config.status).toBe('running');
    expect(readFileSync(`${configFile}.previous`, 'utf8')).toBe(handTuned);
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual(next);
    expect(fed.state.configVersion).toBe(4);
    expect(restarts).toEqual([]);
  });

  it('refuses a version older than the applied one out loud, naming the applied version', async () => {
    const { broker, fed, configFile, restarts, reportOf } = await setup(stringify(gatewayConfig()));
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(7, gatewayConfig({ polling: { defaultIntervalMs: 2000 } })), true);
    expect((await reportOf(7)).config.status).toBe('applied-pending-restart');
    const applied = readFileSync(configFile, 'utf8');
    // A hub whose store was rebuilt numbers from 1 again.
    await publishTo(broker.broker, `${PREFIX}/config/desired`, desired(1, gatewayConfig({ polling: { defaultIntervalMs: 3000 } })), true);
    const stale = await reportOf(1);
    expect(stale.config).toMatchObject({ status: 'rejected', applied: 7 });
    expect(problemsOf(stale)).toContain('version 1 <= applied 7');
    expect(readFileSync(configFile, 'utf8')).toBe(applied);
    expect(fed.state.configVersion).toBe(7);
    expect(restarts).toEqual([7]);
  });
});
