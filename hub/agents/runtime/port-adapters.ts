/**
 * The agents' command and telemetry ports on the real hub: commands go through the hub's
 * CommandService (the idempotency key becomes the command id, so a repeat finds the same command
 * instead of sending another), telemetry comes from the store.
 */
import { createHash } from 'node:crypto';
import type { Action } from '../../../shared/wire/messages.js';
import type { CommandOptions, CommandPort, CommandResult, TelemetryPort, TelemetrySample } from '../ports.js';
import type { CommandService } from '../../commands/service.js';
import type { HubStore } from '../../store/types.js';

export type CommandApi = Pick<CommandService, 'create' | 'get' | 'settled'>;

const WIRE_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** The command id for an idempotency key: the key itself when the wire accepts it. */
export function commandIdForKey(key: string): string {
  return WIRE_ID.test(key) ? key : `ag-${createHash('sha1').update(key).digest('hex').slice(0, 32)}`;
}

export class HubCommandPort implements CommandPort {
  constructor(private readonly commands: CommandApi) {}

  async send(gateway: string, action: Action, options: CommandOptions): Promise<CommandResult> {
    const id = commandIdForKey(options.idempotencyKey);
    if (!(await this.commands.get(id))) {
      try {
        await this.commands.create({ gateway, action, origin: options.origin.slice(0, 128), id, ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }) });
      } catch (err) {
        // Created concurrently (another process, a retry): follow that command.
        if (!(await this.commands.get(id))) throw err;
      }
    }
    const record = await this.commands.settled(id);
    const outcome = record.status === 'applied' ? 'applied' : record.status === 'rejected' ? 'rejected' : 'timeout';
    return { id, outcome, ...(record.reason ? { reason: record.reason } : record.code ? { reason: record.code } : {}) };
  }
}

/** Good and uncertain samples only: bad data never judges an action. */
export class StoreTelemetryPort implements TelemetryPort {
  constructor(private readonly store: HubStore) {}

  async window(gateway: string, device: string, point: string, fromMs: number, toMs: number): Promise<readonly TelemetrySample[]> {
    const samples = await this.store.history(gateway, device, point, fromMs, toMs);
    return samples.flatMap((s) => (s.value === null || s.quality === 'bad' ? [] : [{ ts: s.ts, value: s.value }]));
  }

  async latest(gateway: string, device: string, point: string): Promise<TelemetrySample | undefined> {
    const r = (await this.store.latest(gateway)).find((x) => x.device === device && x.point === point);
    return r && r.value !== null && r.quality !== 'bad' ? { ts: r.ts, value: r.value } : undefined;
  }
}
