/**
 * A freezer that keeps warming past its thermostat band is losing its main compressor (or its
 * door is open): raise an alarm and switch the backup compressor on. Evidence, combined as a
 * noisy-OR: how far above the band, how fast it rises, the anomaly score, and a main compressor
 * that is not running (or in fault) while the room is warm. An open door explains warming, so it
 * lowers confidence.
 *
 * Handing back (energy, lower stakes): once the room has been held at least `offBelowK` below
 * setpoint for `offHoldS`, is not warming and the door is shut, switch the backup off and let the
 * main compressor's thermostat take the room again. The main compressor being off is NOT a reason
 * to wait: while the backup holds the room below the thermostat's band, the thermostat never calls,
 * so waiting for it to run would keep the backup on for ever. If the main compressor is in fact
 * failed, the room warms after the release and the backup comes on again (here, or through the
 * controller's compressor-fault alarm); a bound `compressorFault` that is true keeps it on.
 * Compressor protection: the backup is not switched off within `minOnS` of being switched on,
 * nor on within `minOffS` of being switched off (only counted from a switch the advisor saw); a
 * warm room during that rest raises its alarm at once and holds the switch (holdS) until the rest
 * is over, unless the room is more than `scaleK` past its band.
 */
import { clamp01, noisyOr, round, saturate, type StrategyProposal, type Strategy, type StrategyContext } from '../strategy.js';

export const freezerProtection: Strategy = {
  kind: 'freezer-protection',
  description: 'Backup compressor on (and a freezer alarm) when the cold room warms past its band; off again, back to the main thermostat, once held below setpoint',
  actionClass: 'safety',
  roles: {
    required: ['temperature', 'backupRelay'],
    optional: ['setpoint', 'compressorRunning', 'compressorFault', 'doorOpen'],
    written: ['backupRelay'],
    kinds: { temperature: 'number', backupRelay: 'boolean', setpoint: 'number', compressorRunning: 'boolean', compressorFault: 'boolean', doorOpen: 'boolean' },
  },
  defaults: {
    setpoint: -18,
    warnAboveK: 2,
    scaleK: 2,
    riseKPerH: 1.5,
    windowS: 900,
    anomalyLevel: 0.5,
    offBelowK: 0.5,
    offHoldS: 600,
    offMaxRiseKPerH: 0.5,
    minOnS: 300,
    minOffS: 300,
  },
  propose(ctx) {
    const t = ctx.number('temperature');
    if (t === undefined) return [];
    const sp = ctx.number('setpoint') ?? ctx.num('setpoint');
    const relay = ctx.boolean('backupRelay');
    const rise = ctx.trendPerHour('temperature', ctx.num('windowS'));
    const anomaly = ctx.anomaly('temperature');
    const compressor = ctx.boolean('compressorRunning');
    const fault = ctx.boolean('compressorFault');
    const door = ctx.boolean('doorOpen');
    const switchedS = ctx.changedS('backupRelay');
    const excess = t - (sp + ctx.num('warnAboveK'));
    const inputs = {
      temperature: round(t, 2),
      setpoint: sp,
      excessK: round(excess, 2),
      risePerHour: rise === undefined ? null : round(rise, 2),
      compressorRunning: compressor ?? null,
      compressorFault: fault ?? null,
      doorOpen: door ?? null,
      backupRelay: relay ?? null,
      backupSwitchedS: switchedS === undefined ? null : Math.round(switchedS),
    };
    const out: StrategyProposal[] = [];
    // Anti-short-cycle: a compressor restarted right after stopping (or stopped right after starting)
    // wears and trips. The backup waits out its minimum off time (the alarm goes out at once, the
    // write is held), except for a room already more than scaleK past its band: then the product
    // matters more than the compressor.
    const restS = ctx.num(relay === true ? 'minOnS' : 'minOffS');
    const rested = switchedS === undefined || switchedS >= restS;
    if (excess > 0 && relay !== true) {
      const holdS = rested || excess > ctx.num('scaleK') ? 0 : restS - (switchedS ?? restS);
      const fMargin = saturate(excess, ctx.num('scaleK'));
      const fRise = rise === undefined ? 0 : clamp01(rise / ctx.num('riseKPerH'));
      const fAnomaly = anomaly ? clamp01(anomaly.score / ctx.num('anomalyLevel')) : 0;
      const fCompressor = compressor === false || fault === true ? 1 : 0;
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
      if (anomaly && anomaly.learning !== true) why.push(`anomaly score ${anomaly.score.toFixed(2)}`);
      if (fault === true) why.push('main compressor in fault');
      else if (compressor === false) why.push('main compressor not running');
      if (door === true) why.push('door open (may explain the warming)');
      const waits = holdS > 0 ? `; the backup compressor waits ${Math.ceil(holdS)} s more of its ${restS} s minimum off time` : '';
      out.push({
        target: 'backupRelay',
        value: true,
        confidence,
        rationale: `Switch the backup compressor on: ${why.join(', ')}.`,
        evidence: { ...inputs, factors: { margin: round(fMargin), rise: round(fRise), anomaly: round(fAnomaly), compressorOff: fCompressor, doorPenalty: door === true }, anomaly: anomaly ?? null },
        alarm: { severity: excess > ctx.num('scaleK') || fCompressor === 1 ? 'critical' : 'warning', message: `Freezer alarm: ${why.join(', ')}${waits}` },
        ...(holdS > 0 ? { holdS } : {}),
      });
    } else if (relay === true && rested) {
      const off = release(ctx, t, sp, rise, compressor, fault, door);
      if (off) out.push({ ...off, evidence: { ...inputs, ...off.evidence } });
    }
    return out;
  },
};

