/**
 * Hub commands: validated with the wire schema, refused when expired, decided once per id (a
 * retried or redelivered command is answered with the outcome recorded for its id, `duplicate:
 * true`, applied or rejected alike, never judged or written again), applied through the same write
 * path as every other write (writable check, limits, audit). Acks go through the outbox so they
 * survive an outage: 'delivered' when accepted, then 'applied' or 'rejected' with the
 * SwarmgateError code and message. A final ack the outbox cannot take (closed by a shutdown while
 * the write ran) is kept in the state and sent at the next start (resendUnacked).
 *
 * Expiry is judged on the later of this gateway's clock and the hub's as measured from its stored
 * receipts: a gateway whose own clock is hours behind (no RTC, NTP not there yet) would otherwise
 * take a command the hub already timed out for a fresh one. A command stamped further ahead of
 * that time than maxClockSkewMs is refused (coded SWG_ERR_COMMAND_EXPIRED, reason "gateway clock
 * not synchronised: ..."): the clocks are behind, and the command's expiry cannot be judged.
 *
 * Commands run one after another in arrival order: two writes to the same point must land in the
 * order the hub sent them.
 */
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { CommandAckSchema, CommandSchema, decode, encode, gatewayTopic, type Command, type CommandAck } from '../../shared/wire/index.js';
import type { WriteValue } from '../drivers/driver.js';
import type { FederationMetrics } from './metrics.js';
import type { Outbox } from './outbox.js';
import type { FederationState } from './state.js';

/** value null relinquishes the gateway's command (drivers with command priorities). */
export type WriteFn = (device: string, point: string, value: WriteValue, origin: string) => Promise<void>;
export type ModeFn = (mode: 'auto' | 'manual' | 'maintenance', origin: string) => Promise<void>;

/**
 * How far the hub's clock may be from this gateway's before timestamps are suspect: the health
 * section's maxClockSkewS default (edge/health/schema.ts), which federation does not import.
 */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5000;

export interface CommandHandlerOptions {
  readonly site: string;
  readonly gateway: string;
  readonly outbox: Outbox;
  readonly state: FederationState;
  readonly write: WriteFn;
  /** Applies a mode action; without it mode commands are rejected as unsupported. */
  readonly setMode?: ModeFn;
  readonly metrics: FederationMetrics;
  readonly log: Logger;
  readonly clock?: () => number;
  /** The hub's clock now, as measured from its stored receipts (Publisher.hubNow); undefined before the first. */
  readonly hubClock?: () => number | undefined;
  /** Without a measured hub clock, a command stamped further ahead of the local clock than this is refused (default DEFAULT_MAX_CLOCK_SKEW_MS). */
  readonly maxClockSkewMs?: number;
}

const ID = /^[A-Za-z0-9_-]{8,64}$/;

type Final = Pick<CommandAck, 'code' | 'reason'> & { readonly status: 'applied' | 'rejected' };

