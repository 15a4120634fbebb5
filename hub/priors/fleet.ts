/**
 * The fleet prior of one key, chosen from what the sharing gateways published (pure: no store).
 *
 * Why one member's prior and not an average: a prior is one coherent document — the forecaster's
 * weights, the calibration of *that* forecaster's surprises, and shapes normalised by *that*
 * point's range. Averaging the weights of networks trained apart mixes hidden units that mean
 * different things (they are only defined up to a permutation), and the averaged network's
 * surprises would no longer match any calibration in the documents. So the hub picks a member:
 *
 * 1. Compatible: the architecture (forecaster inputs × hidden units, pattern window × step) most
 *    members share — a gateway's detector can only start from a prior of its own architecture.
 *    Members without a trained forecaster are left out when any member has one.
 * 2. Typical: with three or more compatible members, one whose level or spread lies more than
 *    OUTLIER robust deviations from the members' median (a unit with a fault, a sensor in the
 *    wrong place) is left out, the farthest first, while more than half of them remain.
 * 3. The medoid: of the rest, the member closest to the members' medians over those four figures
 *    (sum of robust deviations); ties go to more readings, then the newer prior. The most typical
 *    unit is what a new unit of the same model most likely resembles, so its calibration gives the
 *    fewest surprises to a newcomer; the best-fitting unit would carry the tightest calibration and
 *    raise false alarms on a noisier newcomer.
 *
 * Every member gets its reason (chosen, kept, left out and why): the API shows them.
 */
import type { DetectorPrior } from '../../shared/wire/detector-prior.js';

/** Robust deviations (MAD-scaled) beyond which a member is left out as atypical. */
export const OUTLIER = 3.5;
/** The smallest scale of the level's deviations, in the members' typical spreads. */
const LEVEL_FLOOR_SPREADS = 0.5;

export interface FleetMember {
  /** Who published it: site/gateway/device/point and the version of the key it was stored as. */
  readonly ref: string;
  readonly prior: DetectorPrior;
}

export type MemberRole = 'chosen' | 'kept' | 'excluded';

export interface MemberVerdict {
  readonly ref: string;
  readonly role: MemberRole;
  readonly reason: string;
}

export interface FleetChoice {
  /** Index into the members of the prior served; undefined when none qualifies. */
  readonly chosen: number | undefined;
  readonly verdicts: readonly MemberVerdict[];
}

const FEATURES = ['level', 'spread', 'fit', 'surprise'] as const;
type Feature = (typeof FEATURES)[number];

/** The architecture a gateway's detector must have to start from this prior. */
export function architectureOf(p: DetectorPrior): string {
  const model = p.model ? `forecaster ${p.model.inputSize}x${p.model.hidden}` : 'no forecaster';
  return `${model}, patterns ${p.patterns.map((x) => `${x.window}x${x.step}`).join('+')}`;
}

function featuresOf(p: DetectorPrior): Record<Feature, number> {
  const [lo, hi] = p.range;
  return {
    level: p.model ? p.model.mean : (lo + hi) / 2,
    spread: p.model ? p.model.std : hi - lo,
    fit: p.model ? p.model.loss : median(p.forecast.history),
    surprise: median(p.forecast.history),
  };
}