/** The hand-back to the main compressor's thermostat, or undefined while the backup must stay on. */
function release(
  ctx: StrategyContext,
  t: number,
  sp: number,
  rise: number | undefined,
  compressor: boolean | undefined,
  fault: boolean | undefined,
  door: boolean | undefined,
): StrategyProposal | undefined {
  const level = sp - ctx.num('offBelowK');
  const heldS = ctx.heldBelowS('temperature', level) ?? 0;
  const holdS = ctx.num('offHoldS');
  if (t > level || heldS < holdS || fault === true || door === true) return undefined;
  // A bound fault point that cannot be read (bad, missing) is not proof the main compressor is fine.
  if (ctx.bound('compressorFault') && fault === undefined) return undefined;
  if (rise !== undefined && rise > ctx.num('offMaxRiseKPerH')) return undefined;
  const fBelow = saturate(level - t, 1);
  const fHeld = clamp01(heldS / (2 * Math.max(1, holdS)));
  const fSteady = rise === undefined ? 0.5 : rise <= 0 ? 1 : 0.5;
  // A running main compressor already carries the room; one that is off is expected (its thermostat is satisfied).
  const confidence = clamp01((0.55 + 0.25 * fBelow + 0.1 * fHeld + 0.1 * fSteady) * ctx.quality('temperature') * (compressor === true ? 1 : 0.95));
  const minutes = Math.round(heldS / 60);
  return {
    target: 'backupRelay',
    value: false,
    actionClass: 'energy',
    confidence,
    rationale:
      `Switch the backup compressor off: cold room at ${t.toFixed(1)} °C, held at or below ${level.toFixed(1)} °C for ${minutes} min` +
      `${rise === undefined ? '' : ` (${rise > 0 ? 'rising' : 'falling'} ${Math.abs(rise).toFixed(1)} K/h)`}; ` +
      (compressor === true ? 'the main compressor is running.' : "the main compressor's thermostat takes over when the room warms into its band."),
    evidence: { heldBelowS: Math.round(heldS), offLevel: round(level, 2), factors: { below: round(fBelow), held: round(fHeld), steady: fSteady } },
  };
}