export class CommandHandler {
  readonly topic: string;
  private readonly ackTopic: string;
  private readonly clock: () => number;
  private readonly maxClockSkewMs: number;
  private readonly running = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CommandHandlerOptions) {
    this.topic = gatewayTopic(options.site, options.gateway, 'commands');
    this.ackTopic = gatewayTopic(options.site, options.gateway, 'commands/ack');
    this.clock = options.clock ?? Date.now;
    this.maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  }

  /** Handles one commands-topic payload; resolves with the final ack (undefined when none could be sent). Never rejects. */
  handle(payload: Buffer): Promise<CommandAck | undefined> {
    const run = this.queue.then(() => this.process(payload)).catch((err: unknown) => {
      this.options.log.error({ err: errorMessage(err) }, 'command handling failed');
      return undefined;
    });
    this.queue = run;
    return run;
  }

  /** Resolves when every command received so far is done. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /**
   * Queues the final acks an earlier run decided but could not queue (its outbox was closed):
   * at start, before commands arrive. Resolves with how many were queued.
   */
  async resendUnacked(): Promise<number> {
    const { state, log } = this.options;
    const sent: string[] = [];
    for (const u of state.unacked()) {
      const ack: CommandAck = { v: 1, id: u.id, ts: u.at, status: u.status, ...(u.code !== undefined ? { code: u.code } : {}), ...(u.reason !== undefined ? { reason: u.reason } : {}) };
      if (!this.send(ack)) break;
      sent.push(u.id);
      log.info({ command: u.id, status: u.status, code: u.code, decidedAt: u.at }, 'final ack of a command decided before the last shutdown queued now');
    }
    try {
      await state.clearUnacked(sent);
    } catch (err) {
      // Queued already; kept in the file, they would be sent again at the next start (the hub takes a repeat).
      log.error({ commands: sent, err: errorMessage(err) }, 'acks queued, but the record of it could not be saved');
    }
    return sent.length;
  }

  private async process(payload: Buffer): Promise<CommandAck | undefined> {
    const { state, metrics, log } = this.options;
    const decoded = decode(CommandSchema, this.topic, payload);
    if (!decoded.ok) {
      metrics.rejected.inc({ source: 'command', reason: decoded.reason });
      log.warn({ error: decoded.error }, 'invalid command refused');
      const id = idOf(payload);
      if (!id) return undefined;
      const ack = this.ackOf(id, 'rejected', { code: 'SWG_ERR_COMMAND_INVALID', reason: decoded.error.slice(0, 1000) });
      return this.send(ack) ? ack : undefined;
    }
    const command = decoded.value;
    const known = state.outcome(command.id);
    if (known) {
      // A redelivery (the hub's retry, a resumed session): the first copy's outcome stands; a
      // rejected command is not judged again (an interlock that cleared meanwhile would let it write).
      metrics.commands.inc({ status: 'duplicate' });
      log.info({ command: command.id, status: known.status, code: known.status === 'rejected' ? known.code : undefined }, `command already ${known.status}; acknowledged as duplicate`);
      const ack = this.ackOf(command.id, known.status, known.status === 'rejected' ? { code: known.code, reason: known.reason, duplicate: true } : { duplicate: true });
      return this.send(ack) ? ack : undefined;
    }
    // A broker redelivery while the first copy is still being applied: the first copy acks.
    if (this.running.has(command.id)) return undefined;
    const stale = this.refusedByClock(command);
    if (stale) {
      metrics.rejected.inc({ source: 'command', reason: stale.metric });
      return this.finish(command, { status: 'rejected', code: 'SWG_ERR_COMMAND_EXPIRED', reason: stale.reason });
    }
    this.running.add(command.id);
    try {
      this.send(this.ackOf(command.id, 'delivered'));
      await this.apply(command);
    } catch (err) {
      const code = isSwarmgateError(err) ? err.code : 'SWG_ERR_INTERNAL';
      metrics.rejected.inc({ source: 'command', reason: code });
      return await this.finish(command, { status: 'rejected', code, reason: errorMessage(err).slice(0, 1000) });
    } finally {
      this.running.delete(command.id);
    }
    return this.finish(command, { status: 'applied' });
  }

  /**
   * Why the command must not be applied for its age, if so. Judged on the later of this gateway's
   * clock and the hub's as measured from its receipts (Publisher.hubNow): a gateway clock behind is
   * corrected, and nothing is applied that this clock alone (the rule before the hub's was
   * measured) would call expired. A command stamped ahead of that time by more than
   * maxClockSkewMs proves both behind (an RTC-less board booted with an old time, NTP and the
   * hub's receipts not there yet): it may be one the hub gave up on long ago, and nothing here can
   * tell, so it is refused. Clocks that agree never get there.
   */
  private refusedByClock(command: Command): { metric: string; reason: string } | undefined {
    if (command.expiresAt === undefined) return undefined;
    const local = this.clock();
    const hubNow = this.options.hubClock?.();
    const now = hubNow !== undefined && hubNow > local ? hubNow : local;
    const which = hubNow === undefined ? "this gateway's clock (the hub's not measured yet)" : now === hubNow ? "the hub's clock as measured from its receipts" : "this gateway's clock";
    const ahead = command.ts - now;
    if (ahead > this.maxClockSkewMs) {
      this.options.log.warn({ command: command.id, commandTs: command.ts, localTs: local, hubTs: hubNow, aheadMs: ahead, maxClockSkewMs: this.maxClockSkewMs }, 'command refused: the gateway clock is not synchronised');
      return {
        metric: 'clock-unsynced',
        reason: `gateway clock not synchronised: the command was sent at ${new Date(command.ts).toISOString()}, ${Math.round(ahead / 1000)} s ahead of ${which} (${new Date(now).toISOString()}), so whether it expired (expiresAt ${new Date(command.expiresAt).toISOString()}) cannot be judged; send a new one once the gateway clock is synchronised`,
      };
    }
    if (command.expiresAt >= now) return undefined;
    return { metric: 'expired', reason: `command expired at ${new Date(command.expiresAt).toISOString()} (${which}: ${new Date(now).toISOString()}); send a new one` };
  }

  /**
   * Keeps the applied command's id so a redelivery is acknowledged, not applied twice. The device
   * was written whatever happens here: a record that cannot be saved (a full or read-only card) is
   * logged, and the command is still acknowledged as applied (this run remembers it; after a
   * restart a redelivery of it could be applied again).
   */
  private async recordApplied(command: Command): Promise<void> {
    try {
      await this.options.state.recordApplied(command.id, this.clock());
    } catch (err) {
      this.options.log.error({ command: command.id, err: errorMessage(err) }, 'command applied, but the record of it could not be saved; acknowledged as applied (after a restart a redelivery could apply it again)');
    }
  }

  /** Keeps the rejection so a redelivery is answered with it, not judged again (this run remembers it whatever the disk does). */
  private async recordRejected(command: Command, code: string, reason: string): Promise<void> {
    try {
      await this.options.state.recordRejected(command.id, this.clock(), code, reason);
    } catch (err) {
      this.options.log.error({ command: command.id, code, err: errorMessage(err) }, 'command rejected, but the record of it could not be saved; acknowledged as rejected (after a restart a redelivery would be judged again)');
    }
  }

  private async apply(command: Command): Promise<void> {
    const origin = `hub:${command.origin}`;
    const action = command.action;
    if (action.kind === 'write') {
      await this.options.write(action.device, action.point, action.value, origin);
      return;
    }
    if (!this.options.setMode) {
      throw new SwarmgateError('SWG_ERR_COMMAND_UNSUPPORTED', `this gateway does not apply "${action.kind}" actions`);
    }
    await this.options.setMode(action.mode, origin);
  }

  /**
   * Records the final outcome, then acks it. Recorded before the ack: a crash in between answers a
   * redelivery from the record rather than never acking. An ack the outbox cannot take (closed by a
   * shutdown during a long write) is kept as unacked and sent at the next start.
   */
  private async finish(command: Command, final: Final): Promise<CommandAck | undefined> {
    const { metrics, log, state } = this.options;
    if (final.status === 'applied') await this.recordApplied(command);
    else await this.recordRejected(command, final.code ?? 'SWG_ERR_INTERNAL', final.reason ?? '');
    metrics.commands.inc({ status: final.status });
    log.info({ command: command.id, status: final.status, origin: command.origin, action: command.action, code: final.code }, 'command done');
    const ack = this.ackOf(command.id, final.status, { ...(final.code !== undefined ? { code: final.code } : {}), ...(final.reason !== undefined ? { reason: final.reason } : {}) });
    if (this.send(ack)) return ack;
    try {
      await state.recordUnacked({ id: ack.id, at: ack.ts, status: final.status, ...(ack.code !== undefined ? { code: ack.code } : {}), ...(ack.reason !== undefined ? { reason: ack.reason } : {}) });
      log.warn({ command: command.id, status: final.status }, 'final ack kept in the federation state; it is sent at the next start');
    } catch (err) {
      log.error({ command: command.id, status: final.status, err: errorMessage(err) }, 'final ack could not be queued nor kept; the hub will not hear this outcome');
    }
    return undefined;
  }

  private ackOf(id: string, status: CommandAck['status'], extra: Partial<CommandAck> = {}): CommandAck {
    return { v: 1, id, ts: this.clock(), status, ...extra };
  }

  /** Queues the ack; false when the outbox cannot take it (closed). */
  private send(ack: CommandAck): boolean {
    try {
      this.options.outbox.enqueue(this.ackTopic, 'ack', encode(CommandAckSchema, ack));
      return true;
    } catch (err) {
      this.options.log.warn({ command: ack.id, status: ack.status, err: errorMessage(err) }, 'command ack could not be queued');
      return false;
    }
  }
}

/** The id of an invalid command, when it has a usable one, so the hub still hears why. */
function idOf(payload: Buffer): string | undefined {
  try {
    const value = JSON.parse(payload.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string' && ID.test(value.id)) return value.id;
  } catch {
    // not JSON: nothing to acknowledge
  }
  return undefined;
}
