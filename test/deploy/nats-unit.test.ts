/**
 * The NATS node's unit stops the server with SIGUSR2 (lame duck mode: clients are closed over
 * lame_duck_duration so they move to the other nodes) and systemd kills it with SIGKILL after
 * TimeoutStopSec=: the lame duck time of the shipped node config (nats-server's default, 2m, when
 * it says none) must end well before that, or every stop kills the node halfway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** nats-server's lame_duck_duration when the config has none. */
const NATS_DEFAULT_LAME_DUCK_S = 120;

/** Seconds of a Go duration ("30s", "2m", "1m30s") or a systemd time span ("60", "90s", "2min"). */
function seconds(text: string): number {
  const t = text.trim().replace(/^"|"$/g, '');
  if (/^\d+$/.test(t)) return Number(t);
  const units: Record<string, number> = { h: 3600, m: 60, min: 60, s: 1, ms: 0.001 };
  let total = 0;
  const rest = t.replace(/(\d+(?:\.\d+)?)\s*(ms|min|h|m|s)/g, (_, n: string, u: string) => {
    total += Number(n) * (units[u] ?? NaN);
    return '';
  });
  if (rest.trim() !== '' || Number.isNaN(total)) throw new Error(`not a duration: ${text}`);
  return total;
}

describe('the NATS node unit and its config', () => {
  const unit = readFileSync(join(ROOT, 'deploy/systemd/nats-server-swarmgate.service'), 'utf8');
  const conf = readFileSync(join(ROOT, 'deploy/examples/cluster/nats-node.conf'), 'utf8');
  const setting = (key: string): string | undefined => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];

  it('reads durations as the server and systemd do', () => {
    expect([seconds('30s'), seconds('"2m"'), seconds('1m30s'), seconds('60'), seconds('2min')]).toEqual([30, 120, 90, 60, 120]);
  });

  it('gives lame duck mode time to finish before systemd kills the node', () => {
    expect(setting('KillSignal')).toBe('SIGUSR2');
    const stopTimeout = seconds(setting('TimeoutStopSec') ?? '90'); // systemd's DefaultTimeoutStopSec
    const configured = conf.match(/^\s*lame_duck_duration\s*[:=]\s*(\S+)/m)?.[1];
    const lameDuck = configured === undefined ? NATS_DEFAULT_LAME_DUCK_S : seconds(configured);
    const grace = conf.match(/^\s*lame_duck_grace_period\s*[:=]\s*(\S+)/m)?.[1];
    if (grace !== undefined) expect(seconds(grace), 'the grace period is part of the lame duck time').toBeLessThan(lameDuck);
    // A margin for the server's own shutdown (JetStream flush) after the last client is closed.
    expect(stopTimeout, `TimeoutStopSec=${stopTimeout} s vs lame_duck_duration ${lameDuck} s`).toBeGreaterThanOrEqual(lameDuck + 15);
    // And the unit's comment names the value the config has.
    expect(unit).toContain(`lame_duck_duration: ${configured?.replace(/"/g, '')}`);
  });
});
