/**
 * Local rules on a Gateway against the simulated facility (frozen physics, moved by hand so each
 * step is exact): hysteresis, held-for durations, priorities, rate limits. Safe state and
 * interlocks: safety-facility.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RulesConfig } from '../../../edge/decisions/rules/schema.js';
import { ruleSuite, sleep, waitFor } from './support.js';

describe('local rules against the simulated facility', () => {
  const suite = ruleSuite();
  const { start, actions, model, setTemperature, reset } = suite;

  /**
   * A warm cold room whose rule has switched the backup relay on, and another client of the GPIO
   * chip that can switch it behind the gateway; `run` gets that client, which is closed after.
   */
  const withRelayOn = async (outputs: RulesConfig['outputs'], reassert: { settleMs: number; max: number }, run: (line: RawChipClient) => Promise<void>): Promise<void> => {
    await reset();
    const line = await rawChipClient(suite.sim.facility.endpoints.gpio.port);
    try {
      start({ list: [{ name: 'warm', when: { kind: 'above', point: 'coldroom/temperature', on: -15 }, then: [{ write: 'io/backup_compressor_relay', value: true }] }], ...(outputs ? { outputs } : {}) }, { reassert });
      await setTemperature(-12);
      await waitFor('relay on', () => model().coldRoom.backupCompressor);
      await run(line);
    } finally {
      line.close();
    }
  };

  it('threshold with hysteresis: on above `on`, off only below `off`, through the GPIO relay', async () => {
    await reset();
    const e = start({
      list: [
        {
          name: 'backup-on-warm',
          when: { kind: 'above', point: 'coldroom/temperature', on: -15, off: -17 },
          then: [{ write: 'io/backup_compressor_relay', value: true }],
          else: [{ write: 'io/backup_compressor_relay', value: false }],
        },
      ],
    });
    const relay = () => model().coldRoom.backupCompressor;
    const state = () => e.status().rules[0]?.state;
    await waitFor('rule evaluated false', () => state() === false);
    for (const [t, expected] of [
      [-16, false],
      [-14.5, true],
      [-16, true],
      [-16.9, true],
      [-17.5, false],
      [-16, false],
    ] as const) {
      await setTemperature(t);
      await waitFor(`rule ${expected} at ${t} °C`, () => state() === expected);
      await e.settled();
      await waitFor(`relay ${expected} at ${t} °C`, () => relay() === expected);
    }
    const applied = actions().filter((a) => a.data?.outcome === 'applied');
    expect(applied.map((a) => a.data?.value)).toEqual([false, true, false]);
    expect(applied[1]).toMatchObject({ device: 'io', point: 'backup_compressor_relay', data: { origin: 'rule:backup-on-warm', rule: 'backup-on-warm' } });
  });

  it('a held-for wait counts real time: a wall-clock step (NTP after a boot with an old time) neither ends nor stretches it', async () => {
    await reset();
    let step = 0;
    const rule = { name: 'warm-for-2s', when: { kind: 'above' as const, point: 'coldroom/temperature', on: -10, forS: 2 }, then: [{ event: 'cold room warm for 2 s', severity: 'critical' as const }] };
    const events = () => suite.reporter.events.filter((e) => e.message === 'cold room warm for 2 s');
    start({ list: [rule] }, { now: () => Date.now() + step, elapsed: () => performance.now() });
    await setTemperature(-5);
    const warmAt = performance.now();
    step = 3_600_000; // the clock jumps an hour ahead
    await sleep(1000);
    expect(events()).toEqual([]);
    step = -3_600_000; // and back
    // Not before the 2 s held (the forward step did not end it), and long before the hour the
    // backward step would have added (a loaded box may be seconds late, never an hour).
    await waitFor('event after 2 s', () => events().length > 0, 30_000);
    expect(performance.now() - warmAt).toBeGreaterThanOrEqual(1900);
    expect(performance.now() - warmAt).toBeLessThan(30_000);
  });

  it('hysteresis remembers through a lost reading, and a restart in the band leaves the output as it is', async () => {
    await reset();
    const rule = {
      name: 'backup-on-warm',
      when: { kind: 'above' as const, point: 'coldroom/temperature', on: -12, off: -16 },
      then: [{ write: 'io/backup_compressor_relay', value: true }],
      else: [{ write: 'io/backup_compressor_relay', value: false }],
    };
    const relay = () => model().coldRoom.backupCompressor;
    let e = start({ list: [rule] });
    await setTemperature(-11);
    await waitFor('relay on', () => relay());
    await setTemperature(-14); // cooling through the band: stays on
    // The cold room's controller drops out for a moment (its readings bad), then comes back at -14.
    const fault = suite.sim.facility.faults.inject({ kind: 'offline', device: 'freezer' });
    try {
      await waitFor('temperature bad', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'bad', 10_000);
      await waitFor('rule unknown', () => e.status().rules[0]?.state === undefined);
    } finally {
      suite.sim.facility.faults.clear(fault);
    }
    await waitFor('temperature good again', () => suite.sim.gateway.latest('coldroom', 'temperature')?.quality === 'good', 20_000);
    await waitFor('rule true again', () => e.status().rules[0]?.state === true);
    await e.settled();
    expect(relay()).toBe(true);
    // Off in the cold room it started in, on when it warmed, and nothing in the blip.
    expect(actions().filter((a) => a.data?.outcome === 'applied').map((a) => a.data?.value)).toEqual([false, true]);
    // A restart with the room half-way down the band: unknown until it leaves the band; the relay stays on.
    await suite.stopEngine();
    e = start({ list: [rule] });
    await sleep(500);
    await e.settled();
    expect(e.status().rules[0]?.state).toBeUndefined();
    expect(relay()).toBe(true);
    await setTemperature(-17);
    await waitFor('relay off below the band', () => !relay());
    expect(actions().filter((a) => a.data?.outcome === 'applied').map((a) => a.data?.value)).toEqual([false]);
  });

  it('held for a duration: a short excursion does nothing, a held one fires once', async () => {
    await reset();
    start({ list: [{ name: 'warm-for-1s', when: { kind: 'above', point: 'coldroom/temperature', on: -10, forS: 1 }, then: [{ event: 'cold room warm for 1 s', severity: 'critical' }] }] });
    await setTemperature(-5);
    await sleep(300);
    await setTemperature(-18);
    await sleep(800);
    expect(suite.reporter.events.filter((x) => x.kind === 'rule')).toHaveLength(0);
    const from = Date.now();
    await setTemperature(-5);
    await waitFor('rule event', () => suite.reporter.events.some((x) => x.kind === 'rule'), 5000);
    expect(Date.now() - from).toBeGreaterThanOrEqual(900);
    await sleep(300);
    expect(suite.reporter.events.filter((x) => x.kind === 'rule')).toEqual([
      expect.objectContaining({ severity: 'critical', message: 'cold room warm for 1 s', data: { rule: 'warm-for-1s', state: true } }),
    ]);
  });

  it('started in a warm room, a held-for rule leaves its output alone until it has held: its else does not switch the backup off', async () => {
    await reset();
    await setTemperature(-12);
    // The backup compressor is on (the gateway before its restart switched it on).
    await suite.sim.gateway.write('io', 'backup_compressor_relay', true, 'test');
    await waitFor('backup on', () => model().coldRoom.backupCompressor);
    const e = start({
      list: [
        {
          name: 'cold-room-warm',
          when: { kind: 'above', point: 'coldroom/temperature', on: -15, off: -17, forS: 1 },
          then: [{ write: 'io/backup_compressor_relay', value: true }],
          else: [{ write: 'io/backup_compressor_relay', value: false }],
        },
      ],
    });
    await sleep(600);
    expect(e.status().rules[0]?.state).toBeUndefined();
    expect(model().coldRoom.backupCompressor).toBe(true);
    await waitFor('held: rule true', () => e.status().rules[0]?.state === true, 5000);
    expect(actions().filter((a) => a.data?.outcome === 'applied' && a.data?.value === false)).toEqual([]);
    // Once known, a room that only just warmed again stays false while it waits out forS.
    await setTemperature(-18);
    await waitFor('rule false', () => e.status().rules[0]?.state === false);
    await setTemperature(-12);
    await sleep(300);
    expect(e.status().rules[0]?.state).toBe(false);
  });

  it('priorities: the higher priority wins an output, the first listed wins a tie', async () => {
    await reset();
    start({
      list: [
        { name: 'base', when: { kind: 'range', point: 'coldroom/temperature', min: -100 }, then: [{ write: 'ahu1/fan_speed_setpoint', value: 60 }] },
        { name: 'same-priority-later', when: { kind: 'range', point: 'coldroom/temperature', min: -100 }, then: [{ write: 'ahu1/fan_speed_setpoint', value: 50 }] },
        { name: 'warm-boost', priority: 10, when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'ahu1/fan_speed_setpoint', value: 80 }] },
      ],
    });
    const speed = () => model().ahu.fanSpeedPct;
    await waitFor('base speed 60', () => Math.abs(speed() - 60) < 0.01);
    await setTemperature(-5);
    await waitFor('boost 80', () => Math.abs(speed() - 80) < 0.01);
    await setTemperature(-18);
    await waitFor('back to 60', () => Math.abs(speed() - 60) < 0.01);
    // The simulator shows a write before the gateway hears back and records it: wait for the record.
    await waitFor('three applied actions recorded', () => actions().filter((a) => a.data?.outcome === 'applied').length >= 3);
    expect(actions().filter((a) => a.data?.outcome === 'applied').map((a) => [a.data?.rule, a.data?.value])).toEqual([
      ['base', 60],
      ['warm-boost', 80],
      ['base', 60],
    ]);
  });

  it('rate limit: at most max writes per period on an output, the rest deferred and reported', async () => {
    await reset();
    start({
      list: [{ name: 'damper', when: { kind: 'above', point: 'coldroom/temperature', on: -10 }, then: [{ write: 'ahu1/damper_position', value: 50 }], else: [{ write: 'ahu1/damper_position', value: 20 }] }],
      outputs: [{ point: 'ahu1/damper_position', rateLimit: { max: 2, periodS: 60 } }],
    });
    const damper = () => model().ahu.damperPct;
    await waitFor('damper 20', () => Math.abs(damper() - 20) < 0.01);
    await setTemperature(-5);
    await waitFor('damper 50', () => Math.abs(damper() - 50) < 0.01);
    await setTemperature(-18);
    await sleep(300);
    await setTemperature(-5);
    await setTemperature(-18);
    await sleep(300);
    expect(Math.abs(damper() - 50)).toBeLessThan(0.01);
    const outcomes = actions().map((a) => a.data?.outcome);
    expect(outcomes.filter((o) => o === 'applied')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'rate-limited')).toHaveLength(1);
    expect(suite.engine?.status().outputs[0]).toMatchObject({ point: 'ahu1/damper_position', commanded: 50, desired: 20 });
  });

  it('rate limit: a restarted engine remembers the writes of the period (a restart loop cannot cycle an output)', async () => {
    await reset();
    const historyFile = join(suite.sim.dir, 'gw', 'rule-writes.json');
    const config = {
      list: [{ name: 'damper', when: { kind: 'above' as const, point: 'coldroom/temperature', on: -10 }, then: [{ write: 'ahu1/damper_position', value: 50 }], else: [{ write: 'ahu1/damper_position', value: 20 }] }],
      outputs: [{ point: 'ahu1/damper_position', rateLimit: { max: 2, periodS: 60 } }],
    };
    const damper = () => model().ahu.damperPct;
    start(config, { historyFile });
    await waitFor('damper 20', () => Math.abs(damper() - 20) < 0.01);
    await setTemperature(-5);
    await waitFor('damper 50', () => Math.abs(damper() - 50) < 0.01);
    await suite.stopEngine();
    expect(JSON.parse(readFileSync(historyFile, 'utf8')).outputs['ahu1/damper_position']).toHaveLength(2);
    // Restarted in a cold room: its else wants 20, but both writes of the period are spent.
    await setTemperature(-18);
    start(config, { historyFile });
    await waitFor('rate-limited after the restart', () => actions().some((a) => a.data?.outcome === 'rate-limited'));
    expect(Math.abs(damper() - 50)).toBeLessThan(0.01);
    expect(actions().filter((a) => a.data?.outcome === 'applied')).toEqual([]);
    await suite.stopEngine();
    // A malformed history is logged and ignored: the limit counts from the start again.
    writeFileSync(historyFile, '{"v":1,"outputs":{"ahu1/damper_position":"soon"}}');
    start(config, { historyFile });
    await waitFor('damper 20 with the history ignored', () => Math.abs(damper() - 20) < 0.01);
  });

  it('an output switched behind the gateway (an I/O module back at its power-up state) is written again; an operator\'s write through the gateway is not fought', async () => {
    await withRelayOn(undefined, { settleMs: 300, max: 2 }, async (line) => {
      await line.write(22, 0); // not through the gateway
      await waitFor('relay switched off behind the gateway', () => !model().coldRoom.backupCompressor);
      await waitFor('written again', () => actions().some((a) => a.data?.outcome === 'reasserted'), 8000);
      await waitFor('relay on again', () => model().coldRoom.backupCompressor);
      expect(actions().find((a) => a.data?.outcome === 'reasserted')).toMatchObject({ severity: 'warning', point: 'backup_compressor_relay', data: { reads: false, attempt: 1, value: true } });
      // It holds; a later, separate upset is a first attempt again (GPIO reports changes only:
      // nothing newer than the echo of the write says so, the time does).
      await sleep(800);
      await line.write(22, 0);
      await waitFor('written again after the second upset', () => actions().filter((a) => a.data?.outcome === 'reasserted').length === 2, 8000);
      expect(actions().filter((a) => a.data?.outcome === 'reasserted').map((a) => a.data?.attempt)).toEqual([1, 1]);
      await waitFor('relay on again', () => model().coldRoom.backupCompressor);
      // An operator switches it off through the gateway: an override, left as it is.
      await suite.sim.gateway.write('io', 'backup_compressor_relay', false, 'hub:operator');
      await sleep(2500);
      expect(model().coldRoom.backupCompressor).toBe(false);
      expect(actions().filter((a) => a.data?.outcome === 'reasserted')).toHaveLength(2);
    });
  });

  it('an output with reassert: false is left as it reads (a point whose read-back differs by design)', async () => {
    await withRelayOn([{ point: 'io/backup_compressor_relay', reassert: false }], { settleMs: 200, max: 2 }, async (line) => {
      await line.write(22, 0);
      await sleep(2500);
      expect(model().coldRoom.backupCompressor).toBe(false);
      expect(actions().filter((a) => a.data?.outcome === 'reasserted')).toEqual([]);
    });
  });

  it('an output that will not hold its value is written again at most max times, then reported and left alone', async () => {
    // A settle time longer than the GPIO read-back period (1 s): the relay's echo of each write
    // must not count as holding before the read-back has seen it switched off again.
    await withRelayOn(undefined, { settleMs: 1300, max: 1 }, async (line) => {
      // From now on something switches the relay off whenever it comes on (a stuck contactor, a local hand switch).
      line.holdOff(22);
      await waitFor('given up', () => actions().some((a) => a.data?.outcome === 'not-held'), 15_000).catch((err: unknown) => {
        throw new Error(`${String(err)}; actions: ${JSON.stringify(actions().map((a) => [a.message, a.data?.outcome]))}; latest ${JSON.stringify(suite.sim.gateway.latest('io', 'backup_compressor_relay'))}`);
      });
      const outcomes = actions().map((a) => a.data?.outcome);
      expect(outcomes.filter((o) => o === 'reasserted')).toHaveLength(1);
      expect(actions().find((a) => a.data?.outcome === 'not-held')?.message).toMatch(/^io\/backup_compressor_relay does not hold true: it reads false after 1 writes again/);
      await sleep(2000);
      expect(actions().filter((a) => a.data?.outcome === 'reasserted')).toHaveLength(1);
    });
  });
});

