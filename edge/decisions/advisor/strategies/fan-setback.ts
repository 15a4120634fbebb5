/**
 * Fan energy goes with the cube of speed: when the zone is unoccupied and its temperature sits
 * comfortably inside the band, slow the supply fan to a setback speed. Confidence grows with the
 * margin from the band edges and how long the zone has been empty, and shrinks with doubtful data
 * (quality, an anomalous zone temperature). When people are back, propose restoring the speed
 * (comfort).
 */
import { clamp01, round, type StrategyProposal, type Strategy } from '../strategy.js';

export const fanSetback: Strategy = {
  kind: 'fan-setback',
  description: 'Lower the supply fan speed while the zone is unoccupied and within its comfort band; restore it when occupied',
  actionClass: 'energy',
  roles: {
    required: ['zoneTemperature', 'occupancy', 'fanSpeed'],
    optional: [],
    written: ['fanSpeed'],
    kinds: { zoneTemperature: 'number', occupancy: 'boolean', fanSpeed: 'number' },
  },
  defaults: { bandLow: 19, bandHigh: 25, setbackPct: 30, restorePct: 60, minUnoccupiedS: 1800 },
  propose(ctx) {
    const zone = ctx.number('zoneTemperature');
    const occupied = ctx.boolean('occupancy');
    const speed = ctx.number('fanSpeed');
    if (zone === undefined || occupied === undefined || speed === undefined) return [];
    const low = ctx.num('bandLow');
    const high = ctx.num('bandHigh');
    const setback = ctx.num('setbackPct');
    const held = ctx.heldS('occupancy') ?? 0;
    const minEmpty = ctx.num('minUnoccupiedS');
    const anomaly = ctx.anomaly('zoneTemperature');
    const inputs = { zoneTemperature: round(zone, 2), occupied, fanSpeed: speed, occupancyHeldS: Math.round(held), band: [low, high] };
    const out: StrategyProposal[] = [];
    if (!occupied && zone >= low && zone <= high && speed > setback + 0.5 && held >= minEmpty / 3) {
      const margin = clamp01(Math.min(zone - low, high - zone) / ((high - low) / 2));
      const duration = clamp01(held / minEmpty);
      const doubt = anomaly ? clamp01(anomaly.score) : 0;
      const confidence = clamp01(ctx.quality('zoneTemperature') * ctx.quality('occupancy') * (0.5 + 0.5 * margin) * (0.6 + 0.4 * duration) * (1 - doubt));
      out.push({
        target: 'fanSpeed',
        value: setback,
        confidence,
        rationale: `Lower the fan from ${speed} % to ${setback} %: zone unoccupied for ${Math.round(held / 60)} min and at ${zone.toFixed(1)} °C inside the ${low}-${high} °C band (fan power ~ speed³).`,
        evidence: { ...inputs, factors: { margin: round(margin), duration: round(duration), anomalyDoubt: round(doubt) }, anomaly: anomaly ?? null },
      });
    }
    const restore = ctx.num('restorePct');
    if (occupied && restore > 0 && speed < restore - 0.5) {
      const duration = clamp01(held / 600);
      out.push({
        target: 'fanSpeed',
        value: restore,
        actionClass: 'comfort',
        confidence: clamp01(ctx.quality('occupancy') * (0.6 + 0.4 * duration)),
        rationale: `Restore the fan to ${restore} %: the zone is occupied again (${Math.round(held / 60)} min).`,
        evidence: inputs,
      });
    }
    return out;
  },
};
