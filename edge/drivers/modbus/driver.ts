/**
 * The Modbus driver (TCP and RTU alike): plans block reads, decodes them into readings, writes
 * points with the right function code. Transport details live behind a ModbusEndpoint.
 *
 * Failure handling, per read():
 * - an exception reply to a block splits the block and retries the halves, so one refused register
 *   only marks its own points bad;
 * - a link-level failure (timeout, dropped connection, open breaker) marks the block bad and every
 *   remaining block of this read too, without sending them: a unit that did not answer once in
 *   this poll would only burn timeoutMs per block of bus time that other units need.
 */
import type { Logger } from 'pino';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { BrowsableDriver, BrowseOptions, PointSpec, PointValue, Reading } from '../driver.js';
import { browseUnits, parseBrowseOptions, type ModbusDiscoveredPoint } from './browse.js';
import { decodeRegistersAt, encodeRegisters, isBitTable, setBit, toBool } from './codec.js';
import { isPointFailure, readingCause, toModbusError } from './errors.js';
import { splitBlock, type PlanOptions, type PlannedPoint } from './plan.js';
import { PollPlanCache, prepareBlock, type PollPlan, type PreparedBlock } from './poll-plan.js';
import { SerialQueue } from './queue.js';
import { blockRequest, type BlockData } from './requests.js';
import type { ModbusAddress } from './schema.js';
import type { UnitSession } from './session.js';

/** The transport side of one device: a TCP connection of its own, or a unit on a shared bus. */
export interface ModbusEndpoint {
  /**
   * An RS-485 bus (RTU), where every unit id that answers is a device of its own; over TCP one
   * device may answer every unit id alike (a scan leaves its echoes out).
   */
  readonly bus: boolean;
  /** Connects now (TCP) or opens the shared port (RTU). Rejects with a SwarmgateError. */
  open(): Promise<void>;
  /** The unit session; throws a SwarmgateError when the endpoint cannot be set up (config clash). */
  session(): UnitSession;
  /** Frees sockets, ports, timers. Without force, requests in flight finish first. */
  release(force: boolean): Promise<void>;
}

export class ModbusDriver implements BrowsableDriver {
  private stopped = false;
  private readonly plans: PollPlanCache;
  /**
   * Bit writes per holding register, one at a time: each reads the word, sets its bit and writes
   * the word back, so two at once would each put back the word read before the other's write and
   * one bit would be lost. One queue per register that has bit points (bounded by the config).
   */
  private readonly bitWrites = new Map<number, SerialQueue>();

  constructor(
    private readonly deviceId: string,
    private readonly endpoint: ModbusEndpoint,
    planOptions: PlanOptions,
    private readonly log: Logger,
  ) {
    this.plans = new PollPlanCache(planOptions);
  }

