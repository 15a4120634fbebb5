/**
 * Command tracking: create (persist, publish QoS 1 to the gateway's commands topic), follow acks
 * pending → delivered → applied | rejected, time out when no ack comes within timeoutMs, and
 * re-publish the SAME id on retry (the gateway applies an id once and acks a repeat as duplicate).
 * Every command carries an expiry (`expiresAt`; by default the time the hub waits for it, all
 * attempts included): a gateway that was away refuses it when it comes back, so a command the hub
 * reported as timed out does not reach the equipment later (the broker keeps a QoS 1 command for
 * a gateway's persistent session however long it is away).
 * State lives in the store, so an ack handled by another hub process of the share group, or after
 * a restart, still lands; timers here only drive timeouts and automatic retries.
 */
import { randomUUID } from 'node:crypto';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import { encode, schemaProblem } from '../../shared/wire/codec.js';
import { CommandSchema, type Action, type Command, type CommandAck } from '../../shared/wire/messages.js';
import { gatewayTopic } from '../../shared/wire/topics.js';
import type { HubEvents } from '../events.js';
import type { AckOutcome } from '../ingest/ingest.js';
import type { CommandQuery, CommandRecord, CommandStatus, CommandStore, GatewayStore } from '../store/types.js';

export type Publish = (topic: string, payload: Buffer) => Promise<void>;

export interface CommandServiceOptions {
  /** Commands, and the gateway's record for the site of a command created without one. */
  readonly store: CommandStore & Pick<GatewayStore, 'getGateway'>;
  readonly events: HubEvents;
  /** Publishes with QoS 1; resolves on the broker's PUBACK. */
  readonly publish: Publish;
  readonly timeoutMs: number;
  /** Automatic re-publishes while still pending (no ack at all) before timing out. */
  readonly retries: number;
  /**
   * How often open commands are looked up in the store and timed here too (after resume()): with
   * several hub processes, one that dies leaves its commands to the others. Default: timeoutMs,
   * at least 1 s.
   */
  readonly adoptEveryMs?: number;
  readonly logger?: Logger;
}

export interface CreateCommand {
  readonly gateway: string;
  readonly action: Action;
  /** Who asked: user, agent or integration. */
  readonly origin: string;
  /** Default: the site the gateway registered with. */
  readonly site?: string;
  /** The gateway refuses it after this (ms since epoch). Default: now + timeoutMs x (1 + retries), when the hub gives up on it. */
  readonly expiresAt?: number;
  /** Default: a new uuid. */
  readonly id?: string;
}

const OPEN: readonly CommandStatus[] = ['pending', 'delivered'];
const FINAL: readonly CommandStatus[] = ['applied', 'rejected'];

