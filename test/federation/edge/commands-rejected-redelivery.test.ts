/**
 * A command the gateway rejected is answered with that rejection when the broker delivers it
 * again (the hub's retry queued in the gateway's persistent session, a resumed session), never
 * judged again: an interlock that cleared in between must not let the second copy write the
 * equipment while the hub shows the command rejected. The outcome survives a restart, and
 * federation.json keeps the shape the previous release validates (it goes to a file of its own).
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation, type FederationGateway } from '../../../edge/federation/index.js';
import { FederationState } from '../../../edge/federation/state.js';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { capturedLog } from '../../support/captured-log.js';
import { tempDir } from '../../support/tmp.js';
import { startCommandHub, untilStatus } from './command-hub.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';
const INTERLOCK = 'interlock compressor-min-off: compressor stopped 40 s ago (needs 180 s)';

/** federation.json as the previous release validates it (edge/federation/state.ts at that release): strict, v 1. */
const strict = { additionalProperties: false } as const;
const PreviousReleaseStateSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Type.String(),
    site: Type.String(),
    configVersion: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    appliedCommands: Type.Array(Type.Object({ id: Type.String(), at: Type.Integer() }, strict)),
    sparkplugBdSeq: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
  },
  strict,
);

/** The fake gateway, refusing its first write with an interlock that then clears. */
function interlockedOnce(): { gateway: FederationGateway; writes: ReturnType<typeof fakeGateway>['writes']; refused: () => number } {
  const gw = fakeGateway('gw-1', 'site-a');
  let refused = 0;
  const gateway: FederationGateway = {
    ...gw,
    write: async (device, point, value, origin) => {
      if (refused === 0) {
        refused++;
        throw new SwarmgateError('SWG_ERR_INTERLOCK', INTERLOCK);
      }
      await gw.write(device, point, value, origin);
    },
  };
  return { gateway, writes: gw.writes, refused: () => refused };
}

async function start(gateway: FederationGateway, url: string, dataDir: string) {
  const fed = await startFederation({ gateway, dataDir, registry: new Registry(), config: { mqtt: { url, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 200 }, outbox: { flushMs: 20 }, stateIntervalS: 0 } });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 5000, 'connect');
  await new Promise((r) => setTimeout(r, 100)); // the SUBACK of the commands topic
  return fed;
}

describe('a rejected command delivered again', () => {
  it('is answered with the recorded rejection, not written, and the hub keeps "rejected" (also after a restart)', async () => {
    const { broker, dir } = await startPeers(cleanups, `${PREFIX}/#`, 'swg-cmd-rejected-');
    const hub = await startCommandHub(cleanups, broker.broker, dir.path, 'site-a', 'gw-1', { timeoutMs: 300, retries: 1 });
    const { gateway, writes, refused } = interlockedOnce();
    const fed = await start(gateway, broker.url, join(dir.path, 'gw'));

    // The gateway is away: the hub publishes, hears nothing, publishes the same id again (its retry).
    await broker.goDown();
    const record = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21 }, origin: 'user:alice' });
    await waitFor(() => hub.published.length === 2, 5000, 'the retry');
    // Back: the broker delivers both copies; the first meets the interlock, which clears at once.
    await broker.comeBack();
    const finals = () => hub.acks.filter((a) => a.id === record.id && a.status !== 'delivered');
    await waitFor(() => finals().length === 2, 10_000, 'both copies answered');

    expect(refused()).toBe(1);
    expect(writes).toEqual([]);
    expect(finals().map((a) => [a.status, a.code, a.reason, a.duplicate ?? false])).toEqual([
      ['rejected', 'SWG_ERR_INTERLOCK', INTERLOCK, false],
      ['rejected', 'SWG_ERR_INTERLOCK', INTERLOCK, true],
    ]);
    await untilStatus(hub, record.id, 'rejected');
    expect(await hub.commands.get(record.id)).toMatchObject({ status: 'rejected', code: 'SWG_ERR_INTERLOCK', reason: INTERLOCK });

    // A restart: the rejection is still the answer to a third copy.
    await fed.stop();
    const again = await start(gateway, broker.url, join(dir.path, 'gw'));
    await publishTo(broker.broker, `${PREFIX}/commands`, hub.published[0]!);
    await waitFor(() => finals().length === 3, 10_000, 'the copy after the restart answered');
    expect(finals()[2]).toMatchObject({ status: 'rejected', code: 'SWG_ERR_INTERLOCK', duplicate: true });
    expect(writes).toEqual([]);
    await again.stop();

    // The previous release still reads federation.json (a rollback does not crash on it).
    const file = JSON.parse(readFileSync(join(dir.path, 'gw', 'federation.json'), 'utf8')) as unknown;
    expect(Value.Check(PreviousReleaseStateSchema, file)).toBe(true);
    expect(existsSync(join(dir.path, 'gw', 'federation.commands.json'))).toBe(true);
  });
});

describe('the command outcomes file', () => {
  it('keeps rejected ids bounded, applied wins over rejected, and a file from a later release (more fields) is read', async () => {
    const dir = tempDir('swg-cmd-outcomes-');
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'federation.json');
    const state = await FederationState.open({ path, gateway: 'gw-1', site: 'site-a', maxCommands: 3 });
    for (let i = 0; i < 5; i++) await state.recordRejected(`cmd-rej-${i}`, 1000 + i, 'SWG_ERR_INTERLOCK', `reason ${i}`);
    await state.recordApplied('cmd-rej-4', 2000);
    await state.close();
    const outcomes = JSON.parse(readFileSync(join(dir.path, 'federation.commands.json'), 'utf8')) as { rejectedCommands: { id: string }[] };
    expect(outcomes.rejectedCommands.map((r) => r.id)).toEqual(['cmd-rej-2', 'cmd-rej-3', 'cmd-rej-4']);

    writeFileSync(join(dir.path, 'federation.commands.json'), JSON.stringify({ ...outcomes, future: { x: 1 }, rejectedCommands: outcomes.rejectedCommands.map((r) => ({ ...r, more: true })) }));
    const reopened = await FederationState.open({ path, gateway: 'gw-1', site: 'site-a', maxCommands: 3 });
    expect(reopened.outcome('cmd-rej-1')).toBeUndefined();
    expect(reopened.outcome('cmd-rej-3')).toEqual({ status: 'rejected', code: 'SWG_ERR_INTERLOCK', reason: 'reason 3' });
    expect(reopened.outcome('cmd-rej-4')).toEqual({ status: 'applied' });
  });

  it('an unreadable outcomes file is set aside with a logged error, not fatal', async () => {
    const dir = tempDir('swg-cmd-outcomes-bad-');
    cleanups.push(() => dir.remove());
    writeFileSync(join(dir.path, 'federation.commands.json'), '{ not json');
    const { log, lines } = capturedLog<{ msg: string; setAside?: string }>('error');
    const state = await FederationState.open({ path: join(dir.path, 'federation.json'), gateway: 'gw-1', site: 'site-a', log });
    expect(state.outcome('cmd-any-0001')).toBeUndefined();
    expect(lines.some((l) => l.msg.startsWith('command outcomes file set aside') && l.setAside?.endsWith('.unreadable'))).toBe(true);
    expect(existsSync(join(dir.path, 'federation.commands.json.unreadable'))).toBe(true);
  });
});
