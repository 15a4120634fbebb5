/**
 * The GPIO driver: inputs (edge interrupts with debounce, or polled) and outputs on a GpioChip.
 * Values are booleans after active-low mapping; edge selection (rising/falling) applies to that
 * logical value. Debounce is trailing: a burst of edges yields one reading once the line has been
 * stable for debounceMs, and only if the settled value differs from the last one reported.
 * Outputs have no interrupts: subscribed outputs are read back every OUTPUT_READBACK_MS, so a line
 * changed behind the gateway's back (another process, a chip reset) is reported as it is.
 * An output's `initial` applies only when the chip powers up; a gateway restart leaves it held.
 */
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import { booleanOf, type DeviceSpec, type DriverContext, type PointSpec, type PointValue, type Reading, type SubscribableDriver, type Subscription } from '../driver.js';
import type { EdgeEvent, GpioChip, Level } from './chip.js';
import { openChip } from './open-chip.js';
import type { GpioAddress, GpioConnection } from './settings.js';

type GpioPoint = PointSpec<GpioAddress>;

interface Watched {
  readonly point: GpioPoint;
  /** Last value reported (undefined: nothing reported since start or since the link came back). */
  last: boolean | undefined;
  debounce: NodeJS.Timeout | undefined;
  unwatch: (() => void) | undefined;
}

interface SubState {
  readonly entries: Watched[];
  readonly onReading: (reading: Reading) => void;
  closed: boolean;
  readback: NodeJS.Timeout | undefined;
}

/** How often subscribed outputs are read back from the line. */
export const OUTPUT_READBACK_MS = 1000;

export function toLogical(level: Level, address: Pick<GpioAddress, 'activeLow'>): boolean {
  return address.activeLow === true ? level === 0 : level === 1;
}

export function toLevel(value: boolean, address: Pick<GpioAddress, 'activeLow'>): Level {
  return value !== (address.activeLow === true) ? 1 : 0;
}

function asBoolean(point: GpioPoint, value: PointValue): boolean {
  const b = booleanOf(value);
  if (b !== undefined) return b;
  throw new SwarmgateError('SWG_ERR_POINT_TYPE', `GPIO point ${point.name} takes true/false (or 1/0), not ${JSON.stringify(value)}`, { details: { point: point.name } });
}

export class GpioDriver implements SubscribableDriver {
  readonly #device: DeviceSpec<GpioConnection, GpioAddress>;
  readonly #log: Logger;
  #chip: GpioChip | undefined;
  #stopped = false;
  #linkUp = true;
  #unlink: (() => void) | undefined;
  /** Exported pins and the config they were exported with. */
  readonly #exported = new Map<number, GpioAddress>();
  /** Outputs found held at their level by the chip (a restart): initial was not applied. */
  readonly #held: string[] = [];
  readonly #subs = new Set<SubState>();

  constructor(device: DeviceSpec<GpioConnection, GpioAddress>, context: DriverContext) {
    this.#device = device;
    this.#log = context.log.child({ protocol: 'gpio' });
  }

