import sparkplugPayload from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { afterEach, describe, expect, it } from 'vitest';
import { EventSchema, decode } from '../../../shared/wire/index.js';
import { startFederation } from '../../../edge/federation/index.js';
import { tempDir } from '../../support/tmp.js';
import type { FederationDevice } from '../../../edge/federation/index.js';
import { TAGS_PROPERTY } from '../../../edge/federation/sparkplug.js';
import { fakeGateway, hubSubscriber, publishTo, startBroker, waitFor, type Received } from './helpers.js';

const spb = sparkplugPayload.get('spBv1.0')!;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NODE = 'spBv1.0/plant-1/+/edge-7';

/** A device whose profile declares one point of each kind (Modbus bool, int32, float32, string). */
const MIX: FederationDevice = {
  id: 'mix',
  protocol: 'modbus-tcp',
  points: [
    { name: 'running', writable: false, valueType: 'boolean' },
    { name: 'count', writable: false, valueType: 'int32' },
    { name: 'level', writable: false, valueType: 'float' },
    { name: 'label', writable: false, valueType: 'string' },
  ],
};
const MIX_TYPES = [
  ['running', 'Boolean'],
  ['count', 'Int32'],
  ['level', 'Float'],
  ['label', 'String'],
];

async function setup(sparkplug: { primaryHostId?: string; aliases?: boolean } = {}, extra: readonly FederationDevice[] = []) {
  const broker = await startBroker();
  cleanups.push(() => broker.close());
  const dir = tempDir('swg-spb-');
  cleanups.push(() => dir.remove());
  const gw = fakeGateway('gw-1', 'site-a', extra);
  gw.emit({ device: 'ahu1', point: 'temp', value: 18.5, quality: 'good', ts: 1_700_000_000_000 });
  const scada = hubSubscriber(broker.broker, `${NODE}/#`);
  const deaths = hubSubscriber(broker.broker, 'spBv1.0/plant-1/NDEATH/edge-7');
  const events = hubSubscriber(broker.broker, 'swarmgate/v1/site-a/gw-1/events');
  await Promise.all([scada.ready, deaths.ready, events.ready]);
  cleanups.push(() => scada.close(), () => deaths.close(), () => events.close());
  const start = () =>
    startFederation({
      gateway: gw,
      dataDir: dir.path,
      config: {
        mqtt: { url: broker.url, reconnectPeriodMs: 100 },
        outbox: { flushMs: 20 },
        stateIntervalS: 0,
        integration: { sparkplug: { enabled: true, groupId: 'plant-1', edgeNodeId: 'edge-7', ...sparkplug } },
      },
    });
  const fed = await start();
  cleanups.push(() => fed.stop());
  return { broker, gw, scada, deaths, events, fed, start };
}

function decoded(messages: readonly Received[], type: string): (UPayload & { topic: string })[] {
  return messages.filter((m) => m.topic.split('/')[2] === type).map((m) => ({ ...spb.decodePayload(m.payload), topic: m.topic }));
}

const num = (v: unknown): number => (typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v));
const seqOf = (p: UPayload): number => num(p.seq);
const bdSeqOf = (p: UPayload): number => num(p.metrics?.find((m) => m.name === 'bdSeq')?.value);

