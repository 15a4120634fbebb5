/**
 * Free cooling: when the zone is warm and outdoor air is clearly cooler (but not freezing the
 * coil), open the outdoor-air damper instead of running the coil; close it back to its minimum
 * when outdoor air stops helping. Confidence follows the temperature difference and the margin
 * above the freeze limit.
 */
import { clamp01, round, saturate, type StrategyProposal, type Strategy } from '../strategy.js';

export const economizer: Strategy = {
  kind: 'economizer',
  description: 'Open the outdoor-air damper for free cooling when outdoor air is cooler than a warm zone; back to minimum when it is not',
  actionClass: 'energy',
  roles: {
    required: ['zoneTemperature', 'outdoorTemperature', 'damper'],
    optional: [],
    written: ['damper'],
    kinds: { zoneTemperature: 'number', outdoorTemperature: 'number', damper: 'number' },
  },
  defaults: { warmAboveC: 23, minDeltaK: 3, minOutdoorC: 8, openPct: 80, minPct: 20 },
  propose(ctx) {
    const zone = ctx.number('zoneTemperature');
    const outdoor = ctx.number('outdoorTemperature');
    const damper = ctx.number('damper');
    if (zone === undefined || outdoor === undefined || damper === undefined) return [];
    const delta = zone - outdoor;
    const q = ctx.quality('zoneTemperature') * ctx.quality('outdoorTemperature');
    const inputs = { zoneTemperature: round(zone, 2), outdoorTemperature: round(outdoor, 2), damper, deltaK: round(delta, 2) };
    const out: StrategyProposal[] = [];
    const openPct = ctx.num('openPct');
    const minPct = ctx.num('minPct');
    if (zone > ctx.num('warmAboveC') && delta >= ctx.num('minDeltaK') && outdoor >= ctx.num('minOutdoorC') && damper < openPct - 0.5) {
      const confidence = clamp01(q * (0.4 + 0.3 * saturate(delta - ctx.num('minDeltaK'), 3) + 0.3 * saturate(outdoor - ctx.num('minOutdoorC'), 3)));
      out.push({
        target: 'damper',
        value: openPct,
        confidence,
        rationale: `Open the outdoor-air damper to ${openPct} %: zone ${zone.toFixed(1)} °C, outdoor ${outdoor.toFixed(1)} °C (${delta.toFixed(1)} K cooler) — free cooling.`,
        evidence: inputs,
      });
    } else if ((delta < 1 || outdoor < ctx.num('minOutdoorC') - 2) && damper > minPct + 0.5) {
      out.push({
        target: 'damper',
        value: minPct,
        confidence: clamp01(q * (0.5 + 0.5 * saturate(Math.max(1 - delta, ctx.num('minOutdoorC') - 2 - outdoor), 3))),
        rationale: `Return the damper to ${minPct} %: outdoor air (${outdoor.toFixed(1)} °C) no longer helps a ${zone.toFixed(1)} °C zone.`,
        evidence: inputs,
      });
    }
    return out;
  },
};