  async initialize(): Promise<void> {
    if (this.#chip) return;
    const chip = await openChip(this.#device.connection.chip, this.#log);
    try {
      for (const point of this.#device.points) await this.#export(chip, point);
    } catch (err) {
      this.#exported.clear();
      await chip.close();
      throw err;
    }
    this.#chip = chip;
    this.#linkUp = true;
    this.#unlink = chip.onLink((up, cause) => (up ? this.#onLinkUp() : this.#onLinkDown(cause ?? 'connection lost')));
    this.#log.info({ chip: chip.label, kind: chip.kind, lines: [...this.#exported.keys()], ...(this.#held.length > 0 ? { held: this.#held } : {}) }, 'GPIO lines exported');
  }

  async #export(chip: GpioChip, point: GpioPoint): Promise<void> {
    const a = point.address;
    if (this.#exported.has(a.pin)) return;
    const edge = a.edge ?? 'both';
    const claimed = await chip.exportLine(a.pin, {
      direction: a.direction,
      interrupts: a.direction === 'in' && edge !== 'none',
      ...(a.direction === 'out' && a.initial !== undefined ? { initialLevel: toLevel(a.initial === 1, a) } : {}),
    });
    this.#exported.set(a.pin, a);
    if (claimed.held) this.#held.push(point.name);
  }

  #requireChip(): GpioChip {
    if (!this.#chip || this.#stopped) {
      throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `GPIO device ${this.#device.id} is not initialized`);
    }
    return this.#chip;
  }

  async #readPoint(chip: GpioChip, point: GpioPoint): Promise<Reading> {
    try {
      await this.#export(chip, point);
      const level = await chip.read(point.address.pin);
      return { device: this.#device.id, point: point.name, value: toLogical(level, point.address), quality: 'good', ts: Date.now() };
    } catch (err) {
      const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
      return { device: this.#device.id, point: point.name, value: null, quality: 'bad', ts: Date.now(), cause };
    }
  }

  async read(points: readonly PointSpec[]): Promise<Reading[]> {
    const chip = this.#chip;
    if (!chip || this.#stopped) {
      const ts = Date.now();
      return points.map((p) => ({ device: this.#device.id, point: p.name, value: null, quality: 'bad' as const, ts, cause: 'not initialized (SWG_ERR_DEVICE_NOT_CONNECTED)' }));
    }
    return Promise.all(points.map((p) => this.#readPoint(chip, p as GpioPoint)));
  }

  async write(point: PointSpec, value: PointValue): Promise<void> {
    const p = point as GpioPoint;
    if (p.address.direction !== 'out') {
      throw new SwarmgateError('SWG_ERR_POINT_NOT_WRITABLE', `GPIO point ${p.name} (BCM ${p.address.pin}) is an input`, { details: { point: p.name } });
    }
    const logical = asBoolean(p, value);
    const chip = this.#requireChip();
    await this.#export(chip, p);
    await chip.write(p.address.pin, toLevel(logical, p.address));
    // Outputs have no interrupts: tell subscribers what we just drove.
    for (const sub of this.#subs) {
      for (const e of sub.entries) {
        if (e.point.address.pin === p.address.pin && e.point.address.direction === 'out') this.#report(sub, e, logical, Date.now(), true);
      }
    }
  }

  async subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription> {
    const chip = this.#requireChip();
    const sub: SubState = {
      entries: points.map((p) => ({ point: p as GpioPoint, last: undefined, debounce: undefined, unwatch: undefined })),
      onReading,
      closed: false,
      readback: undefined,
    };
    this.#subs.add(sub);
    for (const e of sub.entries) {
      const a = e.point.address;
      try {
        await this.#export(chip, e.point);
        if (a.direction === 'in' && (a.edge ?? 'both') !== 'none') e.unwatch = await chip.watch(a.pin, (ev) => this.#onEdge(sub, e, ev));
      } catch (err) {
        const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
        this.#emit(sub, { device: this.#device.id, point: e.point.name, value: null, quality: 'bad', ts: Date.now(), cause });
      }
    }
    await this.#resync(sub);
    if (sub.entries.some((e) => e.point.address.direction === 'out')) this.#scheduleReadback(sub);
    return { close: async () => this.#closeSub(sub) };
  }

  /** Reads the subscribed outputs back and reports a level that changed without a write here. */
  #scheduleReadback(sub: SubState): void {
    sub.readback = setTimeout(() => {
      const chip = this.#chip;
      const outputs = sub.entries.filter((e) => e.point.address.direction === 'out');
      const round = chip && this.#linkUp && !sub.closed ? Promise.all(outputs.map(async (e) => this.#readBack(chip, sub, e))) : Promise.resolve([]);
      void round.finally(() => {
        if (!sub.closed) this.#scheduleReadback(sub);
      });
    }, OUTPUT_READBACK_MS);
    sub.readback.unref();
  }

  async #readBack(chip: GpioChip, sub: SubState, e: Watched): Promise<void> {
    try {
      const level = await chip.read(e.point.address.pin);
      if (!sub.closed && this.#linkUp) this.#report(sub, e, toLogical(level, e.point.address), Date.now());
    } catch {
      // A failed read is the link's business (onLink reports it); the next round tries again.
    }
  }

  #emit(sub: SubState, reading: Reading): void {
    if (sub.closed) return;
    try {
      sub.onReading(reading);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'reading handler threw');
    }
  }

  /** Reports a settled value once; edge selection only filters, the value is still remembered. */
  #report(sub: SubState, e: Watched, value: boolean, ts: number, always = false): void {
    if (!always && e.last === value) return;
    e.last = value;
    const edge = e.point.address.direction === 'in' ? (e.point.address.edge ?? 'both') : 'both';
    if (!always && ((edge === 'rising' && !value) || (edge === 'falling' && value))) return;
    this.#emit(sub, { device: this.#device.id, point: e.point.name, value, quality: 'good', ts });
  }

  #onEdge(sub: SubState, e: Watched, ev: EdgeEvent): void {
    if (sub.closed || !this.#linkUp) return;
    const value = toLogical(ev.level, e.point.address);
    const debounceMs = e.point.address.debounceMs ?? 0;
    if (debounceMs <= 0) {
      this.#report(sub, e, value, ev.ts);
      return;
    }
    clearTimeout(e.debounce);
    e.debounce = setTimeout(() => {
      e.debounce = undefined;
      if (!sub.closed && this.#linkUp) this.#report(sub, e, value, ev.ts);
    }, debounceMs);
  }

  /** Reads every point of a subscription and reports it (start-up and after a link outage). */
  async #resync(sub: SubState): Promise<void> {
    const chip = this.#chip;
    if (!chip) return;
    await Promise.all(
      sub.entries.map(async (e) => {
        const reading = await this.#readPoint(chip, e.point);
        if (typeof reading.value === 'boolean') e.last = reading.value;
        this.#emit(sub, reading);
      }),
    );
  }

  #onLinkDown(cause: string): void {
    this.#linkUp = false;
    const ts = Date.now();
    for (const sub of this.#subs) {
      for (const e of sub.entries) {
        clearTimeout(e.debounce);
        e.debounce = undefined;
        e.last = undefined;
        this.#emit(sub, { device: this.#device.id, point: e.point.name, value: null, quality: 'bad', ts, cause });
      }
    }
  }

  #onLinkUp(): void {
    this.#linkUp = true;
    for (const sub of this.#subs) void this.#resync(sub);
  }

  async #closeSub(sub: SubState): Promise<void> {
    if (sub.closed) return;
    sub.closed = true;
    clearTimeout(sub.readback);
    this.#subs.delete(sub);
    for (const e of sub.entries) {
      clearTimeout(e.debounce);
      e.debounce = undefined;
      e.unwatch?.();
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const sub of [...this.#subs]) await this.#closeSub(sub);
    this.#unlink?.();
    const chip = this.#chip;
    this.#chip = undefined;
    this.#exported.clear();
    await chip?.close();
  }
}
