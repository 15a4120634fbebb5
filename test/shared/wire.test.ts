import { describe, expect, it } from 'vitest';
import { CommandSchema, EventSchema, TelemetryBatchSchema, decode, encode, gatewayTopic, parseTopic, pointSetTopic, type TelemetryBatch } from '../../shared/wire/index.js';

const batch: TelemetryBatch = {
  v: 1,
  gateway: 'gw-1',
  bootId: 'boot-0001',
  seq: 7,
  sentAt: 1_700_000_000_000,
  historical: false,
  readings: [{ d: 'ahu1', p: 'supply_air_temp', v: 13.5, q: 'good', ts: 1_700_000_000_000 }],
};

describe('wire contract', () => {
  it('round-trips a telemetry batch', () => {
    const topic = gatewayTopic('site-a', 'gw-1', 'telemetry');
    const result = decode(TelemetryBatchSchema, topic, encode(TelemetryBatchSchema, batch));
    expect(result).toEqual({ ok: true, value: batch });
  });

  it.each([
    { name: 'too large', payload: Buffer.alloc(300 * 1024, 32), reason: 'too-large', mentions: 'exceeds the limit' },
    { name: 'not JSON', payload: Buffer.from('{nope'), reason: 'not-json', mentions: 'not JSON' },
    { name: 'wrong field type', payload: Buffer.from(JSON.stringify({ ...batch, seq: 'x' })), reason: 'schema', mentions: '/seq' },
    { name: 'unknown field', payload: Buffer.from(JSON.stringify({ ...batch, extra: 1 })), reason: 'schema', mentions: '/extra' },
    { name: 'bad reading', payload: Buffer.from(JSON.stringify({ ...batch, readings: [{ d: 'ahu1', p: 'X', v: 1, q: 'good', ts: 1 }] })), reason: 'schema', mentions: '/readings/0/p' },
  ])('rejects $name naming the topic and field', ({ payload, reason, mentions }) => {
    const result = decode(TelemetryBatchSchema, 'swarmgate/v1/s/g/telemetry', payload);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.error).toContain('swarmgate/v1/s/g/telemetry');
      expect(result.error).toContain(mentions);
    }
  });

  it('says what a reading\'s value and quality may be, and what came instead', () => {
    const refused = (reading: Record<string, unknown>): string => {
      const r = decode(TelemetryBatchSchema, 't', JSON.stringify({ ...batch, readings: [reading] }));
      return r.ok ? '' : r.error;
    };
    const reading = { d: 'ahu1', p: 'x', v: 1, q: 'good', ts: 1 };
    expect(refused({ ...reading, q: 'great' })).toBe('t: /readings/0/q: expected one of: good, uncertain, bad; got "great"');
    expect(refused({ ...reading, v: 1e301 })).toBe(
      't: /readings/0/v: expected a number from -1e+300 to 1e+300, true or false, a string of at most 1024 characters without NUL characters or null; got 1e+301',
    );
    expect(refused({ ...reading, v: 'bad\u0000nul' })).toBe('t: /readings/0/v: text must not contain NUL characters (U+0000)');
  });

  it('refuses a NUL in any text of any message, naming the field (the hub\'s PostgreSQL store cannot keep one)', () => {
    const event = { v: 1, id: 'evt-00001', gateway: 'g', ts: 1, kind: 'anomaly', severity: 'warning', message: 'door\u0000open' };
    const r = decode(EventSchema, 'swarmgate/v1/s/g/events', JSON.stringify(event));
    expect(r).toEqual({ ok: false, reason: 'schema', error: 'swarmgate/v1/s/g/events: /message: text must not contain NUL characters (U+0000)' });
    // An escaped backslash before "u0000" is no NUL.
    expect(decode(EventSchema, 't', JSON.stringify({ ...event, message: 'path C:\\u0000' })).ok).toBe(true);
    // What a gateway or hub sends carries U+FFFD instead, so the message is not lost.
    const sent = decode(EventSchema, 't', encode(EventSchema, event as never));
    expect(sent.ok && sent.value.message).toBe('door\ufffdopen');
    const literal = decode(EventSchema, 't', encode(EventSchema, { ...event, message: 'path C:\\u0000 \\\u0000' } as never));
    expect(literal.ok && literal.value.message).toBe('path C:\\u0000 \\\ufffd');
  });

  it('rejects a command whose action is not one of the known kinds', () => {
    const bad = { v: 1, id: 'cmd-00001', ts: 1, origin: 'test', action: { kind: 'explode' } };
    expect(decode(CommandSchema, 't', JSON.stringify(bad)).ok).toBe(false);
  });

  it('builds and parses topics, refusing ids that could smuggle wildcards', () => {
    expect(parseTopic(pointSetTopic('site-a', 'gw-1', 'ahu1', 'fan_speed'))).toEqual({ site: 'site-a', gateway: 'gw-1', rest: 'points/ahu1/fan_speed/set' });
    expect(() => gatewayTopic('site/+', 'gw', 'state')).toThrow();
    expect(parseTopic('swarmgate/v1/#/gw/state')).toBeUndefined();
    expect(parseTopic('other/v1/s/g/state')).toBeUndefined();
  });
});
