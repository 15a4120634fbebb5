/**
 * The choice of a key's fleet prior (hub/priors/fleet.ts) among priors exported by real detectors:
 * the most typical compatible member is served; a unit far from its peers, a member of another
 * architecture and a member without a trained forecaster are left out, each with its reason.
 */
import { beforeAll, expect, it } from 'vitest';
import { exportPrior, PointDetector, type DetectorOptionsInput } from '../../../edge/analytics/index.js';
import { chooseFleetPrior, type FleetMember } from '../../../hub/priors/fleet.js';
import type { DetectorPrior } from '../../../shared/wire/detector-prior.js';
import { dailySeries, STEP_MS, T0 } from '../../analytics/synthetic.js';

const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

async function learned(seed: number, options: DetectorOptionsInput = FAST, shift = 0): Promise<DetectorPrior> {
  const det = new PointDetector(options);
  const values = dailySeries(700, seed);
  for (let i = 0; i < values.length; i++) await det.score(T0 + i * STEP_MS, (values[i] ?? 0) + shift);
  await det.idle();
  return exportPrior(det, T0);
}

let peers: DetectorPrior[];
let faulty: DetectorPrior;
let otherArch: DetectorPrior;

beforeAll(async () => {
  peers = [await learned(1), await learned(2), await learned(3)];
  // The same equipment reading 40 K high (a sensor in the wrong place, a failing unit).
  faulty = await learned(4, FAST, 40);
  otherArch = await learned(5, { ...FAST, forecaster: { ...FAST.forecaster, hidden: 8 } });
}, 120_000);

it('serves the most typical compatible member and says why each other one is kept or left out', () => {
  const noModel: DetectorPrior = { ...(peers[0] as DetectorPrior) };
  delete (noModel as { model?: unknown }).model;
  const members: FleetMember[] = [
    ...peers.map((prior, i) => ({ ref: `s/gw-${i}/ahu1/sat@${i + 1}`, prior })),
    { ref: 's/gw-faulty/ahu1/sat@4', prior: faulty },
    { ref: 's/gw-old/ahu1/sat@5', prior: otherArch },
    { ref: 's/gw-new/ahu1/sat@6', prior: noModel },
  ];
  const choice = chooseFleetPrior(members);
  const byRef = new Map(choice.verdicts.map((v) => [v.ref, v]));
  expect(choice.chosen).toBeDefined();
  expect(choice.chosen).toBeLessThan(3);
  expect(byRef.get('s/gw-faulty/ahu1/sat@4')).toMatchObject({ role: 'excluded', reason: expect.stringMatching(/^atypical: level .* robust deviations/) as string });
  expect(byRef.get('s/gw-old/ahu1/sat@5')).toMatchObject({ role: 'excluded', reason: expect.stringMatching(/architecture forecaster \d+x8.* differs from the fleet's forecaster \d+x16/) as string });
  expect(byRef.get('s/gw-new/ahu1/sat@6')).toMatchObject({ role: 'excluded', reason: 'no trained forecaster (another member has one)' });
  const roles = peers.map((_, i) => byRef.get(`s/gw-${i}/ahu1/sat@${i + 1}`)?.role).sort();
  expect(roles).toEqual(['chosen', 'kept', 'kept']);
  expect(byRef.get(members[choice.chosen ?? 0]?.ref ?? '')?.reason).toMatch(/^most typical: deviation .* from the medians of 3 compatible member\(s\)/);
});

it('with two members keeps both (no majority to judge by) and with none chooses nothing', () => {
  const two = chooseFleetPrior([
    { ref: 'a', prior: peers[0] as DetectorPrior },
    { ref: 'b', prior: faulty },
  ]);
  expect(two.verdicts.map((v) => v.role).sort()).toEqual(['chosen', 'kept']);
  expect(chooseFleetPrior([]).chosen).toBeUndefined();
});
