import { describe, expect, it } from 'vitest';
import { mayPublish, mayRead, maySubscribe, readScopes, writeScopes, type Identity } from '../../hub/broker/acl.js';
import { filterWithin, parseShared, topicMatches } from '../../hub/broker/topic-filter.js';
import { SharedSubscriptions } from '../../hub/broker/shared-subscriptions.js';

const gw: Identity = { role: 'gateway', username: 'u1', site: 's', gateway: 'g1', sparkplugGroups: ['s'] };
const plant: Identity = { role: 'gateway', username: 'u2', site: 'hq', gateway: 'gw-plant-1', sparkplugGroups: ['plant', 'utilities'] };
const ro: Identity = { role: 'integration', username: 'bms', read: ['swarmgate/v1/+/+/points/#'], write: [] };
const hub: Identity = { role: 'hub', username: 'h' };

describe('topic filters', () => {
  it.each([
    ['a/+/c', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/+', 'a/b/c', false],
    ['#', '$SYS/x', false],
    ['+/x', '$share/x', false],
  ])('%s matches %s: %s', (f, t, expected) => expect(topicMatches(f, t)).toBe(expected));

  it.each([
    ['a/b/+', 'a/#', true],
    ['a/b', 'a/b/#', true],
    ['a/+/c', 'a/b/#', false],
    ['#', 'a/#', false],
    ['a/#', 'a/+', false],
    ['a/b/c', 'a/+/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/b/c/d', 'a/+/c', false],
  ])('%s within %s: %s', (f, s, expected) => expect(filterWithin(f, s)).toBe(expected));

  it('parses shared subscriptions', () => {
    expect(parseShared('$share/grp/a/+/c')).toEqual({ group: 'grp', filter: 'a/+/c' });
    expect(parseShared('$share/grp')).toBeUndefined();
    expect(parseShared('a/b')).toBeUndefined();
  });
});

describe('broker policy (deny by default)', () => {
  it('confines a gateway to its own subtree and Sparkplug node', () => {
    expect(mayPublish(gw, 'swarmgate/v1/s/g1/telemetry').allowed).toBe(true);
    expect(mayPublish(gw, 'swarmgate/v1/s/g2/telemetry').allowed).toBe(false);
    expect(mayPublish(gw, 'swarmgate/v1/t/g1/telemetry').allowed).toBe(false);
    expect(mayPublish(gw, 'spBv1.0/s/NBIRTH/g1').allowed).toBe(true);
    expect(mayPublish(gw, 'spBv1.0/s/DDATA/g1/ahu1').allowed).toBe(true);
    expect(mayPublish(gw, 'spBv1.0/s/NBIRTH/g2').allowed).toBe(false);
    expect(mayPublish(gw, '$SYS/x').allowed).toBe(false);
    expect(maySubscribe(gw, '#').allowed).toBe(false);
    expect(maySubscribe(gw, 'swarmgate/v1/s/+/commands').allowed).toBe(false);
    expect(maySubscribe(gw, 'swarmgate/v1/s/g1/#').allowed).toBe(true);
    expect(maySubscribe(gw, '$share/x/swarmgate/v1/s/g1/commands').allowed).toBe(true);
    expect(maySubscribe(gw, '$share/x/#').allowed).toBe(false);
    expect(maySubscribe(gw, 'swarmgate/#/x').allowed).toBe(false);
  });

  it('lets a gateway be a Sparkplug edge node exactly as its own node, in the groups its credential carries', () => {
    for (const group of ['plant', 'utilities']) {
      for (const type of ['NBIRTH', 'NDEATH', 'NDATA']) expect(mayPublish(plant, `spBv1.0/${group}/${type}/gw-plant-1`).allowed).toBe(true);
      for (const type of ['DBIRTH', 'DDEATH', 'DDATA']) expect(mayPublish(plant, `spBv1.0/${group}/${type}/gw-plant-1/ahu1`).allowed).toBe(true);
      expect(maySubscribe(plant, `spBv1.0/${group}/NCMD/gw-plant-1`).allowed).toBe(true);
      expect(maySubscribe(plant, `spBv1.0/${group}/DCMD/gw-plant-1/+`).allowed).toBe(true);
    }
    expect(maySubscribe(plant, 'spBv1.0/STATE/scada-main').allowed).toBe(true);
    // Not the site (the credential names its groups), not another node, not the wrong shape or direction.
    expect(mayPublish(plant, 'spBv1.0/hq/NBIRTH/gw-plant-1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/other/NBIRTH/gw-plant-1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/NBIRTH/gw-plant-2').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/NBIRTH/gw-plant-1/ahu1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/DBIRTH/gw-plant-1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/NCMD/gw-plant-1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/DCMD/gw-plant-1/ahu1').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/STATE/scada-main').allowed).toBe(false);
    expect(mayPublish(plant, 'spBv1.0/plant/FOO/gw-plant-1').allowed).toBe(false);
    expect(maySubscribe(plant, 'spBv1.0/plant/#').allowed).toBe(false);
    expect(maySubscribe(plant, 'spBv1.0/plant/NBIRTH/+').allowed).toBe(false);
    expect(maySubscribe(plant, 'spBv1.0/plant/NCMD/gw-plant-2').allowed).toBe(false);
    // A credential without Sparkplug groups gets no Sparkplug topics at all.
    const none: Identity = { ...plant, sparkplugGroups: [] } as Identity;
    expect(mayPublish(none, 'spBv1.0/plant/NBIRTH/gw-plant-1').allowed).toBe(false);
    expect(maySubscribe(none, 'spBv1.0/STATE/scada-main').allowed).toBe(false);
  });

  it('gives integrations their scopes only, the hub everything, and nobody without identity anything', () => {
    expect(maySubscribe(ro, 'swarmgate/v1/s/g1/points/ahu1/temp').allowed).toBe(true);
    expect(maySubscribe(ro, 'swarmgate/v1/s/g1/telemetry').allowed).toBe(false);
    expect(mayPublish(ro, 'swarmgate/v1/s/g1/points/ahu1/temp/set').allowed).toBe(false);
    expect(mayPublish(hub, 'swarmgate/v1/s/g1/commands').allowed).toBe(true);
    expect(maySubscribe(hub, '#').allowed).toBe(true);
    expect(mayPublish(undefined, 'a').allowed).toBe(false);
    expect(maySubscribe(undefined, 'a').allowed).toBe(false);
  });
});

