/**
 * The hub side of the command tests: the real CommandService on a SQLite store, publishing to the
 * test broker (in process, like the embedded broker), and the gateway's acks handed to it as the
 * hub's ingest does.
 */
import type { Aedes } from 'aedes';
import pino from 'pino';
import { CommandService } from '../../../hub/commands/service.js';
import { HubEvents } from '../../../hub/events.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { CommandAckSchema, decode, type CommandAck } from '../../../shared/wire/index.js';
import { publishTo, type Cleanup } from './helpers.js';

export interface CommandHub {
  readonly commands: CommandService;
  /** Every command payload the hub published, in order. */
  readonly published: Buffer[];
  /** Every ack the gateway sent, in order. */
  readonly acks: CommandAck[];
}

export async function startCommandHub(cleanups: Cleanup[], broker: Aedes, dir: string, site: string, gateway: string, options: { timeoutMs: number; retries: number }): Promise<CommandHub> {
  const store = SqliteStore.open({ path: `${dir}/hub.db` });
  cleanups.push(() => store.close());
  const published: Buffer[] = [];
  const acks: CommandAck[] = [];
  const commands = new CommandService({
    store,
    events: new HubEvents(),
    publish: async (topic, payload) => {
      published.push(payload);
      await publishTo(broker, topic, payload);
    },
    timeoutMs: options.timeoutMs,
    retries: options.retries,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => commands.stop());
  const ackTopic = `swarmgate/v1/${site}/${gateway}/commands/ack`;
  let handling: Promise<unknown> = Promise.resolve();
  const deliver = (packet: { topic: string; payload: Buffer | string }, cb: () => void): void => {
    const d = decode(CommandAckSchema, packet.topic, Buffer.from(packet.payload));
    if (d.ok) {
      acks.push(d.value);
      handling = handling.then(() => commands.handleAck(site, gateway, d.value));
    }
    cb();
  };
  await new Promise<void>((resolve) => broker.subscribe(ackTopic, deliver as never, () => resolve()));
  cleanups.push(async () => {
    await handling;
    await new Promise<void>((resolve) => broker.unsubscribe(ackTopic, deliver as never, () => resolve()));
  });
  return { commands, published, acks };
}

/** Resolves once the hub's record of the command has this status. */
export async function untilStatus(hub: CommandHub, id: string, status: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await hub.commands.get(id);
    if (record?.status === status) return;
    if (Date.now() > deadline) throw new Error(`command ${id} is ${record?.status ?? 'unknown'}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