export function chooseFleetPrior(members: readonly FleetMember[]): FleetChoice {
  const verdicts: MemberVerdict[] = members.map((m) => ({ ref: m.ref, role: 'kept', reason: '' }));
  const exclude = (i: number, reason: string): void => {
    verdicts[i] = { ref: members[i]?.ref ?? '', role: 'excluded', reason };
  };
  let candidates = members.map((_, i) => i);
  if (candidates.length === 0) return { chosen: undefined, verdicts };

  if (members.some((m) => m.prior.model)) {
    for (const i of candidates) if (!members[i]?.prior.model) exclude(i, 'no trained forecaster (another member has one)');
    candidates = candidates.filter((i) => members[i]?.prior.model);
  }
  const byArch = new Map<string, number[]>();
  for (const i of candidates) {
    const a = architectureOf((members[i] as FleetMember).prior);
    byArch.set(a, [...(byArch.get(a) ?? []), i]);
  }
  const readingsOf = (is: readonly number[]): number => is.reduce((s, i) => s + (members[i]?.prior.readings ?? 0), 0);
  const [arch, kept] = [...byArch.entries()].sort((a, b) => b[1].length - a[1].length || readingsOf(b[1]) - readingsOf(a[1]))[0] ?? ['', []];
  for (const i of candidates) if (!kept.includes(i)) exclude(i, `architecture ${architectureOf((members[i] as FleetMember).prior)} differs from the fleet's ${arch}`);
  candidates = kept;

  const feats = new Map(candidates.map((i) => [i, featuresOf((members[i] as FleetMember).prior)]));
  const deviation = (): Map<number, Record<Feature, number>> => {
    const out = new Map<number, Record<Feature, number>>();
    const centre = {} as Record<Feature, { med: number; scale: number }>;
    const typicalSpread = median(candidates.map((i) => (feats.get(i) as Record<Feature, number>).spread));
    for (const f of FEATURES) {
      const xs = candidates.map((i) => (feats.get(i) as Record<Feature, number>)[f]);
      const med = median(xs);
      const mad = median(xs.map((x) => Math.abs(x - med)));
      // A floor keeps near-identical members from making a tiny difference look huge. A level's
      // floor is half the members' typical spread, not a share of the level itself: a point that
      // lives near zero (a valve, a differential pressure, a freezer near 0 °C) would otherwise
      // make any offset an outlier.
      const floor = f === 'level' ? Math.max(LEVEL_FLOOR_SPREADS * typicalSpread, 0.02 * Math.abs(med)) : 0.02 * Math.abs(med);
      centre[f] = { med, scale: Math.max(1.4826 * mad, floor, 1e-9) };
    }
    for (const i of candidates) {
      const x = feats.get(i) as Record<Feature, number>;
      out.set(i, Object.fromEntries(FEATURES.map((f) => [f, Math.abs(x[f] - centre[f].med) / centre[f].scale])) as Record<Feature, number>);
    }
    return out;
  };

  // Left out one at a time, the farthest first, while it lies beyond OUTLIER on level or spread
  // (where a unit's readings sit and how they swing: a miscalibrated or misplaced sensor, a
  // failing unit) and more than half of the compatible members remain. Fit and typical surprise
  // vary between healthy units with their load and weather: they weigh in the medoid only.
  const compatible = candidates.length;
  while (candidates.length >= 3 && (candidates.length - 1) * 2 > compatible) {
    const dev = deviation();
    const far = (i: number): { f: Feature; d: number } => {
      const d = dev.get(i) as Record<Feature, number>;
      return d.level >= d.spread ? { f: 'level', d: d.level } : { f: 'spread', d: d.spread };
    };
    const worst = candidates.reduce((a, b) => (far(b).d > far(a).d ? b : a));
    const w = far(worst);
    if (w.d <= OUTLIER) break;
    const x = feats.get(worst) as Record<Feature, number>;
    exclude(worst, `atypical: ${w.f} ${fmt(x[w.f])} is ${w.d.toFixed(1)} robust deviations from the members' median (limit ${OUTLIER})`);
    candidates = candidates.filter((i) => i !== worst);
  }

  const dev = deviation();
  const total = (i: number): number => FEATURES.reduce((s, f) => s + (dev.get(i) as Record<Feature, number>)[f], 0);
  const ranked = [...candidates].sort((a, b) => {
    const pa = (members[a] as FleetMember).prior;
    const pb = (members[b] as FleetMember).prior;
    return total(a) - total(b) || pb.readings - pa.readings || pb.createdAt - pa.createdAt;
  });
  const chosen = ranked[0];
  for (const i of ranked) {
    const why = `deviation ${total(i).toFixed(2)} from the medians of ${candidates.length} compatible member(s) (${arch}), ${(members[i] as FleetMember).prior.readings} readings`;
    verdicts[i] = { ref: (members[i] as FleetMember).ref, role: i === chosen ? 'chosen' : 'kept', reason: i === chosen ? `most typical: ${why}` : why };
  }
  return { chosen, verdicts };
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const fmt = (x: number): string => String(Number(x.toPrecision(4)));
