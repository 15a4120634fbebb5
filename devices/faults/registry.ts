/**
 * Active faults and the questions servers ask about them ("is the meter at unit 2 offline?",
 * "what does a read of ahu.supply_air_temp look like now?"). Servers consult the registry on
 * every request, so injecting or clearing takes effect immediately.
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import { createPrng, type Prng } from '../physics/prng.js';
import type { ActiveFault, FaultSpec, SensorTarget, SimDevice } from './types.js';
import { parseFault } from './validate.js';

export type FaultListener = (event: 'inject' | 'clear', fault: ActiveFault) => void;

export interface FaultRegistryOptions {
  /** Sim clock, ms since epoch (drift grows with simulated time). */
  readonly now: () => number;
  /** Seed for spike randomness. */
  readonly seed?: number;
}

type ModbusDevice = 'ahu' | 'meter';

export class FaultRegistry {
  private readonly faults = new Map<string, ActiveFault>();
  /** Stuck values captured at the first read after injection, by fault id. */
  private readonly stuckValues = new Map<string, number | boolean>();
  private readonly listeners = new Set<FaultListener>();
  private readonly prng: Prng;
  private nextId = 1;

  constructor(private readonly options: FaultRegistryOptions) {
    this.prng = createPrng((options.seed ?? 1) ^ 0x5eed);
  }

  /** Validates (throws SWG_ERR_SIM_FAULT_INVALID naming the field) and activates a fault. */
  inject(spec: unknown): string {
    const parsed: FaultSpec = parseFault(spec);
    const id = `f${this.nextId++}`;
    const fault = { ...parsed, id, injectedAt: this.options.now() } as ActiveFault;
    this.faults.set(id, fault);
    for (const l of this.listeners) l('inject', fault);
    return id;
  }

  /** Clears one fault (throws SWG_ERR_SIM_FAULT_UNKNOWN for an unknown id) or, without id, all. */
  clear(id?: string): void {
    if (id === undefined) {
      for (const fid of [...this.faults.keys()]) this.clear(fid);
      return;
    }
    const fault = this.faults.get(id);
    if (!fault) throw new SwarmgateError('SWG_ERR_SIM_FAULT_UNKNOWN', `no active fault with id "${id}"`, { details: { id } });
    this.faults.delete(id);
    this.stuckValues.delete(id);
    for (const l of this.listeners) l('clear', fault);
  }

  list(): ActiveFault[] {
    return [...this.faults.values()];
  }

  has(kind: FaultSpec['kind']): boolean {
    return this.list().some((f) => f.kind === kind);
  }

  onChange(listener: FaultListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isOffline(device: SimDevice, unit?: number): boolean {
    return this.list().some((f) => f.kind === 'offline' && f.device === device && matchesUnit(f.unit, unit));
  }

  /** Total extra answer delay for the device/unit, ms. */
  delayMs(device: SimDevice, unit?: number): number {
    let total = 0;
    for (const f of this.faults.values()) {
      if (f.kind === 'slow' && f.device === device && matchesUnit(f.unit, unit)) total += f.delayMs;
    }
    return total;
  }

  /** The BACnet device (by instance) is offline. */
  isBacnetOffline(device: number): boolean {
    return this.list().some((f) => f.kind === 'bacnet-offline' && matchesUnit(f.device, device));
  }

  /** Total extra delay before a BACnet device handles a request, ms. */
  bacnetDelayMs(device: number): number {
    let total = 0;
    for (const f of this.faults.values()) {
      if (f.kind === 'bacnet-slow' && matchesUnit(f.device, device)) total += f.delayMs;
    }
    return total;
  }

  /** Whether a bacnet-no-rpm fault takes ReadPropertyMultiple away from the device. */
  bacnetNoRpm(device: number): boolean {
    return this.list().some((f) => f.kind === 'bacnet-no-rpm' && matchesUnit(f.device, device));
  }

  /** The smallest max-APDU a bacnet-no-segmentation fault imposes on the device, if any. */
  bacnetMaxApdu(device: number): number | undefined {
    let min: number | undefined;
    for (const f of this.faults.values()) {
      if (f.kind === 'bacnet-no-segmentation' && matchesUnit(f.device, device)) min = Math.min(min ?? Infinity, f.maxApdu);
    }
    return min;
  }

  /** Modbus exception code for a request covering [address, address+count), if a fault says so. */
  exceptionFor(device: ModbusDevice, unit: number | undefined, address: number, count: number): number | undefined {
    for (const f of this.faults.values()) {
      if (f.kind !== 'exception' || f.device !== device || !matchesUnit(f.unit, unit)) continue;
      if (f.register === undefined || (f.register >= address && f.register < address + count)) return f.code;
    }
    return undefined;
  }

  /** The value a sensor reports now: drift, stuck and spikes applied on top of the true value. */
  sensor<T extends number | boolean>(target: SensorTarget, value: T, unit?: number): T {
    let out: number | boolean = value;
    for (const f of this.faults.values()) {
      if (!('target' in f) || f.target !== target || !matchesUnit(f.unit, unit)) continue;
      if (f.kind === 'drift' && typeof out === 'number') {
        out += (f.ratePerHour * (this.options.now() - f.injectedAt)) / 3_600_000;
      } else if (f.kind === 'stuck') {
        const held = this.stuckValues.get(f.id) ?? f.value ?? out;
        this.stuckValues.set(f.id, held);
        out = held;
      } else if (f.kind === 'spikes' && this.prng.next() < f.probability) {
        out = typeof out === 'number' ? out + (this.prng.next() < 0.5 ? -1 : 1) * f.magnitude : !out;
      } else if (f.kind === 'probe-failure' && typeof out === 'number') {
        out = Number.NaN;
      }
    }
    // Keep the caller's type: a stuck number on a boolean sensor reads as its truthiness.
    return (typeof value === 'boolean' ? Boolean(out) : Number(out)) as T;
  }
}

function matchesUnit(faultUnit: number | undefined, unit: number | undefined): boolean {
  return faultUnit === undefined || unit === undefined || faultUnit === unit;
}