export class CommandService {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly log: Logger;
  private adopter: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: CommandServiceOptions) {
    this.log = options.logger ?? createLogger('hub-commands');
  }

  async create(input: CreateCommand): Promise<CommandRecord> {
    const { store } = this.options;
    const site = input.site ?? (await store.getGateway(input.gateway))?.site;
    if (!site) throw new SwarmgateError('SWG_ERR_GATEWAY_UNKNOWN', `gateway "${input.gateway}" is not known to this hub`, { details: { gateway: input.gateway } });
    const now = Date.now();
    const expiresAt = input.expiresAt ?? now + this.options.timeoutMs * (1 + this.options.retries);
    const command: Command = { v: 1, id: input.id ?? randomUUID(), ts: now, origin: input.origin, action: input.action, expiresAt };
    const problem = schemaProblem(CommandSchema, command);
    if (problem !== undefined) throw new SwarmgateError('SWG_ERR_COMMAND_INVALID', `command for ${input.gateway}: ${problem}`, { details: { action: JSON.stringify(input.action) } });
    const record: CommandRecord = { id: command.id, gateway: input.gateway, site, command, status: 'pending', attempts: 1, createdAt: now, updatedAt: now, deadline: now + this.options.timeoutMs };
    await store.insertCommand(record);
    await this.options.events.emit('command', { record });
    this.arm(record);
    await this.send(record);
    return record;
  }

  /** Re-publishes the same command id. Applied and rejected commands are final, and so is one past its expiry. */
  async retry(id: string): Promise<CommandRecord> {
    const current = await this.options.store.getCommand(id);
    if (!current) throw new SwarmgateError('SWG_ERR_COMMAND_UNKNOWN', `no command "${id}"`);
    if (FINAL.includes(current.status)) throw new SwarmgateError('SWG_ERR_COMMAND_STATE', `command "${id}" is ${current.status}`);
    const now = Date.now();
    const { expiresAt } = current.command;
    if (expiresAt !== undefined && expiresAt <= now) {
      throw new SwarmgateError('SWG_ERR_COMMAND_STATE', `command "${id}" expired at ${new Date(expiresAt).toISOString()}: the gateway would refuse it; send a new command`, { details: { id, expiresAt } });
    }
    const updated = await this.options.store.updateCommand(id, { status: 'pending', attempts: current.attempts + 1, deadline: now + this.options.timeoutMs, updatedAt: now }, ['pending', 'delivered', 'timed-out'], current.attempts);
    if (!updated) throw new SwarmgateError('SWG_ERR_COMMAND_STATE', `command "${id}" changed while retrying; read it again`);
    await this.options.events.emit('command', { record: updated });
    this.arm(updated);
    await this.send(updated);
    return updated;
  }

  async handleAck(_site: string, gateway: string, ack: CommandAck): Promise<AckOutcome> {
    const { store, events } = this.options;
    const current = await store.getCommand(ack.id);
    if (!current) return { accepted: false, reason: 'unknown-command', error: `ack for unknown command "${ack.id}" from ${gateway}` };
    if (current.gateway !== gateway) return { accepted: false, reason: 'mismatch', error: `ack for command "${ack.id}" of ${current.gateway} came from ${gateway}` };
    const now = Date.now();
    let updated: CommandRecord | undefined;
    if (ack.status === 'delivered') {
      // Delivered: the gateway has it; it gets a fresh window to apply, without re-publishing.
      updated = await store.updateCommand(ack.id, { status: 'delivered', deadline: now + this.options.timeoutMs, updatedAt: now }, ['pending']);
      if (updated) this.arm(updated);
    } else {
      // A late applied/rejected after a timeout still records what really happened.
      updated = await store.updateCommand(
        ack.id,
        { status: ack.status, deadline: null, ackedAt: now, updatedAt: now, code: ack.code, reason: ack.reason, duplicate: ack.duplicate },
        ['pending', 'delivered', 'timed-out'],
      );
      if (updated) this.disarm(ack.id);
    }
    if (updated) {
      this.log.info({ id: ack.id, gateway, status: updated.status, code: ack.code }, 'command acknowledged');
      await events.emit('command', { record: updated });
    }
    return { accepted: true };
  }

  get(id: string): Promise<CommandRecord | undefined> {
    return this.options.store.getCommand(id);
  }

  list(query?: CommandQuery): Promise<CommandRecord[]> {
    return this.options.store.listCommands(query);
  }

  /** Resolves when the command is applied, rejected or timed out (or rejects after waitMs). */
  async settled(id: string, waitMs = this.options.timeoutMs * (this.options.retries + 2)): Promise<CommandRecord> {
    const isSettled = (r: CommandRecord | undefined): r is CommandRecord => r !== undefined && !OPEN.includes(r.status);
    const now = await this.get(id);
    if (isSettled(now)) return now;
    return new Promise((resolve, reject) => {
      let off = (): void => undefined;
      const finish = (r: CommandRecord): void => {
        clearTimeout(timer);
        clearInterval(poll);
        off();
        resolve(r);
      };
      const timer = setTimeout(() => {
        clearInterval(poll);
        off();
        reject(new SwarmgateError('SWG_ERR_COMMAND_STATE', `command "${id}" did not settle within ${waitMs} ms`));
      }, waitMs);
      // Another hub process may settle it: poll the store as well as listening.
      const poll = setInterval(() => {
        this.get(id).then((r) => (isSettled(r) ? finish(r) : undefined), () => undefined);
      }, 250);
      timer.unref();
      poll.unref();
      off = this.options.events.on('command', ({ record }) => {
        if (record.id === id && isSettled(record)) finish(record);
      });
    });
  }

  /**
   * Arms timers for the open commands in the store (after a restart), then keeps adopting those
   * other hub processes created (adoptEveryMs): every process times every open command, and the
   * store's conditional updates let one of them retry or time it out.
   */
  async resume(): Promise<number> {
    const adopted = await this.adopt();
    if (!this.adopter && !this.stopped) {
      this.adopter = setInterval(() => {
        this.adopt().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'looking up open commands failed'));
      }, this.options.adoptEveryMs ?? Math.max(1000, this.options.timeoutMs));
      this.adopter.unref();
    }
    return adopted;
  }

  /** Arms a timer for each open command not timed here yet; how many it found open. */
  private async adopt(): Promise<number> {
    const open = await this.options.store.listCommands({ status: OPEN, limit: 10_000 });
    for (const r of open) if (!this.timers.has(r.id)) this.arm(r);
    return open.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.adopter) clearInterval(this.adopter);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async send(record: CommandRecord): Promise<void> {
    const topic = gatewayTopic(record.site, record.gateway, 'commands');
    let timer: NodeJS.Timeout | undefined;
    try {
      // A disconnected client holds QoS 1 publishes until it reconnects; do not hold the caller.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no PUBACK within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      });
      await Promise.race([this.options.publish(topic, encode(CommandSchema, record.command)), late]);
    } catch (err) {
      // Not fatal: the timeout (and retries) decide what happens to the command.
      this.log.warn({ id: record.id, topic, err: errorMessage(err) }, 'command publish failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private arm(record: CommandRecord): void {
    if (this.stopped || record.deadline === null) return;
    this.disarm(record.id);
    const delay = Math.max(0, record.deadline - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(record.id);
      this.onDeadline(record.id).catch((err: unknown) => this.log.error({ id: record.id, err: errorMessage(err) }, 'command timeout handling failed'));
    }, delay);
    timer.unref();
    this.timers.set(record.id, timer);
  }

  private disarm(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  private async onDeadline(id: string): Promise<void> {
    if (this.stopped) return;
    const { store, events, timeoutMs, retries } = this.options;
    const current = await store.getCommand(id);
    if (!current || !OPEN.includes(current.status)) return;
    if (current.deadline !== null && current.deadline > Date.now()) return this.arm(current);
    const now = Date.now();
    if (current.status === 'pending' && current.attempts <= retries) {
      // At this attempt count only: of several processes timing it, one re-publishes.
      const updated = await store.updateCommand(id, { attempts: current.attempts + 1, deadline: now + timeoutMs, updatedAt: now }, ['pending'], current.attempts);
      if (!updated) return;
      this.log.info({ id, gateway: current.gateway, attempt: updated.attempts }, 'no ack: re-publishing the same command');
      await events.emit('command', { record: updated });
      this.arm(updated);
      await this.send(updated);
      return;
    }
    const { expiresAt } = current.command;
    // Only a command given a longer expiry than the hub waits can still be applied after this.
    const still = current.status === 'pending' && expiresAt !== undefined && expiresAt > now ? `; the gateway may still apply it until ${new Date(expiresAt).toISOString()} (its expiresAt)` : '';
    const reason = current.status === 'delivered' ? `delivered but not applied within ${timeoutMs} ms` : `no ack within ${timeoutMs} ms after ${current.attempts} attempt(s)${still}`;
    const updated = await store.updateCommand(id, { status: 'timed-out', deadline: null, reason, updatedAt: now }, [current.status]);
    if (!updated) return;
    this.log.warn({ id, gateway: current.gateway, reason }, 'command timed out');
    await events.emit('command', { record: updated });
  }
}
