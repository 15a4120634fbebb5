/**
 * Commissioning scan of a Modbus link: which unit ids answer, and which register ranges of each
 * table they let us read. Probes blocks and bisects blocks refused with an exception until the
 * readable ranges are found; a unit that stays silent on its first probe is taken as absent.
 *
 * The result feeds draftProfile(), which writes a profile skeleton (one uint16/bool point per
 * readable register) for a person to rename and retype.
 */
import type { Logger } from 'pino';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { BrowseOptions, DiscoveredPoint } from '../driver.js';
import { isBitTable } from './codec.js';
import { isPointFailure, toModbusError } from './errors.js';
import { MAX_READ_BITS, MAX_READ_REGISTERS } from './plan.js';
import { blockRequest } from './requests.js';
import type { ModbusAddress, ModbusTable } from './schema.js';
import type { SessionSettings, UnitSession } from './session.js';

const ALL_TABLES: readonly ModbusTable[] = ['holding', 'input', 'coil', 'discrete'];

export interface ModbusBrowseOptions {
  /** Unit ids to try, in order. Default: the device's own unit id. */
  readonly unitIds: readonly number[];
  readonly tables: readonly ModbusTable[];
  /** First register (or bit) to scan in every table. Default 0. */
  readonly start: number;
  /** Registers (or bits) to scan per table. Default 200. */
  readonly count: number;
  /** Registers per probe request (bit tables probe 16x as many bits). Default 100. */
  readonly blockSize: number;
  /** Reply timeout per probe. Default: the connection's timeoutMs. */
  readonly timeoutMs: number;
  /** Stop after this many requests in total. Default 5000. */
  readonly maxRequests: number;
  /** Leave out a unit that answers exactly as an earlier one (TCP; on an RTU bus each id is a device). Default true. */
  readonly echoes?: boolean;
}

/** A readable range: address.register is its first register, count its length. */
export interface ModbusDiscoveredPoint extends DiscoveredPoint {
  readonly address: ModbusAddress;
  readonly unitId: number;
  readonly count: number;
  /** Unit ids that answered exactly as this unit (a device that ignores the unit id): left out of the scan. */
  readonly alsoAnswersAs?: readonly number[];
}

function integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `browse option ${name} must be an integer ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function unitIdsOption(value: unknown, fallback: number): number[] {
  if (value === undefined) return [fallback];
  if (typeof value === 'number') return [integer(value, 'unitIds', 0, 255, fallback)];
  if (Array.isArray(value)) return value.map((v) => integer(v, 'unitIds[]', 0, 255, fallback));
  if (typeof value === 'object' && value !== null) {
    const { from, to } = value as { from?: unknown; to?: unknown };
    const first = integer(from, 'unitIds.from', 0, 255, 1);
    const last = integer(to, 'unitIds.to', first, 255, 247);
    return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  }
  throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', 'browse option unitIds must be a number, an array of numbers or { from, to }');
}

function tablesOption(value: unknown): ModbusTable[] {
  if (value === undefined) return [...ALL_TABLES];
  if (Array.isArray(value) && value.every((t) => ALL_TABLES.includes(t as ModbusTable))) return value as ModbusTable[];
  throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `browse option tables must list some of ${ALL_TABLES.join(', ')}`);
}

/** Reads browse options from the generic BrowseOptions bag, with defaults from the connection. */
export function parseBrowseOptions(options: BrowseOptions, defaults: SessionSettings): ModbusBrowseOptions {
  const start = integer(options.start, 'start', 0, 65535, 0);
  return {
    unitIds: unitIdsOption(options.unitIds, defaults.unitId),
    tables: tablesOption(options.tables),
    start,
    count: integer(options.count, 'count', 1, 65536 - start, Math.min(200, 65536 - start)),
    blockSize: integer(options.blockSize, 'blockSize', 1, MAX_READ_REGISTERS, 100),
    timeoutMs: integer(options.timeoutMs, 'timeoutMs', 10, 60_000, defaults.timeoutMs),
    maxRequests: integer(options.maxRequests, 'maxRequests', 1, 1_000_000, 5000),
  };
}

interface Range {
  readonly table: ModbusTable;
  readonly start: number;
  readonly count: number;
}

type ProbeResult = 'ok' | 'refused' | 'unsupported' | 'silent';

class UnitScan {
  answered = false;
  silentInARow = 0;
  readonly ranges: Range[] = [];

  constructor(
    private readonly session: UnitSession,
    private readonly unitId: number,
    private readonly options: ModbusBrowseOptions,
    private readonly budget: { left: number },
  ) {}

  async probe(table: ModbusTable, start: number, count: number): Promise<ProbeResult> {
    if (this.budget.left <= 0) return 'silent';
    this.budget.left--;
    try {
      await this.session.request(`probing ${table} ${start}..${start + count - 1}`, blockRequest(table, start, count), {
        unitId: this.unitId,
        timeoutMs: this.options.timeoutMs,
        retries: 0,
        bypassBreaker: true,
      });
      this.answered = true;
      this.silentInARow = 0;
      return 'ok';
    } catch (err) {
      const error = toModbusError(err, 'probing');
      if (!isPointFailure(error)) {
        this.silentInARow++;
        return 'silent';
      }
      this.answered = true;
      this.silentInARow = 0;
      return error.details.exceptionCode === 1 ? 'unsupported' : 'refused';
    }
  }

  /** Bisects a refused range down to single registers; returns false when the table is unsupported. */
  async scan(table: ModbusTable, start: number, count: number): Promise<boolean> {
    const result = await this.probe(table, start, count);
    if (result === 'ok') this.ranges.push({ table, start, count });
    if (result === 'unsupported') return false;
    if (result !== 'refused' || count === 1) return true;
    const half = Math.ceil(count / 2);
    if (!(await this.scan(table, start, half))) return false;
    if (this.silentInARow > 0) return true;
    return this.scan(table, start + half, count - half);
  }
}

function mergeRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a.table.localeCompare(b.table) || a.start - b.start);
  const merged: Range[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.table === r.table && last.start + last.count === r.start) merged[merged.length - 1] = { ...last, count: last.count + r.count };
    else merged.push(r);
  }
  return merged;
}

interface KeptUnit {
  readonly unitId: number;
  readonly ranges: readonly Range[];
  /** Later unit ids that answered exactly as this one. */
  readonly echoes: number[];
}

/**
 * The earlier unit that `unitId` merely echoes: a device that ignores the unit id (many Modbus TCP
 * devices) answers every id alike. Same readable ranges, then every range read from both units,
 * back to back (twice, in case a live value moved in between), with the same values, not all
 * zero. Two real devices of one model share ranges and configuration registers, but not every
 * measurement; a live echo whose values move between the two reads is kept (a duplicate draft is
 * the safe mistake, a real device left out is not).
 */
async function echoOf(session: UnitSession, options: ModbusBrowseOptions, unitId: number, ranges: readonly Range[], kept: readonly KeptUnit[]): Promise<KeptUnit | undefined> {
  const key = (rs: readonly Range[]): string => rs.map((r) => `${r.table}:${r.start}:${r.count}`).join(',');
  const blocks = ranges.flatMap((r) => {
    const max = isBitTable(r.table) ? MAX_READ_BITS : MAX_READ_REGISTERS;
    return Array.from({ length: Math.ceil(r.count / max) }, (_, i) => ({ table: r.table, start: r.start + i * max, count: Math.min(max, r.count - i * max) }));
  });
  const read = (id: number, b: Range): Promise<string> =>
    session
      .request(`comparing unit ${id} ${b.table} ${b.start}..${b.start + b.count - 1}`, blockRequest(b.table, b.start, b.count), { unitId: id, timeoutMs: options.timeoutMs, retries: 0, bypassBreaker: true })
      .then((data) => JSON.stringify(data), () => `unreadable ${id}`);
  const alike = async (other: number, b: Range): Promise<string | undefined> => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const [a, c] = [await read(other, b), await read(unitId, b)];
      if (a === c && !a.startsWith('unreadable')) return a;
    }
    return undefined;
  };
  for (const other of kept) {
    if (key(other.ranges) !== key(ranges)) continue;
    let nonZero = false;
    let same = true;
    for (const b of blocks) {
      const values = await alike(other.unitId, b);
      if (values === undefined) {
        same = false;
        break;
      }
      nonZero ||= /[1-9]|true/.test(values);
    }
    if (same && nonZero) return other;
  }
  return undefined;
}

/** Silent probes in a row after which a unit is given up (it answered before, then stopped). */
const MAX_SILENT = 3;

export async function browseUnits(session: UnitSession, options: ModbusBrowseOptions, log: Logger): Promise<ModbusDiscoveredPoint[]> {
  const budget = { left: options.maxRequests };
  const found: ModbusDiscoveredPoint[] = [];
  const prefix = options.unitIds.length > 1;
  const kept: KeptUnit[] = [];
  for (const unitId of options.unitIds) {
    const unit = new UnitScan(session, unitId, options, budget);
    tables: for (const table of options.tables) {
      const step = isBitTable(table) ? Math.min(MAX_READ_BITS, options.blockSize * 16) : options.blockSize;
      const end = options.start + options.count;
      for (let s = options.start; s < end; s += step) {
        const supported = await unit.scan(table, s, Math.min(step, end - s));
        if (!unit.answered) break tables; // silent from the first probe: no such unit
        if (unit.silentInARow >= MAX_SILENT) {
          log.warn({ unitId, table }, 'modbus browse: unit stopped answering, giving up on it');
          break tables;
        }
        if (!supported) continue tables;
      }
    }
    if (budget.left <= 0) log.warn({ maxRequests: options.maxRequests }, 'modbus browse: request budget used up, result is partial');
    if (!unit.answered) continue;
    const ranges = mergeRanges(unit.ranges);
    const twin = options.echoes === false ? undefined : await echoOf(session, options, unitId, ranges, kept);
    if (twin) {
      log.warn({ unitId, sameAs: twin.unitId }, `modbus browse: unit ${unitId} answers exactly as unit ${twin.unitId} (same registers, same values): the device ignores the unit id, as many Modbus TCP devices do; unit ${unitId} is left out`);
      twin.echoes.push(unitId);
      continue;
    }
    kept.push({ unitId, ranges, echoes: [] });
    if (budget.left <= 0) break;
  }
  for (const { unitId, ranges, echoes } of kept) {
    for (const r of ranges) {
      const last = r.start + r.count - 1;
      const bits = isBitTable(r.table);
      found.push({
        name: `${prefix ? `u${unitId}_` : ''}${r.table}_${r.start}_${last}`,
        address: { table: r.table, register: r.start, type: bits ? 'bool' : 'uint16' },
        dataType: bits ? 'bool' : 'uint16',
        writable: r.table === 'coil' || r.table === 'holding',
        description: `unit ${unitId}: ${r.table} ${r.start}..${last} readable (${r.count} ${bits ? 'bits' : 'registers'})`,
        unitId,
        count: r.count,
        ...(echoes.length > 0 ? { alsoAnswersAs: [...echoes] } : {}),
      });
    }
  }
  return found;
}

export interface ProfileDraftOptions {
  /** Profile name, ^[a-z][a-z0-9_-]*$ by convention. */
  readonly profile: string;
  /** Unit to draft from; default the first unit in the scan. */
  readonly unitId?: number;
  readonly manufacturer?: string;
  readonly model?: string;
  readonly description?: string;
  /** At most this many points (default 500); the rest is left out with a note in the description. */
  readonly maxPoints?: number;
}

export interface ProfileDraftPoint {
  readonly name: string;
  readonly description: string;
  readonly address: ModbusAddress;
  readonly writable: false;
}

export interface ProfileDraft {
  readonly profile: string;
  readonly protocol: 'modbus';
  readonly manufacturer?: string;
  readonly model?: string;
  readonly description: string;
  readonly points: ProfileDraftPoint[];
}

/**
 * A profile object in the devices/profiles/*.yaml shape, one point per readable register (uint16)
 * or bit (bool), all read-only: a starting point to rename, retype and mark writable by hand.
 */
export function draftProfile(discovered: readonly ModbusDiscoveredPoint[], options: ProfileDraftOptions): ProfileDraft {
  const unitId = options.unitId ?? discovered[0]?.unitId;
  const maxPoints = options.maxPoints ?? 500;
  const points: ProfileDraftPoint[] = [];
  let skipped = 0;
  for (const range of discovered.filter((d) => d.unitId === unitId)) {
    for (let i = 0; i < range.count; i++) {
      if (points.length >= maxPoints) {
        skipped++;
        continue;
      }
      const register = range.address.register + i;
      const table = range.address.table;
      points.push({
        name: `${table}_${register}`,
        description: `${table} ${register} (discovered by scan; rename, set type and unit)`,
        address: { table, register, type: range.address.type },
        writable: false,
      });
    }
  }
  const note = skipped > 0 ? ` ${skipped} more readable registers were left out (maxPoints ${maxPoints}).` : '';
  return {
    profile: options.profile,
    protocol: 'modbus',
    ...(options.manufacturer === undefined ? {} : { manufacturer: options.manufacturer }),
    ...(options.model === undefined ? {} : { model: options.model }),
    description: (options.description ?? `Draft from a Modbus scan of unit ${unitId ?? '?'}.`) + note,
    points,
  };
}
