/**
 * Reconnecting to the hub with exponential backoff and full jitter. MQTT.js retries on a fixed
 * period, so after a hub restart every gateway of a fleet comes back at the same moment, again and
 * again while the hub refuses the excess: a thundering herd the hub meets at each attempt. Here
 * attempt n waits a random time in [0, min(max, base * 2^n)) (AWS's "full jitter"): the first retry
 * spreads the fleet over one base period, refusals spread it further, and a successful CONNACK
 * starts over at the base.
 *
 * The client is created with reconnectPeriod 0 (MQTT.js does not retry by itself) and this
 * schedules client.reconnect() after each lost or failed connection, keeping the client's message
 * stores so QoS 1 messages in flight are sent again on the next connection as before.
 */
import type { MqttClient } from 'mqtt';

export interface BackoffOptions {
  /** The first retry waits up to this long. */
  readonly baseMs: number;
  /** No retry waits longer than this. */
  readonly maxMs: number;
  /** In [0, 1); Math.random by default (tests pass their own). */
  readonly random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.random = options.random ?? Math.random;
  }

  /** The wait before the next attempt; each call widens the window, up to maxMs. */
  next(): number {
    const ceiling = Math.min(this.options.maxMs, this.options.baseMs * 2 ** this.attempt);
    if (ceiling < this.options.maxMs) this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** A connection succeeded: the next retry starts from baseMs again. */
  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Retries the client's connection with `backoff` (the client must have reconnectPeriod 0).
 * `onRetry` is told each scheduled wait. Returns a function that stops retrying (call it before
 * ending the client for good).
 */
export function reconnectWithBackoff(client: MqttClient, backoff: Backoff, onRetry?: (delayMs: number) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const onConnect = (): void => backoff.reset();
  const onClose = (): void => {
    if (stopped || timer || client.disconnecting || client.disconnected) return;
    const delay = backoff.next();
    onRetry?.(delay);
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped || client.connected || client.disconnecting || client.disconnected) return;
      client.reconnect();
    }, delay);
    timer.unref();
  };
  client.on('connect', onConnect);
  client.on('close', onClose);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    client.off('connect', onConnect);
    client.off('close', onClose);
  };
}