describe('sparkplug B edge node (aedes)', () => {
  it('publishes NBIRTH (seq 0, bdSeq) and a DBIRTH with every metric, then DDATA on changes', async () => {
    const { gw, scada } = await setup();
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births');
    const [nbirth] = decoded(scada.messages, 'NBIRTH');
    expect(nbirth?.topic).toBe('spBv1.0/plant-1/NBIRTH/edge-7');
    expect(seqOf(nbirth!)).toBe(0);
    expect(bdSeqOf(nbirth!)).toBe(0);
    expect(nbirth?.metrics?.find((m) => m.name === 'Node Control/Rebirth')).toMatchObject({ type: 'Boolean', value: false });
    const [dbirth] = decoded(scada.messages, 'DBIRTH');
    expect(dbirth?.topic).toBe('spBv1.0/plant-1/DBIRTH/edge-7/ahu1');
    expect(seqOf(dbirth!)).toBe(1);
    expect(dbirth?.metrics?.map((m) => [m.name, m.type, m.value, m.properties?.Quality?.value])).toEqual([
      ['temp', 'Double', 18.5, 192],
      ['setpoint', 'Double', null, 0],
    ]);

    gw.emit({ device: 'ahu1', point: 'temp', value: 19, quality: 'uncertain', ts: 1_700_000_001_000 });
    await waitFor(() => decoded(scada.messages, 'DDATA').length === 1, 5000, 'ddata');
    const [ddata] = decoded(scada.messages, 'DDATA');
    expect(ddata?.topic).toBe('spBv1.0/plant-1/DDATA/edge-7/ahu1');
    expect(seqOf(ddata!)).toBe(2);
    expect(ddata?.metrics?.map((m) => [m.name, m.value, num(m.timestamp), m.properties?.Quality?.value])).toEqual([['temp', 19, 1_700_000_001_000, 64]]);
  });

  it('carries a point\'s Haystack markers as a DBIRTH metric property, never in DDATA', async () => {
    const tagged: FederationDevice = {
      id: 'vav1',
      protocol: 'bacnet-ip',
      points: [
        { name: 'zone_temp', unit: 'degC', writable: false, valueType: 'float', tags: ['zone', 'air', 'temp', 'sensor'] },
        { name: 'flow', writable: false, valueType: 'float' },
      ],
    };
    const { gw, scada } = await setup({}, [tagged]);
    await waitFor(() => decoded(scada.messages, 'DBIRTH').some((b) => b.topic.endsWith('/vav1')), 5000, 'vav1 birth');
    const birth = decoded(scada.messages, 'DBIRTH').find((b) => b.topic.endsWith('/vav1'));
    expect(birth?.metrics?.map((m) => [m.name, m.properties?.[TAGS_PROPERTY]?.value])).toEqual([
      ['zone_temp', 'zone air temp sensor'],
      ['flow', undefined],
    ]);
    gw.emit({ device: 'vav1', point: 'zone_temp', value: 21.5, quality: 'good', ts: 1_700_000_002_000 });
    await waitFor(() => decoded(scada.messages, 'DDATA').some((d) => d.topic.endsWith('/vav1')), 5000, 'vav1 ddata');
    const data = decoded(scada.messages, 'DDATA').find((d) => d.topic.endsWith('/vav1'));
    expect(data?.metrics?.[0]?.properties?.[TAGS_PROPERTY]).toBeUndefined();
  });

  it('wraps seq at 256 and a rebirth (NCMD Node Control/Rebirth) resets it to 0', async () => {
    const { broker, gw, scada } = await setup();
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births');
    for (let i = 0; i < 300; i++) {
      gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: 1_700_000_000_000 + i });
      await new Promise((r) => setImmediate(r)); // one DDATA per tick
    }
    await waitFor(() => decoded(scada.messages, 'DDATA').length === 300, 10_000, '300 DDATA');
    const seqs = scada.messages.map((m) => seqOf(spb.decodePayload(m.payload)));
    expect(seqs).toEqual(Array.from({ length: 302 }, (_, i) => i % 256));

    const before = scada.messages.length;
    await publishTo(broker.broker, 'spBv1.0/plant-1/NCMD/edge-7', Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })));
    await waitFor(() => decoded(scada.messages.slice(before), 'DBIRTH').length === 1, 5000, 'rebirth');
    const reborn = scada.messages.slice(before).filter((m) => !m.topic.includes('/NCMD/'));
    expect(reborn.map((m) => [m.topic.split('/')[2], seqOf(spb.decodePayload(m.payload))])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
    ]);
    // same connection, same will: the rebirth repeats the bdSeq
    expect(bdSeqOf(decoded(scada.messages.slice(before), 'NBIRTH')[0]!)).toBe(0);
  });

  it('a device going down gets a DDEATH and no DDATA; back up, a fresh DBIRTH with current values', async () => {
    const { gw, scada } = await setup();
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births');
    gw.states.set('ahu1', 'down');
    await waitFor(() => decoded(scada.messages, 'DDEATH').length === 1, 5000, 'ddeath');
    const [ddeath] = decoded(scada.messages, 'DDEATH');
    expect(ddeath?.topic).toBe('spBv1.0/plant-1/DDEATH/edge-7/ahu1');
    expect(seqOf(ddeath!)).toBe(2);
    // Readings of a dead device are not sent as DDATA.
    gw.emit({ device: 'ahu1', point: 'temp', value: 0, quality: 'bad', ts: 1_700_000_002_000 });
    gw.states.set('ahu1', 'up');
    gw.emit({ device: 'ahu1', point: 'temp', value: 21, quality: 'good', ts: 1_700_000_003_000 });
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 2, 5000, 'rebirth of the device');
    const reborn = decoded(scada.messages, 'DBIRTH')[1]!;
    expect(seqOf(reborn)).toBe(3);
    expect(reborn.metrics?.find((m) => m.name === 'temp')).toMatchObject({ value: 21, properties: { Quality: { value: 192 } } });
    expect(decoded(scada.messages, 'DDATA').filter((d) => d.metrics?.some((m) => m.value === 0))).toEqual([]);
  });

  it('with a primary host: births wait for its STATE online; its STATE offline ends the session (NDEATH, new bdSeq) until it is back', async () => {
    const state = (online: boolean, timestamp: number): Buffer => Buffer.from(JSON.stringify({ online, timestamp }));
    const STATE = 'spBv1.0/STATE/scada-main';
    const { broker, scada, deaths } = await setup({ primaryHostId: 'scada-main' });
    // Connected, but the host has said nothing: no birth.
    await new Promise((r) => setTimeout(r, 300));
    expect(decoded(scada.messages, 'NBIRTH')).toEqual([]);
    await publishTo(broker.broker, STATE, state(true, 1000), true);
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births after the host came online');
    expect(bdSeqOf(decoded(scada.messages, 'NBIRTH')[0]!)).toBe(0);

    // A stale STATE (older timestamp, e.g. delivered late) changes nothing.
    await publishTo(broker.broker, STATE, state(false, 500), true);
    await new Promise((r) => setTimeout(r, 200));
    expect(deaths.messages).toHaveLength(0);

    // The host goes offline: NDEATH (bdSeq of the birth), a new session, and no birth until it is back.
    await publishTo(broker.broker, STATE, state(false, 2000), true);
    await waitFor(() => deaths.messages.length === 1, 5000, 'NDEATH after the host went offline');
    expect(bdSeqOf(spb.decodePayload(deaths.messages[0]!.payload))).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(decoded(scada.messages, 'NBIRTH')).toHaveLength(1);
    await publishTo(broker.broker, STATE, state(true, 3000), true);
    await waitFor(() => decoded(scada.messages, 'NBIRTH').length === 2, 5000, 'births after the host is back');
    expect(bdSeqOf(decoded(scada.messages, 'NBIRTH')[1]!)).toBe(1);
    // Garbage on the STATE topic is refused, not fatal.
    await publishTo(broker.broker, STATE, 'ONLINE', true);
    await new Promise((r) => setTimeout(r, 100));
    expect(decoded(scada.messages, 'NBIRTH')).toHaveLength(2);
  });

  it('with aliases: births carry an alias per metric, DDATA goes by alias only, and a DCMD may use the alias', async () => {
    const { broker, gw, scada, events } = await setup({ aliases: true });
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births');
    const [dbirth] = decoded(scada.messages, 'DBIRTH');
    expect(dbirth?.metrics?.map((m) => [m.name, num(m.alias)])).toEqual([
      ['temp', 1],
      ['setpoint', 2],
    ]);
    gw.emit({ device: 'ahu1', point: 'temp', value: 19.5, quality: 'good', ts: 1_700_000_001_000 });
    await waitFor(() => decoded(scada.messages, 'DDATA').length === 1, 5000, 'ddata');
    const [ddata] = decoded(scada.messages, 'DDATA');
    expect(ddata?.metrics?.map((m) => [m.name, num(m.alias), m.value])).toEqual([[undefined, 1, 19.5]]);

    const dcmd = (alias: number, value: number): Buffer => Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ alias, type: 'Double', value }] }));
    await publishTo(broker.broker, 'spBv1.0/plant-1/DCMD/edge-7/ahu1', dcmd(2, 23));
    await waitFor(() => gw.writes.length === 1, 5000, 'write by alias');
    expect(gw.writes[0]).toEqual({ device: 'ahu1', point: 'setpoint', value: 23, origin: 'sparkplug' });
    await publishTo(broker.broker, 'spBv1.0/plant-1/DCMD/edge-7/ahu1', dcmd(99, 23));
    await waitFor(() => events.messages.length === 1, 5000, 'refusal of an unknown alias');
    const event = decode(EventSchema, 'events', events.messages[0]!.payload);
    expect(event.ok && event.value.message).toMatch(/alias 99/);
    expect(gw.writes).toHaveLength(1);
  });

  it('applies DCMD writes through the write checks and reports refusals as events', async () => {
    const { broker, gw, scada, events } = await setup();
    await waitFor(() => decoded(scada.messages, 'DBIRTH').length === 1, 5000, 'births');
    const dcmd = (name: string, value: number): Buffer => Buffer.from(spb.encodePayload({ timestamp: Date.now(), metrics: [{ name, type: 'Double', value }] }));
    await publishTo(broker.broker, 'spBv1.0/plant-1/DCMD/edge-7/ahu1', dcmd('setpoint', 24));
    await waitFor(() => gw.writes.length === 1, 5000, 'write');
    expect(gw.writes[0]).toEqual({ device: 'ahu1', point: 'setpoint', value: 24, origin: 'sparkplug' });
    await publishTo(broker.broker, 'spBv1.0/plant-1/DCMD/edge-7/ahu1', dcmd('setpoint', 5));
    await waitFor(() => events.messages.length === 1, 5000, 'refusal event');
    const event = decode(EventSchema, 'events', events.messages[0]!.payload);
    expect(event.ok && event.value).toMatchObject({ device: 'ahu1', point: 'setpoint', data: { code: 'SWG_ERR_POINT_LIMIT', source: 'sparkplug' } });
    expect(gw.writes.length).toBe(1);
  });

  it('the broker sends NDEATH (the will) with the bdSeq of the birth; the next connect counts bdSeq up, also across restarts', async () => {
    const { broker, scada, deaths, fed, start } = await setup();
    await waitFor(() => decoded(scada.messages, 'NBIRTH').length === 1, 5000, 'birth');
    for (const c of Object.values((broker.broker as unknown as { clients: Record<string, { id: string; conn: { destroy(): void } }> }).clients)) {
      if (c.id === 'gw-1-spb') c.conn.destroy();
    }
    await waitFor(() => deaths.messages.length === 1, 5000, 'will NDEATH');
    expect(bdSeqOf(spb.decodePayload(deaths.messages[0]!.payload))).toBe(0);
    await waitFor(() => decoded(scada.messages, 'NBIRTH').length === 2, 5000, 'second birth');
    expect(bdSeqOf(decoded(scada.messages, 'NBIRTH')[1]!)).toBe(1);

    await fed.stop(); // a clean stop publishes NDEATH itself
    await waitFor(() => deaths.messages.length === 2, 5000, 'NDEATH on stop');
    expect(bdSeqOf(spb.decodePayload(deaths.messages[1]!.payload))).toBe(1);
    const again = await start();
    cleanups.push(() => again.stop());
    await waitFor(() => decoded(scada.messages, 'NBIRTH').length === 3, 5000, 'birth after restart');
    expect(bdSeqOf(decoded(scada.messages, 'NBIRTH')[2]!)).toBe(2);
  });

  describe('datatypes come from the profile', () => {
    const mixBirths = (messages: readonly Received[]) => decoded(messages, 'DBIRTH').filter((p) => p.topic.endsWith('/mix'));

    it('the first DBIRTH, before any value is known, declares every metric with its profile datatype and a null value; values then go as DDATA of that type, never as a new DBIRTH', async () => {
      const { gw, scada } = await setup({}, [MIX]);
      await waitFor(() => mixBirths(scada.messages).length === 1, 5000, 'DBIRTH of mix');
      const [first] = mixBirths(scada.messages);
      expect(first?.metrics?.map((m) => [m.name, m.type])).toEqual(MIX_TYPES);
      expect(first?.metrics?.map((m) => m.value)).toEqual([null, null, null, null]);
      expect(first?.metrics?.map((m) => m.properties?.Quality?.value)).toEqual([0, 0, 0, 0]);

      const ts = 1_700_000_005_000;
      gw.emit({ device: 'mix', point: 'running', value: true, quality: 'good', ts });
      gw.emit({ device: 'mix', point: 'count', value: 7, quality: 'good', ts });
      gw.emit({ device: 'mix', point: 'level', value: 2.5, quality: 'good', ts });
      gw.emit({ device: 'mix', point: 'label', value: 'AHU-7', quality: 'good', ts });
      await waitFor(() => decoded(scada.messages, 'DDATA').some((p) => p.topic.endsWith('/mix')), 5000, 'DDATA of mix');
      await new Promise((r) => setTimeout(r, 1500)); // a device check (every 1 s) has run since
      expect(mixBirths(scada.messages)).toHaveLength(1);
      const data = decoded(scada.messages, 'DDATA').filter((p) => p.topic.endsWith('/mix')).flatMap((p) => p.metrics ?? []);
      expect(data.map((m) => [m.name, m.type, typeof m.value === 'object' && m.value !== null ? num(m.value) : m.value])).toEqual([
        ['running', 'Boolean', true],
        ['count', 'Int32', 7],
        ['level', 'Float', 2.5],
        ['label', 'String', 'AHU-7'],
      ]);
    });

    it('a value of another type than the profile declares goes out null with the declared datatype, without a rebirth', async () => {
      const { gw, scada } = await setup({}, [MIX]);
      await waitFor(() => mixBirths(scada.messages).length === 1, 5000, 'DBIRTH of mix');
      gw.emit({ device: 'mix', point: 'count', value: 'n/a', quality: 'uncertain', ts: 1_700_000_006_000 });
      await waitFor(() => decoded(scada.messages, 'DDATA').some((p) => p.topic.endsWith('/mix')), 5000, 'DDATA of mix');
      const [metric] = decoded(scada.messages, 'DDATA').find((p) => p.topic.endsWith('/mix'))?.metrics ?? [];
      expect(metric).toMatchObject({ name: 'count', type: 'Int32', value: null });
      expect(mixBirths(scada.messages)).toHaveLength(1);
    });

    it('a device that recovers without going down (starting -> up, bad -> good) is not reborn', async () => {
      const { gw, scada } = await setup({}, [MIX]);
      gw.states.set('mix', 'starting');
      await waitFor(() => mixBirths(scada.messages).length === 1, 5000, 'DBIRTH of mix');
      gw.emit({ device: 'mix', point: 'running', value: null, quality: 'bad', ts: 1_700_000_001_000, cause: 'timeout' });
      gw.states.set('mix', 'up');
      gw.emit({ device: 'mix', point: 'running', value: false, quality: 'good', ts: 1_700_000_002_000 });
      gw.emit({ device: 'mix', point: 'level', value: 3, quality: 'good', ts: 1_700_000_002_000 });
      await new Promise((r) => setTimeout(r, 1500));
      expect(mixBirths(scada.messages)).toHaveLength(1);
      expect(decoded(scada.messages, 'DDEATH')).toEqual([]);
    });

    it('after a DDEATH the device is reborn with the same datatypes and its current values', async () => {
      const { gw, scada } = await setup({}, [MIX]);
      await waitFor(() => mixBirths(scada.messages).length === 1, 5000, 'DBIRTH of mix');
      gw.states.set('mix', 'down');
      await waitFor(() => decoded(scada.messages, 'DDEATH').some((p) => p.topic.endsWith('/mix')), 5000, 'DDEATH of mix');
      gw.emit({ device: 'mix', point: 'running', value: true, quality: 'good', ts: 1_700_000_003_000 });
      gw.emit({ device: 'mix', point: 'count', value: 3, quality: 'good', ts: 1_700_000_003_000 });
      gw.states.set('mix', 'up');
      await waitFor(() => mixBirths(scada.messages).length === 2, 5000, 'DBIRTH of mix after its DDEATH');
      const [first, again] = mixBirths(scada.messages);
      expect(again?.metrics?.map((m) => [m.name, m.type])).toEqual(first?.metrics?.map((m) => [m.name, m.type]));
      expect(again?.metrics?.slice(0, 2).map((m) => [m.name, m.value])).toEqual([
        ['running', true],
        ['count', 3],
      ]);
    });
  });
});
