/**
 * Hub commands: validated with the wire schema, refused when expired, applied once per id (a
 * retried command is acknowledged as a duplicate, not written again), applied through the same
 * write path as every other write (writable check, limits, audit). Acks go through the outbox so
 * they survive an outage: 'delivered' when accepted, then 'applied' or 'rejected' with the
 * SwarmgateError code and message.
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
}

const ID = /^[A-Za-z0-9_-]{8,64}$/;

export class CommandHandler {
  readonly topic: string;
  private readonly ackTopic: string;
  private readonly clock: () => number;
  private readonly running = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CommandHandlerOptions) {
    this.topic = gatewayTopic(options.site, options.gateway, 'commands');
    this.ackTopic = gatewayTopic(options.site, options.gateway, 'commands/ack');
    this.clock = options.clock ?? Date.now;
  }

  /** Handles one commands-topic payload; resolves with the final ack (undefined when none could be sent). */
  handle(payload: Buffer): Promise<CommandAck | undefined> {
    const run = this.queue.then(() => this.process(payload));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every command received so far is done. */
  async idle(): Promise<void> {
    await this.queue;
  }

  private async process(payload: Buffer): Promise<CommandAck | undefined> {
    const { state, metrics, log } = this.options;
    const decoded = decode(CommandSchema, this.topic, payload);
    if (!decoded.ok) {
      metrics.rejected.inc({ source: 'command', reason: decoded.reason });
      log.warn({ error: decoded.error }, 'invalid command refused');
      const id = idOf(payload);
      return id ? this.ack(id, 'rejected', { code: 'SWG_ERR_COMMAND_INVALID', reason: decoded.error.slice(0, 1000) }) : undefined;
    }
    const command = decoded.value;
    if (state.hasApplied(command.id)) {
      metrics.commands.inc({ status: 'duplicate' });
      log.info({ command: command.id }, 'command already applied; acknowledged as duplicate');
      return this.ack(command.id, 'applied', { duplicate: true });
    }
    // A broker redelivery while the first copy is still being applied: the first copy acks.
    if (this.running.has(command.id)) return undefined;
    if (command.expiresAt !== undefined && command.expiresAt < this.clock()) {
      metrics.rejected.inc({ source: 'command', reason: 'expired' });
      return this.finish(command, 'rejected', { code: 'SWG_ERR_COMMAND_EXPIRED', reason: `command expired at ${new Date(command.expiresAt).toISOString()}; send a new one` });
    }
    this.running.add(command.id);
    try {
      this.ack(command.id, 'delivered');
      await this.apply(command);
      // Recorded before the ack: a crash in between re-applies on retry rather than never acking.
      await this.recordApplied(command);
      return this.finish(command, 'applied');
    } catch (err) {
      const code = isSwarmgateError(err) ? err.code : 'SWG_ERR_INTERNAL';
      metrics.rejected.inc({ source: 'command', reason: code });
      return this.finish(command, 'rejected', { code, reason: errorMessage(err).slice(0, 1000) });
    } finally {
      this.running.delete(command.id);
    }
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

  private finish(command: Command, status: 'applied' | 'rejected', extra: Partial<CommandAck> = {}): CommandAck {
    this.options.metrics.commands.inc({ status });
    this.options.log.info({ command: command.id, status, origin: command.origin, action: command.action, code: extra.code }, 'command done');
    return this.ack(command.id, status, extra);
  }

  private ack(id: string, status: CommandAck['status'], extra: Partial<CommandAck> = {}): CommandAck {
    const ack: CommandAck = { v: 1, id, ts: this.clock(), status, ...extra };
    this.options.outbox.enqueue(this.ackTopic, 'ack', encode(CommandAckSchema, ack));
    return ack;
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
