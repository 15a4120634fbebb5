/**
 * A fleet dropping and coming back at once, against a real hub (embedded broker, SQLite): 5,000
 * simulated gateways with generated credentials, persistent sessions and retained wills. Before
 * the fix, 5,000 clients leaving together overflowed the stack in aedes' emitter (qlobber _match)
 * and took the hub down; it must also log the burst of status changes as a few lines, not one per
 * gateway. Speed targets are in bench/connections.ts, not here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertUsers } from '../../hub/broker/credentials.js';
import { generatePassword } from '../../hub/broker/passwords.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import type { GatewayBurst } from '../../hub/live/feed.js';
import { capturedLog } from '../support/captured-log.js';
import { GatewayFleet, type FleetMember } from '../support/gateway-fleet.js';
import { tempDir } from '../support/tmp.js';
import { connectClient, endAll, waitFor } from './helpers.js';

const N = 5000;

/** Open files this process may have (the hub's sockets and the fleet's are both here). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s+/)[3];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

const enoughFiles = openFileLimit() >= 2 * N + 500;
if (!enoughFiles && process.env.CI) throw new Error(`connection-storm test needs ${2 * N + 500} open files (ulimit -n); this process has ${openFileLimit()}`);

describe.skipIf(!enoughFiles)(`connection storm: ${N} gateways drop and come back at once`, () => {
  const dir = tempDir('swg-storm-');
  const captured = capturedLog<{ msg: string; status?: string; byStatus?: Record<string, number> }>('info');
  let hub: Hub;
  let fleet: GatewayFleet;
  const members: FleetMember[] = Array.from({ length: N }, (_, i) => ({ site: 'storm', gateway: `gw-${i}`, username: `gw-${i}`, password: generatePassword() }));

  const statusCounts = async (): Promise<{ online: number; offline: number }> => {
    const list = await hub.registry.list();
    return { online: list.filter((g) => g.status === 'online').length, offline: list.filter((g) => g.status === 'offline').length };
  };

  beforeAll(async () => {
    await upsertUsers(
      join(dir.path, 'users.yaml'),
      members.map((m) => ({ spec: { role: 'gateway' as const, username: m.username, site: m.site, gateway: m.gateway }, password: m.password })),
      { generated: true, mosquittoIterations: 101 },
    );
    const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', join(dir.path, 'hub.yaml'));
    hub = await startHub(config, { retentionIntervalMs: 0, logger: captured.log });
    fleet = new GatewayFleet({ host: '127.0.0.1', port: hub.broker?.port ?? 0, members, stateIntervalS: 0 });
  }, 60_000);

  afterAll(async () => {
    fleet?.close();
    await hub?.stop();
    dir.remove();
  }, 60_000);

  it('connects every gateway and registers it online', async () => {
    const round = await fleet.connectAll();
    expect(round).toMatchObject({ connected: N, refused: 0, failed: 0 });
    await waitFor(async () => (await statusCounts()).online === N || undefined, 60_000, 'every gateway online');
  }, 120_000);

  it('takes every gateway dropping at once (wills), marks them offline, and logs and streams the burst as a few lines and events', async () => {
    const before = captured.lines.length;
    const live: { topic: string; data: unknown }[] = [];
    const off = hub.live.subscribe((topic, data) => (topic === 'gateway' || topic === 'gateways') && live.push({ topic, data }));
    fleet.dropAll();
    await waitFor(() => hub.broker?.connectedClients === 1 || undefined, 60_000, 'every gateway gone');
    await waitFor(async () => (await statusCounts()).offline === N || undefined, 60_000, 'every gateway offline');
    // The summary of the last window comes at its end (a window may have begun before the drop).
    await new Promise((r) => setTimeout(r, 1100));
    const statusLines = captured.lines.slice(before).filter((l) => l.msg.startsWith('gateway status changed'));
    expect(statusLines.length).toBeGreaterThan(0);
    expect(statusLines.length).toBeLessThan(60);
    // Every change is accounted for: the lines logged at once plus the summaries' counts.
    const offline = statusLines.reduce((n, l) => n + (l.byStatus ? (l.byStatus.offline ?? 0) : l.status === 'offline' ? 1 : 0), 0);
    expect(offline).toBe(N);
    // The live stream (every browser, every relay to other hub processes) likewise.
    off();
    expect(live.length).toBeGreaterThan(0);
    expect(live.length).toBeLessThan(60);
    const streamed = live.reduce((n, e) => n + (e.topic === 'gateways' ? ((e.data as GatewayBurst).byStatus.offline ?? 0) : (e.data as { status: string }).status === 'offline' ? 1 : 0), 0);
    expect(streamed).toBe(N);
  }, 120_000);

  it('lets the whole fleet back in at once, and takes a clean disconnect of all of them', async () => {
    const round = await fleet.connectAll();
    expect(round).toMatchObject({ connected: N, refused: 0, failed: 0 });
    await waitFor(async () => (await statusCounts()).online === N || undefined, 60_000, 'every gateway online again');
    fleet.close();
    await waitFor(() => hub.broker?.connectedClients === 1 || undefined, 60_000, 'every gateway gone');
    await waitFor(async () => (await statusCounts()).offline === N || undefined, 60_000, 'every gateway offline again');
    // Still serving: a gateway connects and is registered.
    const [first] = members;
    const gw = await connectClient(hub.broker?.url ?? '', { username: first?.username, password: first?.password, clientId: first?.gateway });
    expect(gw.connected).toBe(true);
    await endAll([gw]);
  }, 180_000);
});
