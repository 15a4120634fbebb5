/**
 * The Sparkplug node's birth confirmation (its own NBIRTH coming back) under rebirth requests, and
 * how a node that was born ends a session it gives up on. Two "Node Control/Rebirth" NCMDs close
 * together must not be taken for a broker dropping the births (one confirmation per session, the
 * second request answered by one more rebirth); and a born node that does give up (here: its
 * NBIRTH never comes back) must tell the hosts with NDEATH carrying the session's bdSeq, never end
 * with a clean DISCONNECT that makes the broker drop the will.
 */
import { Registry } from 'prom-client';
import sparkplugPayload from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation } from '../../../edge/federation/index.js';
import { capturedLog } from '../../support/captured-log.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, hubSubscriber, publishTo, startBroker, waitFor, type Received } from './helpers.js';

const spb = sparkplugPayload.get('spBv1.0')!;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NODE = 'spBv1.0/plant-1/+/edge-7';
const NCMD = 'spBv1.0/plant-1/NCMD/edge-7';
const CLIENT_ID = 'gw-1-spb';
/** The node's wait for its NBIRTH to come back (connectTimeoutMs, at least 1 s). */
const CONFIRM_MS = 1000;

const num = (v: unknown): number => (typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v));
const bdSeqOf = (p: UPayload): number => num(p.metrics?.find((m) => m.name === 'bdSeq')?.value);
const typeOf = (m: Received): string | undefined => m.topic.split('/')[2];
const rebirthRequest = (): Buffer => Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }));

async function setup() {
  const broker = await startBroker();
  cleanups.push(() => broker.close());
  const dir = tempDir('swg-spb-rebirth-');
  cleanups.push(() => dir.remove());
  const gw = fakeGateway('gw-1', 'site-a');
  const scada = hubSubscriber(broker.broker, `${NODE}/#`);
  const deaths = hubSubscriber(broker.broker, 'spBv1.0/plant-1/NDEATH/edge-7');
  await Promise.all([scada.ready, deaths.ready]);
  cleanups.push(() => scada.close(), () => deaths.close());
  const { log, lines } = capturedLog();
  const registry = new Registry();
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    log,
    registry,
    config: {
      mqtt: { url: broker.url, reconnectPeriodMs: 100, connectTimeoutMs: CONFIRM_MS },
      outbox: { flushMs: 20 },
      stateIntervalS: 0,
      integration: { sparkplug: { enabled: true, groupId: 'plant-1', edgeNodeId: 'edge-7' } },
    },
  });
  cleanups.push(() => fed.stop());
  const births = () => lines.filter((l) => l.msg === 'sparkplug births published');
  const refusals = async (): Promise<number> => ((await registry.getSingleMetric('swarmgate_federation_sparkplug_refused_total')?.get())?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  await waitFor(() => births().length === 1, 5000, 'first births confirmed');
  return { broker, gw, scada, deaths, fed, lines, births, refusals };
}

describe('sparkplug rebirth requests and ending a born session (aedes)', () => {
  it('two rebirth requests before the first new NBIRTH comes back: births confirmed, no refusal, no NDEATH, the node stays online', async () => {
    const { broker, gw, scada, deaths, fed, lines, births, refusals } = await setup();
    const before = scada.messages.length;
    await Promise.all([publishTo(broker.broker, NCMD, rebirthRequest()), publishTo(broker.broker, NCMD, rebirthRequest())]);
    // The first request is answered at once, the second by one more rebirth after its confirmation.
    const rebirths = () => scada.messages.slice(before).filter((m) => typeOf(m) !== 'NCMD');
    await waitFor(() => rebirths().length === 4, 5000, 'two rebirths');
    // Past the wait for an echo that any birth of these requests started: a second, unanswered
    // wait would by now have reported the births dropped and ended the session.
    await new Promise((r) => setTimeout(r, CONFIRM_MS * 2));
    expect(await refusals()).toBe(0);
    expect(lines.filter((l) => l.component === 'sparkplug' && Number(l.level) >= 40)).toEqual([]);
    expect(births()).toHaveLength(3);
    expect(deaths.messages).toEqual([]);
    expect(fed.sparkplug!.currentBdSeq).toBe(0);
    expect(rebirths().map(typeOf)).toEqual(['NBIRTH', 'DBIRTH', 'NBIRTH', 'DBIRTH']);
    expect(rebirths().filter((m) => typeOf(m) === 'NBIRTH').map((m) => bdSeqOf(spb.decodePayload(m.payload)))).toEqual([0, 0]);

    // Still online: a reading goes out as DDATA.
    gw.emit({ device: 'ahu1', point: 'temp', value: 21, quality: 'good', ts: 1_700_000_001_000 });
    await waitFor(() => scada.messages.slice(before).some((m) => typeOf(m) === 'DDATA'), 5000, 'DDATA after the rebirths');
  });

  it('a born node that gives up on its session (its NBIRTH never comes back) publishes NDEATH with the session\'s bdSeq', { timeout: 20_000 }, async () => {
    const { broker, scada, deaths, births, refusals } = await setup();
    expect(deaths.messages).toEqual([]);
    // From now on the broker drops the node's own NBIRTH on its way back to it (the host still
    // gets it): to the node, the broker took no births.
    broker.broker.authorizeForward = (client, packet) => (client?.id === CLIENT_ID && packet.topic.split('/')[2] === 'NBIRTH' ? null : packet);
    const before = scada.messages.length;
    await publishTo(broker.broker, NCMD, rebirthRequest());
    await waitFor(() => scada.messages.slice(before).some((m) => typeOf(m) === 'DBIRTH'), 5000, 'the rebirth the host sees');
    await waitFor(() => deaths.messages.length === 1, 10_000, 'NDEATH after the node gave up on the session');
    expect(bdSeqOf(spb.decodePayload(deaths.messages[0]!.payload))).toBe(0);
    expect(await refusals()).toBe(1);
    expect(births()).toHaveLength(1);
  });
});