/** Another client of the simulated GPIO chip: writes lines behind the gateway's back. */
interface RawChipClient {
  write(line: number, value: 0 | 1): Promise<void>;
  /** Switches the line off again whenever it comes on. */
  holdOff(line: number): void;
  close(): void;
}

async function rawChipClient(port: number): Promise<RawChipClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.setEncoding('utf8');
  let id = 0;
  let buffer = '';
  const held = new Set<number>();
  const waiting = new Map<number, () => void>();
  const send = (body: object): Promise<void> => {
    id += 1;
    const mine = id;
    return new Promise((resolve) => {
      waiting.set(mine, resolve);
      socket.write(`${JSON.stringify({ id: mine, ...body })}\n`);
    });
  };
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { id?: number; event?: string; line?: number; value?: number };
      buffer = buffer.slice(nl + 1);
      if (msg.id !== undefined) waiting.get(msg.id)?.();
      if (msg.event === 'edge' && msg.value === 1 && msg.line !== undefined && held.has(msg.line)) void send({ op: 'write', line: msg.line, value: 0 });
    }
  });
  return {
    write: (line, value) => send({ op: 'write', line, value }),
    holdOff(line) {
      held.add(line);
      void send({ op: 'watch', line }).then(() => send({ op: 'write', line, value: 0 }));
    },
    close: () => socket.destroy(),
  };
}
