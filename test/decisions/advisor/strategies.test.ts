/**
 * Strategy confidence as a function of the evidence (pure: a hand-made context, no facility):
 * stronger evidence → higher confidence, explaining or doubtful evidence → lower.
 */
import { describe, expect, it } from 'vitest';
import { heldBelowS, slopePerHour } from '../../../edge/decisions/advisor/advisor.js';
import { STRATEGIES } from '../../../edge/decisions/advisor/strategies/index.js';
import type { AnomalyEvidence, StrategyProposal, Strategy, StrategyContext } from '../../../edge/decisions/advisor/strategy.js';

interface Fake {
  values: Record<string, number | boolean | undefined>;
  quality?: Record<string, number>;
  trend?: number;
  heldS?: number;
  /** Seconds since the backup relay (any role) was seen switching; undefined: never seen. */
  changedS?: number;
  /** Seconds the role's value has been at or below the level asked about, while it is. */
  heldBelowS?: number;
  anomaly?: AnomalyEvidence;
  params?: Record<string, number>;
  /** Roles bound to a point that has no usable reading (bad or missing). */
  unreadable?: readonly string[];
}

function propose(kind: string, f: Fake): StrategyProposal[] {
  const strategy = STRATEGIES.get(kind) as Strategy;
  const params = { ...strategy.defaults, ...f.params };
  const ctx: StrategyContext = {
    now: 0,
    bound: (r) => f.values[r] !== undefined || (f.unreadable?.includes(r) ?? false),
    get: (r) => (f.values[r] === undefined ? undefined : { value: f.values[r] as number | boolean, quality: (f.quality?.[r] ?? 1) === 1 ? 'good' : 'uncertain', ts: 0, ageS: 0 }),
    number: (r) => (typeof f.values[r] === 'number' ? (f.values[r] as number) : undefined),
    boolean: (r) => (typeof f.values[r] === 'boolean' ? (f.values[r] as boolean) : undefined),
    quality: (r) => (f.values[r] === undefined ? 0 : (f.quality?.[r] ?? 1)),
    heldS: () => f.heldS,
    changedS: () => f.changedS,
    heldBelowS: (r, level) => {
      const v = f.values[r];
      return typeof v !== 'number' ? undefined : v <= level ? (f.heldBelowS ?? 0) : 0;
    },
    trendPerHour: () => f.trend,
    anomaly: () => f.anomaly,
    param: (n) => params[n] ?? 0,
    num: (n) => Number(params[n]),
  };
  return strategy.propose(ctx);
}

describe('freezer-protection', () => {
  const warm = { temperature: -14.5, backupRelay: false, setpoint: -18, compressorRunning: false, doorOpen: false };

  it('warm, rising, main compressor stopped: confident backup on with a critical alarm', () => {
    const [p] = propose('freezer-protection', { values: warm, trend: 3 });
    expect(p).toMatchObject({ target: 'backupRelay', value: true, alarm: { severity: 'critical' } });
    expect(p?.confidence).toBeGreaterThanOrEqual(0.8);
  });

  it('each piece of evidence adds confidence; an open door or doubtful data takes it away', () => {
    const c = (f: Fake): number => propose('freezer-protection', f)[0]?.confidence ?? 0;
    const base = c({ values: { ...warm, compressorRunning: true }, trend: 0 });
    expect(c({ values: { ...warm, compressorRunning: true }, trend: 3 })).toBeGreaterThan(base);
    expect(c({ values: warm, trend: 0 })).toBeGreaterThan(base);
    expect(c({ values: { ...warm, compressorRunning: true }, trend: 0, anomaly: { score: 0.9 } })).toBeGreaterThan(base);
    expect(c({ values: { ...warm, compressorRunning: true, temperature: -12 }, trend: 0 })).toBeGreaterThan(base);
    expect(c({ values: { ...warm, doorOpen: true }, trend: 3 })).toBeLessThan(c({ values: warm, trend: 3 }));
    expect(c({ values: { ...warm, doorOpen: true }, trend: 3 })).toBeLessThan(0.8);
    expect(c({ values: warm, trend: 3, quality: { temperature: 0.6 } })).toBeLessThan(0.8);
  });

  it('nothing inside the band; backup off (energy) once cold with the main compressor running', () => {
    expect(propose('freezer-protection', { values: { ...warm, temperature: -17 }, trend: 2 })).toEqual([]);
    const [off] = propose('freezer-protection', { values: { ...warm, temperature: -19.5, backupRelay: true, compressorRunning: true }, trend: -1, heldBelowS: 1200 });
    expect(off).toMatchObject({ value: false, actionClass: 'energy' });
    expect(off?.confidence).toBeGreaterThan(0.8);
  });

  // The backup alone holds the room near -21.6 °C, below the main thermostat's cut-in (-17 °C): the
  // main compressor never runs while the backup is on, so waiting for it would never release the backup.
  const heldCold = { ...warm, temperature: -21, backupRelay: true, compressorRunning: false };

  it('backup off once held below setpoint with the main compressor idle (its thermostat is satisfied)', () => {
    const [off] = propose('freezer-protection', { values: heldCold, trend: -0.2, heldBelowS: 900 });
    expect(off).toMatchObject({ target: 'backupRelay', value: false, actionClass: 'energy', evidence: { heldBelowS: 900, compressorRunning: false } });
    expect(off?.confidence).toBeGreaterThanOrEqual(0.8);
    expect(off?.rationale).toMatch(/held at or below -18\.5 °C for 15 min.*thermostat takes over/);
  });

  it('the backup stays on while the room is not proven cold and steady, the main compressor is in fault, or it just started', () => {
    const none = (f: Fake): void => expect(propose('freezer-protection', f)).toEqual([]);
    none({ values: heldCold, trend: -0.2, heldBelowS: 300 }); // not held long enough
    none({ values: { ...heldCold, temperature: -18.3 }, trend: -0.2, heldBelowS: 3600 }); // not below setpoint by the margin
    none({ values: heldCold, trend: 1, heldBelowS: 900 }); // warming despite the backup
    none({ values: { ...heldCold, doorOpen: true }, trend: -0.2, heldBelowS: 900 });
    none({ values: { ...heldCold, compressorFault: true }, trend: -0.2, heldBelowS: 900 });
    none({ values: heldCold, trend: -0.2, heldBelowS: 900, changedS: 120 }); // minimum run time
    none({ values: heldCold, trend: -0.2, heldBelowS: 900, unreadable: ['compressorFault'] }); // fault point bound but unreadable
    expect(propose('freezer-protection', { values: heldCold, trend: -0.2, heldBelowS: 900, changedS: 400 })[0]).toMatchObject({ value: false });
  });

  it('no restart within the minimum off time of a switch-off it saw (the alarm goes out at once); a compressor fault is evidence', () => {
    const [resting] = propose('freezer-protection', { values: warm, trend: 3, changedS: 60 });
    expect(resting).toMatchObject({ value: true, holdS: 240, alarm: { message: expect.stringContaining('waits 240 s more of its 300 s minimum off time') as string } });
    // ... unless the room is already far past its band: then the alarm and the backup go at once.
    const [hot] = propose('freezer-protection', { values: { ...warm, temperature: -10 }, trend: 3, changedS: 60 });
    expect(hot).toMatchObject({ value: true, alarm: { severity: 'critical' } });
    expect(hot?.holdS).toBeUndefined();
    expect(propose('freezer-protection', { values: warm, trend: 3, changedS: 400 })[0]).toMatchObject({ value: true });
    expect(propose('freezer-protection', { values: warm, trend: 3 })[0]).toMatchObject({ value: true });
    const c = (f: Fake): number => propose('freezer-protection', f)[0]?.confidence ?? 0;
    const running = { ...warm, compressorRunning: undefined };
    expect(c({ values: { ...running, compressorFault: true }, trend: 0 })).toBeGreaterThan(c({ values: running, trend: 0 }));
  });
});

