/**
 * A freezer that keeps warming past its thermostat band is losing its main compressor (or its
 * door is open): raise an alarm and switch the backup compressor on. Evidence, combined as a
 * noisy-OR: how far above the band, how fast it rises, the anomaly score, and a main compressor
 * that is not running while the room is warm. An open door explains warming, so it lowers
 * confidence. When the room is cold again with the main compressor running, propose switching
 * the backup off (energy, lower stakes).
 */
import { clamp01, noisyOr, round, saturate, type StrategyProposal, type Strategy } from '../strategy.js';

export const freezerProtection: Strategy = {
  kind: 'freezer-protection',
  description: 'Backup compressor on (and a freezer alarm) when the cold room warms past its band; off again when it is cold',
  actionClass: 'safety',
  roles: { required: ['temperature', 'backupRelay'], optional: ['setpoint', 'compressorRunning', 'doorOpen'], written: ['backupRelay'] },
  defaults: { setpoint: -18, warnAboveK: 2, scaleK: 2, riseKPerH: 1.5, windowS: 900, anomalyLevel: 0.5, offBelowK: 0.5 },
  propose(ctx) {
    const t = ctx.number('temperature');
    if (t === undefined) return [];
    const sp = ctx.number('setpoint') ?? ctx.num('setpoint');
    const relay = ctx.boolean('backupRelay');
    const rise = ctx.trendPerHour('temperature', ctx.num('windowS'));
    const anomaly = ctx.anomaly('temperature');
    const compressor = ctx.boolean('compressorRunning');
    const door = ctx.boolean('doorOpen');
    const excess = t - (sp + ctx.num('warnAboveK'));
    const inputs = { temperature: round(t, 2), setpoint: sp, excessK: round(excess, 2), risePerHour: rise === undefined ? null : round(rise, 2), compressorRunning: compressor ?? null, doorOpen: door ?? null, backupRelay: relay ?? null };
    const out: StrategyProposal[] = [];
    if (excess > 0 && relay !== true) {
      const fMargin = saturate(excess, ctx.num('scaleK'));
      const fRise = rise === undefined ? 0 : clamp01(rise / ctx.num('riseKPerH'));
      const fAnomaly = anomaly ? clamp01(anomaly.score / ctx.num('anomalyLevel')) : 0;
      const fCompressor = compressor === false ? 1 : 0;
      let evidence = noisyOr([
        [fMargin, 0.6],
        [fRise, 0.5],
        [fAnomaly, 0.5],
        [fCompressor, 0.6],
      ]);
      if (door === true) evidence *= 0.6;
      const confidence = clamp01(evidence * ctx.quality('temperature'));
      const why = [`cold room at ${t.toFixed(1)} °C, ${excess.toFixed(1)} K above its band (setpoint ${sp} °C)`];
      if (rise !== undefined) why.push(`${rise >= 0 ? 'rising' : 'falling'} ${Math.abs(rise).toFixed(1)} K/h`);
      if (anomaly) why.push(`anomaly score ${anomaly.score.toFixed(2)}`);
      if (compressor === false) why.push('main compressor not running');
      if (door === true) why.push('door open (may explain the warming)');
      out.push({
        target: 'backupRelay',
        value: true,
        confidence,
        rationale: `Switch the backup compressor on: ${why.join(', ')}.`,
        evidence: { ...inputs, factors: { margin: round(fMargin), rise: round(fRise), anomaly: round(fAnomaly), compressorOff: fCompressor, doorPenalty: door === true }, anomaly: anomaly ?? null },
        alarm: { severity: excess > ctx.num('scaleK') || compressor === false ? 'critical' : 'warning', message: `Freezer alarm: ${why.join(', ')}` },
      });
    } else if (relay === true && t < sp - ctx.num('offBelowK') && compressor !== false) {
      const below = sp - ctx.num('offBelowK') - t;
      const cooling = rise === undefined ? 0.5 : rise <= 0 ? 1 : 0.3;
      const confidence = clamp01((0.45 + 0.35 * saturate(below, 1) + 0.2 * cooling) * ctx.quality('temperature') * (compressor === true ? 1 : 0.7));
      out.push({
        target: 'backupRelay',
        value: false,
        actionClass: 'energy',
        confidence,
        rationale: `Switch the backup compressor off: cold room back at ${t.toFixed(1)} °C, ${below.toFixed(1)} K below the off level${compressor === true ? ', main compressor running' : ''}.`,
        evidence: inputs,
      });
    }
    return out;
  },
};