  async initialize(): Promise<void> {
    if (this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver for ${this.deviceId} was stopped; create a new one`);
    await this.endpoint.open();
  }

  read(points: readonly PointSpec[]): Promise<Reading[]> {
    return this.readPoints(points as readonly PointSpec<ModbusAddress>[]);
  }

  private async readPoints(specs: readonly PointSpec<ModbusAddress>[]): Promise<Reading[]> {
    try {
      const plan = this.plans.get(specs);
      const results: (Reading | undefined)[] = new Array<Reading | undefined>(specs.length);
      let session: UnitSession | undefined;
      let failure: SwarmgateError | undefined;
      try {
        if (this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver for ${this.deviceId} is stopped`);
        session = this.endpoint.session();
      } catch (err) {
        failure = toModbusError(err, `for ${this.deviceId}`);
      }
      for (const prepared of plan.blocks) {
        if (!failure && session) {
          failure = await this.readBlock(session, prepared, plan, results);
          continue;
        }
        // After a link failure the other blocks are not sent: their points say so, not that
        // their own registers failed.
        const reason = failure && !failure.message.startsWith('not read') ? new SwarmgateError(failure.code, `not read (${prepared.label}): ${failure.message}`, { cause: failure }) : failure;
        this.markBad(prepared, reason, results);
      }
      // Repeated specs share the reading of their first occurrence (positions[i] <= i).
      const { positions } = plan;
      for (let i = 0; i < results.length; i++) {
        if (results[i] !== undefined) continue;
        const spec = specs[i] as PointSpec<ModbusAddress>;
        results[i] = results[positions[i] ?? i] ?? this.bad(spec, failure, Date.now());
      }
      return results as Reading[];
    } catch (err) {
      // Only a bug gets here (e.g. an address that skipped schema validation); still no rejection.
      this.log.error({ err }, 'modbus read failed unexpectedly');
      const error = new SwarmgateError('SWG_ERR_INTERNAL', `reading ${this.deviceId} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      const ts = Date.now();
      return specs.map((p) => this.bad(p, error, ts));
    }
  }

  /**
   * Reads one block (splitting it on exception replies); resolves to a link-level failure, if any.
   * The success path is a plain .then: it runs on every poll, the async frame only on failures.
   */
  private readBlock(session: UnitSession, prepared: PreparedBlock, plan: PollPlan, results: (Reading | undefined)[]): Promise<SwarmgateError | undefined> {
    return session.request(prepared.label, prepared.request).then(
      (data) => {
        const ts = Date.now();
        const { points } = prepared.block;
        const { slots } = prepared;
        for (let i = 0; i < points.length; i++) {
          const planned = points[i] as PlannedPoint;
          results[slots[i] ?? 0] = this.decode(planned.spec, data, planned.index, ts);
        }
        return undefined;
      },
      (err: unknown) => this.blockFailed(session, prepared, plan, results, err),
    );
  }

  private async blockFailed(session: UnitSession, prepared: PreparedBlock, plan: PollPlan, results: (Reading | undefined)[], err: unknown): Promise<SwarmgateError | undefined> {
    const error = toModbusError(err, prepared.label);
    if (!isPointFailure(error)) {
      this.markBad(prepared, error, results);
      return error;
    }
    const halves = splitBlock(prepared.block);
    if (!halves) {
      this.markBad(prepared, error, results);
      return undefined;
    }
    let failure: SwarmgateError | undefined;
    for (const half of halves) {
      const preparedHalf = prepareBlock(half, plan.slotOf);
      if (failure) this.markBad(preparedHalf, failure, results);
      else failure = await this.readBlock(session, preparedHalf, plan, results);
    }
    return failure;
  }

  private decode(spec: PointSpec<ModbusAddress>, data: BlockData, index: number, ts: number): Reading {
    try {
      let value: PointValue;
      if (isBitTable(spec.address.table)) {
        const bit = data[index];
        if (typeof bit !== 'boolean') throw new SwarmgateError('SWG_ERR_INTERNAL', `reply too short for ${spec.name}`);
        value = bit;
      } else {
        value = decodeRegistersAt(spec.address, data as readonly number[], index, spec);
      }
      return { device: this.deviceId, point: spec.name, value, quality: 'good', ts };
    } catch (err) {
      return this.bad(spec, toModbusError(err, `decoding ${spec.name}`), ts);
    }
  }

  private bad(spec: PointSpec<ModbusAddress>, error: SwarmgateError | undefined, ts: number): Reading {
    const cause = error ? readingCause(error) : 'SWG_ERR_INTERNAL: point was not read';
    return { device: this.deviceId, point: spec.name, value: null, quality: 'bad', ts, cause };
  }

  private markBad(prepared: PreparedBlock, error: SwarmgateError | undefined, results: (Reading | undefined)[]): void {
    const ts = Date.now();
    const { points } = prepared.block;
    for (let i = 0; i < points.length; i++) {
      const planned = points[i] as PlannedPoint;
      results[prepared.slots[i] ?? 0] = this.bad(planned.spec, error, ts);
    }
  }

  async write(point: PointSpec, value: PointValue): Promise<void> {
    const spec = point as PointSpec<ModbusAddress>;
    const a = spec.address;
    if (!spec.writable) {
      throw new SwarmgateError('SWG_ERR_POINT_NOT_WRITABLE', `point ${spec.name} of ${this.deviceId} is not writable`);
    }
    if (a.table === 'discrete' || a.table === 'input') {
      throw new SwarmgateError('SWG_ERR_POINT_NOT_WRITABLE', `point ${spec.name} is in the read-only ${a.table} table; only coil and holding points can be written`);
    }
    if (this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver for ${this.deviceId} is stopped`);
    const session = this.endpoint.session();
    const what = `writing ${spec.name} (${a.table} ${a.register})`;
    if (a.table === 'coil') {
      const on = toBool(a, value);
      await session.request(what, (c) => c.writeCoil(a.register, on)); // FC5
      return;
    }
    if (a.type === 'bool') {
      toBool(a, value); // refuse bad values before touching the device
      let queue = this.bitWrites.get(a.register);
      if (!queue) {
        queue = new SerialQueue();
        this.bitWrites.set(a.register, queue);
      }
      await queue.run(async () => {
        const [current] = await session.request(`reading ${spec.name} before setting bit ${a.bit ?? 0}`, blockRequest('holding', a.register, 1));
        const word = setBit(a, typeof current === 'number' ? current : 0, value);
        await session.request(what, (c) => c.writeRegister(a.register, word)); // FC6
      });
      return;
    }
    const words = encodeRegisters(a, value, spec);
    const [single] = words;
    if (words.length === 1 && single !== undefined) await session.request(what, (c) => c.writeRegister(a.register, single)); // FC6
    else await session.request(what, (c) => c.writeRegisters(a.register, words)); // FC16
    this.log.debug({ point: spec.name }, 'modbus write done');
  }

  /**
   * Commissioning scan: which unit ids answer and which register ranges they let us read.
   * Options: see ModbusBrowseOptions (unitIds, tables, start, count, blockSize, timeoutMs, maxRequests).
   */
  async browse(options: BrowseOptions): Promise<ModbusDiscoveredPoint[]> {
    if (this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver for ${this.deviceId} is stopped`);
    const session = this.endpoint.session();
    return browseUnits(session, { ...parseBrowseOptions(options, session.settings), echoes: !this.endpoint.bus }, options.log ?? this.log);
  }

  async stop(force = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.endpoint.release(force);
  }
}
