/**
 * Issue 10, item 7: after an anomaly ends the score falls back, and every score says whether the
 * detector is still learning. Runs the detector in process with the gateway's (and
 * `swarmgate score`'s) default options, as scoreCsv does.
 */
import { describe, expect, it } from 'vitest';
import { PointDetector, type DetectorPhase } from '../../edge/analytics/index.js';
import { gaussian, rng } from './synthetic.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const LEARN = 600;
const STEP = 10;
/** Normal readings after the step within which the score must be back below RECOVERED. */
const RECOVERY_SAMPLES = 20;
const RECOVERED = 0.1;

/** A cold room: 4 °C, a slow 2-hour cycle of ±0.3 K, sensor noise 0.05 K, one reading a minute. */
function coldRoom(n: number, seed: number, steps: readonly number[]): number[] {
  const g = gaussian(rng(seed));
  return Array.from({ length: n }, (_, i) => 4 + 0.3 * Math.sin((2 * Math.PI * i) / 120) + 0.05 * g() + (steps.some((s) => i >= s && i < s + STEP) ? 8 : 0));
}

async function replay(values: readonly number[]): Promise<{ scores: number[]; phases: DetectorPhase[]; incident: boolean[] }> {
  const det = new PointDetector({});
  const scores: number[] = [];
  const phases: DetectorPhase[] = [];
  const incident: boolean[] = [];
  for (let i = 0; i < values.length; i++) {
    scores.push(await det.score(T0 + i * MINUTE, values[i] ?? 0));
    phases.push(det.detail.phase);
    incident.push(det.inIncident);
  }
  await det.idle();
  return { scores, phases, incident };
}

describe('PointDetector after an anomaly', () => {
  it(`a 10-sample +8 K step: the score rises, is back below ${RECOVERED} within ${RECOVERY_SAMPLES} normal samples, and the rows say learning, then scoring`, async () => {
    const end = LEARN + STEP;
    const { scores, phases } = await replay(coldRoom(end + 200, 7, [LEARN]));
    expect(Math.max(...scores.slice(LEARN, end))).toBeGreaterThanOrEqual(0.5);
    const after = scores.slice(end + RECOVERY_SAMPLES);
    expect(Math.max(...after), `scores ${RECOVERY_SAMPLES}+ samples after the step: ${after.slice(0, 10).map((s) => s.toFixed(3)).join(' ')} …`).toBeLessThan(RECOVERED);
    expect(phases[0]).toBe('learning');
    expect(phases.slice(0, 150).every((p) => p === 'learning')).toBe(true);
    expect(phases.slice(LEARN - 100).every((p) => p === 'scoring')).toBe(true);
    const firstScoring = phases.indexOf('scoring');
    expect(phases.slice(firstScoring).every((p) => p === 'scoring')).toBe(true);
  });

  // The gateway's monitor keeps a point's event open while the detector's incident is (a fault
  // reported early is one event when its value leaves the learned range later).
  it('its incident stays open after the score has fallen back, until it has been quiet for recoveredFor readings', async () => {
    const end = LEARN + STEP;
    const { scores, incident } = await replay(coldRoom(end + 300, 7, [LEARN]));
    expect(incident.slice(0, LEARN).some(Boolean)).toBe(false);
    const alert = scores.findIndex((s, i) => i >= LEARN && s >= 0.5);
    expect(incident[alert]).toBe(true);
    expect(scores[end + RECOVERY_SAMPLES]).toBeLessThan(RECOVERED);
    expect(incident[end + RECOVERY_SAMPLES]).toBe(true);
    const closed = incident.indexOf(false, alert);
    expect(closed).toBeGreaterThan(end + 100);
    expect(closed).toBeLessThanOrEqual(alert + 201);
  });

  // The refractory period (one alert per incident) ends once the first incident has been quiet
  // for 150 readings, no longer only 200 readings after its alert.
  // After the detector's first day: within it, pattern novelty (which reports the second step;
  // the first one's errors fill the forecast's calibration) does not judge yet (noveltyLearnMs),
  // as the gateway's monitor raises no event in a point's first learningHours (24) anyway.
  it('a second step 180 samples after the first is reported as strongly as the first', async () => {
    const first = 30 * 60;
    const second = first + STEP + 180;
    const { scores } = await replay(coldRoom(second + 100, 11, [first, second]));
    expect(Math.max(...scores.slice(first, first + STEP))).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...scores.slice(second, second + STEP))).toBeGreaterThanOrEqual(0.5);
  });
});
