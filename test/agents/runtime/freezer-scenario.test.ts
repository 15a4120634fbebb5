/**
 * The hub's agents on the simulated facility, end to end: the real gateway (edge app reading the
 * OPC UA cold room and the GPIO relays) federates to the hub's embedded broker; the main
 * compressor fails and the sim runs fast, the freezer warms, the gateway reports an anomaly; the
 * specialists agree and:
 *  - with a confident decision the hub switches the backup compressor on through its
 *    CommandService, the gateway applies it, and the cold room cools in the stored telemetry;
 *  - with a high threshold the decision waits in the review queue; a technician approves it (with
 *    the CLI, while the hub is down); the restarted hub executes it once, a retried approval is a
 *    409, and another restart sends nothing more.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewCommand } from '../../../cli/review.js';
import { startFacility, type Facility } from '../../../devices/facility.js';
import { loadHubConfig } from '../../../hub/config.js';
import { startHub, type Hub } from '../../../hub/index.js';
import type { CommandRecord } from '../../../hub/store/types.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import { ROOT, startEdge, writeEdgeConfig, type InProcessEdge } from '../../e2e/support/edge.js';
import { addGatewayUser, credentialsFile } from '../../e2e/support/hub.js';
import { waitFor } from '../../e2e/support/util.js';
import { tempDir } from '../../support/tmp.js';

const SITE = 'demo-site';
const GW = 'gw-demo-1';
const MODEL = join(ROOT, 'deploy/examples/demo-facility.yaml');
const RELAY = { kind: 'write', device: 'io', point: 'backup_compressor_relay' } as const;

describe('hub agents on the simulated freezer', () => {
  const dir = tempDir('swarmgate-agents-freezer-');
  const folder = join(dir.path, 'hub');
  let facility: Facility;
  let edge: InProcessEdge;
  let hub: Hub | undefined;
  let port = 0;

  async function start(threshold: number): Promise<Hub> {
    const yaml =
      `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: ${port}, credentialsFile: users.yaml }\n` +
      'store: { kind: sqlite, path: hub.db }\n' +
      'commands: { timeoutMs: 5000, retries: 0 }\n' +
      'review: { sweepIntervalMs: 200 }\n' +
      `agents: { enabled: true, facilityModel: ${MODEL}, threshold: ${threshold}, evaluationIntervalS: 0 }\n`;
    // Written to disk as well: the CLI reads the same file.
    writeFileSync(join(folder, 'hub.yaml'), yaml);
    const h = await startHub(loadHubConfig(join(folder, 'hub.yaml')), { retentionIntervalMs: 0, agents: { voteTimeoutMs: 300, settleMs: 3000 } });
    port = h.broker?.port ?? 0;
    hub = h;
    return h;
  }

  async function stop(): Promise<void> {
    await hub?.stop();
    hub = undefined;
  }

  const temperature = async (h: Hub): Promise<number | undefined> => {
    const r = (await h.store.latest(GW)).find((x) => x.device === 'coldroom' && x.point === 'temperature');
    return r?.quality === 'good' && typeof r.value === 'number' ? r.value : undefined;
  };

  /** The gateway's anomaly report for the cold-room temperature (what its monitor would send). */
  const anomaly = (): GatewayEvent => ({
    v: 1,
    id: `evt-${randomUUID().slice(0, 12)}`,
    gateway: GW,
    ts: Date.now(),
    kind: 'anomaly',
    severity: 'critical',
    device: 'coldroom',
    point: 'temperature',
    message: 'cold-room temperature rising outside its usual pattern',
    data: { score: 0.98 },
  });

  const relayCommands = async (h: Hub): Promise<CommandRecord[]> =>
    (await h.store.listCommands({ gateway: GW, limit: 1000 })).filter((c) => c.command.action.kind === 'write' && c.command.action.point === RELAY.point && c.command.action.value === true);

  /** Waits until the freezer is warm enough that backup is worth it (setpoint -18 + 2 K drift). */
  async function warmUp(h: Hub): Promise<number> {
    return waitFor(async () => {
      const t = await temperature(h);
      return t !== undefined && t >= -15.8 ? t : undefined;
    }, 40_000, 'the freezer to warm above -15.8 °C');
  }

  beforeAll(async () => {
    mkdirSync(folder, { recursive: true });
    facility = await startFacility({ dataDir: join(dir.path, 'sim'), seed: 5, speed: 1 });
    facility.model.setDoorOverride(false);
    const auth = await addGatewayUser(credentialsFile(folder), SITE, GW);
    const h = await start(0.8);
    const file = writeEdgeConfig(dir.path, {
      id: GW,
      site: SITE,
      dataDir: join(dir.path, 'gw'),
      facility: facility.endpoints,
      devices: ['coldroom', 'io'],
      pollMs: 200,
      federation: { mqtt: { url: `mqtt://127.0.0.1:${port}`, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
    });
    edge = await startEdge(file);
    await waitFor(async () => (await h.registry.get(GW))?.status === 'online' && (await temperature(h)) !== undefined, 30_000, 'the gateway online with cold-room readings');
  }, 60_000);

  afterAll(async () => {
    await stop();
    await edge?.stop();
    await facility?.stop();
    dir.remove();
  });

  it('confident: the backup compressor is switched on through the CommandService and the room cools', async () => {
    const h = hub!;
    facility.faults.inject({ kind: 'compressor-failure' });
    facility.setSpeed(600);
    await warmUp(h);
    edge.app.federation!.enqueueEvent(anomaly());

    const [command] = await waitFor(async () => {
      const list = await relayCommands(h);
      return list.length > 0 && list[0]?.status === 'applied' ? list : undefined;
    }, 20_000, 'the relay command applied');
    expect(command?.command.origin).toBe('agent:equipment-health');
    expect(command?.command.action).toEqual({ ...RELAY, value: true });
    expect(facility.snapshot().coldRoom.backupCompressor).toBe(true);

    // The executor waits out the settling window and checks the effect in stored telemetry.
    await h.agents!.idle();
    const ackedAt = command?.ackedAt ?? 0;
    const after = await h.store.history(GW, 'coldroom', 'temperature', ackedAt, Date.now());
    const values = after.map((s) => Number(s.value));
    expect(Math.min(...values)).toBeLessThan((values[0] ?? 0) - 0.5);
    const health = h.agents!.learning.get('equipment-health', 'equipment');
    expect(health.n).toBeGreaterThan(0);
    expect(h.agents!.learning.mean('equipment-health', 'equipment')).toBeGreaterThan(0.5);
    // Confident: nothing about the relay waits for a technician.
    expect((await h.review.list({ site: SITE })).filter((i) => i.action.kind === 'write' && i.action.point === RELAY.point)).toEqual([]);
    const trail = await h.agents!.audit.entries({ since: ackedAt - 60_000 });
    expect(trail.some((e) => e.message.type === 'knowledge-share')).toBe(true);
  }, 60_000);

  it('unsure: review → approved with the CLI while the hub is down → executed once after restart, retries and restarts send nothing more', async () => {
    // Back to the failure: relay off (an operator's command), a stricter hub, the room warms again.
    let h = hub!;
    const off = await h.commands.create({ gateway: GW, action: { ...RELAY, value: false }, origin: 'user:test' });
    expect((await h.commands.settled(off.id)).status).toBe('applied');
    await stop();
    h = await start(0.99);
    await waitFor(async () => edge.app.federation!.publisher.connected && (await h.registry.get(GW))?.status === 'online', 15_000, 'the gateway back');
    const before = (await relayCommands(h)).length;
    await warmUp(h);
    edge.app.federation!.enqueueEvent(anomaly());
    const item = await waitFor(async () => (await h.review.list({ site: SITE, state: 'pending' })).find((i) => i.action.kind === 'write' && i.action.point === RELAY.point), 15_000, 'a review item for the relay');
    expect(item).toMatchObject({ source: 'hub', sourceAgent: 'equipment-health', gateway: GW, priority: 75, actionClass: 'backup-equipment', action: { ...RELAY, value: true } });
    expect(item.confidence).toBeGreaterThan(0.8);
    expect(item.evidence.reason).toBe('low-confidence');
    const windows = item.evidence.telemetry as Array<{ device: string; point: string; samples: unknown[] }>;
    expect(windows.find((w) => w.device === 'coldroom' && w.point === 'temperature')?.samples.length).toBeGreaterThan(0);
    expect((await relayCommands(h)).length).toBe(before);

    // The technician approves from the CLI while the hub is down.
    await stop();
    const config = join(folder, 'hub.yaml');
    expect(await reviewCommand.run(['approve', item.id, '--user', 'tech-anna', '--note', 'freezer alarm confirmed on site', '--config', config])).toBe(0);
    const retry = await reviewCommand.run(['approve', item.id, '--user', 'tech-ben', '--config', config]).catch((err: unknown) => err);
    expect(isSwarmgateError(retry, 'SWG_ERR_REVIEW_CONFLICT')).toBe(true);

    h = await start(0.99);
    const executed = await waitFor(async () => {
      const i = await h.review.get(item.id);
      return i?.state === 'executed' || i?.state === 'failed' ? i : undefined;
    }, 20_000, 'the approved item executed');
    expect(executed.state, executed.reason).toBe('executed');
    expect(executed.decidedBy).toBe('tech-anna');
    const mine = (await relayCommands(h)).filter((c) => c.id === executed.commandId);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.status).toBe('applied');
    expect(mine[0]?.command.origin).toBe('review:tech-anna');
    expect(facility.snapshot().coldRoom.backupCompressor).toBe(true);
    await expect(h.review.approve(item.id, { user: 'tech-ben' })).rejects.toMatchObject({ code: 'SWG_ERR_REVIEW_CONFLICT', status: 409 });
    // The technician's approval (given while no hub ran) taught the track records once.
    await h.agents!.idle();
    expect(await h.agents!.executed.has(`learn:${item.id}`)).toBe(true);

    await stop();
    h = await start(0.99);
    await h.review.sweep();
    await h.review.idle();
    expect((await relayCommands(h)).length).toBe(before + 1);
    expect((await h.review.audit(item.id)).map((e) => [e.action, e.actor])).toEqual([
      ['submit', 'agent:equipment-health'],
      ['approve', 'tech-anna'],
      ['execute', 'system'],
    ]);
  }, 120_000);
});