describe('fan-setback', () => {
  const empty = { zoneTemperature: 22, occupancy: false, fanSpeed: 60 };
  it('confidence grows with the margin inside the band and the time unoccupied, shrinks with an anomalous zone', () => {
    const c = (f: Fake): number => propose('fan-setback', f)[0]?.confidence ?? 0;
    const centred = c({ values: empty, heldS: 3600 });
    expect(centred).toBeGreaterThanOrEqual(0.9);
    expect(c({ values: { ...empty, zoneTemperature: 19.3 }, heldS: 3600 })).toBeLessThan(0.8);
    expect(c({ values: empty, heldS: 700 })).toBeLessThan(centred);
    expect(c({ values: empty, heldS: 3600, anomaly: { score: 0.6 } })).toBeLessThan(0.5);
    expect(propose('fan-setback', { values: empty, heldS: 300 })).toEqual([]);
    expect(propose('fan-setback', { values: { ...empty, zoneTemperature: 26 }, heldS: 3600 })).toEqual([]);
  });
  it('proposes restoring the speed (comfort) once occupied', () => {
    expect(propose('fan-setback', { values: { ...empty, occupancy: true, fanSpeed: 30 }, heldS: 900 })[0]).toMatchObject({ value: 60, actionClass: 'comfort' });
  });
});

describe('economizer', () => {
  it('opens the damper for free cooling, closes it to minimum when outdoor air stops helping', () => {
    expect(propose('economizer', { values: { zoneTemperature: 25, outdoorTemperature: 15, damper: 20 } })[0]).toMatchObject({ value: 80 });
    expect(propose('economizer', { values: { zoneTemperature: 22, outdoorTemperature: 24, damper: 80 } })[0]).toMatchObject({ value: 20 });
    expect(propose('economizer', { values: { zoneTemperature: 25, outdoorTemperature: 2, damper: 20 } })).toEqual([]);
  });
});

describe('slopePerHour', () => {
  it('fits the trend over the window, needs half a window of data', () => {
    const ts = Array.from({ length: 61 }, (_, i) => i * 10_000);
    const h = { ts, v: ts.map((t) => -18 + (3 * t) / 3_600_000) };
    expect(slopePerHour(h, 600_000, 300)).toBeCloseTo(3, 6);
    expect(slopePerHour(h, 600_000, 3600)).toBeUndefined();
    expect(slopePerHour(undefined, 0, 60)).toBeUndefined();
  });
});

describe('heldBelowS', () => {
  it('counts from the first reading after the last one above the level; 0 while above it', () => {
    const h = { ts: [0, 60_000, 120_000, 180_000, 240_000], v: [-17, -18.2, -18.6, -19, -19.4] };
    expect(heldBelowS(h, { ts: 240_000, value: -19.4 }, -18.5, 300_000)).toBe(180);
    expect(heldBelowS(h, { ts: 240_000, value: -19.4 }, -16, 300_000)).toBe(300);
    expect(heldBelowS(h, { ts: 300_000, value: -18 }, -18.5, 300_000)).toBe(0);
    expect(heldBelowS(undefined, { ts: 100_000, value: -20 }, -18.5, 160_000)).toBe(60);
  });
});