describe('shared subscriptions for the embedded broker', () => {
  it('hands each message to exactly one member, rotating, and forgets members that leave', () => {
    const shared = new SharedSubscriptions();
    const a = {};
    const b = {};
    shared.join(a, 'g', 'x/+');
    shared.join(b, 'g', 'x/+');
    const picks = [1, 2, 3, 4].map((n) => [shared.shouldForward(a, 'x/1', n), shared.shouldForward(b, 'x/1', n)]);
    expect(picks).toEqual([
      [false, true],
      [true, false],
      [false, true],
      [true, false],
    ]);
    expect(shared.shouldForward(a, 'y/1', 1)).toBe(true);
    shared.leave(a);
    expect(shared.shouldForward(b, 'x/1', 1)).toBe(true);
    shared.leave(b);
    expect(shared.size).toBe(0);
  });

  it("checks a gateway's topics on their levels exactly as its scope filters would", () => {
    const levels = ['swarmgate', 'v1', 'spBv1.0', 's', 'hq', 'plant', 'utilities', 'other', 'g1', 'gw-plant-1', 'g1x', 'NBIRTH', 'NDEATH', 'NDATA', 'NCMD', 'DBIRTH', 'DDEATH', 'DDATA', 'DCMD', 'STATE', 'host', 'telemetry', ''];
    const topics = new Set<string>(['swarmgate/v1/s/g1', 'swarmgate/v1/s/g1/', 'swarmgate/v1/s/g1x/state', 'swarmgate/v1/hq/gw-plant-1/state/x/y', 'spBv1.0/STATE', 'spBv1.0/STATE/host/x']);
    for (const a of levels) for (const b of levels) {
      topics.add(`swarmgate/v1/${a}/${b}`);
      topics.add(`swarmgate/v1/${a}/${b}/telemetry`);
      topics.add(`spBv1.0/${a}/${b}`);
      for (const c of ['g1', 'gw-plant-1', 'other']) {
        topics.add(`spBv1.0/${a}/${b}/${c}`);
        topics.add(`spBv1.0/${a}/${b}/${c}/dev1`);
        topics.add(`spBv1.0/${a}/${b}/${c}/dev1/x`);
      }
    }
    for (const identity of [gw, plant]) {
      for (const topic of topics) {
        expect([topic, mayPublish(identity, topic).allowed]).toEqual([topic, writeScopes(identity).some((f) => topicMatches(f, topic))]);
        expect([topic, mayRead(identity, topic)]).toEqual([topic, readScopes(identity).some((f) => topicMatches(f, topic))]);
      }
    }
  });
});
