import { describe, expect, it } from 'vitest';
import { mayPublish, maySubscribe, type Identity } from '../../hub/broker/acl.js';
import { filterWithin, parseShared, topicMatches } from '../../hub/broker/topic-filter.js';
import { SharedSubscriptions } from '../../hub/broker/shared-subscriptions.js';

const gw: Identity = { role: 'gateway', username: 'u1', site: 's', gateway: 'g1' };
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
});
