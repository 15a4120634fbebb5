/**
 * In-memory stand-ins for the ports the lead will adapt to the real hub store and command service
 * (none exist yet), plus a small facility fixture. For tests only.
 */
import type { Action } from '../../shared/wire/messages.js';
import {
  FacilityIndex,
  type CommandOptions,
  type CommandPort,
  type CommandResult,
  type ExecutedSet,
  type FacilityModel,
  type PointValue,
  type ReviewSubmission,
  type ReviewSink,
  type TelemetryPort,
  type TelemetrySample,
  type TrackRecord,
  type TrackRecordStore,
} from '../../hub/agents/index.js';

export const T0 = Date.UTC(2025, 0, 6, 22, 0, 0); // a Monday, 22:00 UTC: offices are empty

export class FakeClock {
  constructor(public now = T0) {}
  readonly read = (): number => this.now;
  readonly sleep = (ms: number): Promise<void> => {
    this.now += ms;
    return Promise.resolve();
  };
}

export class MemoryTelemetry implements TelemetryPort {
  readonly series = new Map<string, TelemetrySample[]>();

  add(gateway: string, device: string, point: string, ts: number, value: PointValue): void {
    const k = `${gateway}/${device}/${point}`;
    const list = this.series.get(k) ?? [];
    list.push({ ts, value });
    list.sort((a, b) => a.ts - b.ts);
    this.series.set(k, list);
  }

  window(gateway: string, device: string, point: string, fromMs: number, toMs: number): Promise<readonly TelemetrySample[]> {
    return Promise.resolve((this.series.get(`${gateway}/${device}/${point}`) ?? []).filter((s) => s.ts >= fromMs && s.ts <= toMs));
  }

  latest(gateway: string, device: string, point: string): Promise<TelemetrySample | undefined> {
    const list = this.series.get(`${gateway}/${device}/${point}`);
    return Promise.resolve(list?.[list.length - 1]);
  }
}

export interface SentCommand {
  readonly gateway: string;
  readonly action: Action;
  readonly options: CommandOptions;
}

/** Applies every command unless told otherwise; `onApply` lets a test simulate the plant. */
export class FakeCommands implements CommandPort {
  readonly sent: SentCommand[] = [];
  outcome: CommandResult['outcome'] = 'applied';
  onApply?: (gateway: string, action: Action) => void;

  send(gateway: string, action: Action, options: CommandOptions): Promise<CommandResult> {
    this.sent.push({ gateway, action, options });
    if (this.outcome === 'applied') this.onApply?.(gateway, action);
    return Promise.resolve({ id: `cmd-${this.sent.length}`, outcome: this.outcome, ...(this.outcome === 'applied' ? {} : { reason: `fake ${this.outcome}` }) });
  }
}

export class MemoryReviews implements ReviewSink {
  readonly items: ReviewSubmission[] = [];
  submit(item: ReviewSubmission): void {
    if (!this.items.some((i) => i.id === item.id)) this.items.push(item);
  }
}

export class MemoryTrackStore implements TrackRecordStore {
  readonly saved = new Map<string, TrackRecord>();
  load(): Promise<readonly TrackRecord[]> {
    return Promise.resolve([...this.saved.values()]);
  }
  save(record: TrackRecord): Promise<void> {
    this.saved.set(`${record.agent}/${record.domain}`, record);
    return Promise.resolve();
  }
}

export class RecordingExecutedSet implements ExecutedSet {
  readonly keys = new Set<string>();
  claim(key: string): Promise<boolean> {
    if (this.keys.has(key)) return Promise.resolve(false);
    this.keys.add(key);
    return Promise.resolve(true);
  }
  has(key: string): Promise<boolean> {
    return Promise.resolve(this.keys.has(key));
  }
}

export interface FixtureNames {
  /** Device and point of the backup compressor relay (configurable per site). */
  readonly relayDevice?: string;
  readonly relayPoint?: string;
}

/** One site: an office zone and a freezer cold room with a backup compressor relay on GPIO. */
export function facilityModel(names: FixtureNames = {}): FacilityModel {
  return {
    v: 1,
    sites: [
      {
        id: 's1',
        utcOffsetMin: 0,
        peakLimitKw: 120,
        serviceIntervalH: 2000,
        maxStartsPerHour: 6,
        interlocks: [
          {
            id: 'defrost-lock',
            description: 'no defrost while the cold room is above -15 °C',
            device: 'coldroom',
            point: 'defrost',
            forbid: { op: 'eq', value: true },
            when: { device: 'coldroom', point: 'temperature', op: 'gt', value: -15 },
          },
        ],
        zones: [
          {
            id: 'office-1',
            kind: 'office',
            schedule: { occupied: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }] },
            gateways: [
              {
                id: 'gw-office-1',
                capabilities: ['hvac'],
                baselineKw: 20,
                points: [
                  { device: 'ahu', point: 'zone_temp', role: 'zone_temp', unit: 'degC' },
                  { device: 'ahu', point: 'heat_sp', role: 'setpoint_heat', unit: 'degC', writable: true },
                  { device: 'ahu', point: 'cool_sp', role: 'setpoint_cool', unit: 'degC', writable: true },
                  { device: 'ahu', point: 'heat_valve', role: 'heating_valve', unit: '%', writable: true },
                  { device: 'ahu', point: 'cool_valve', role: 'cooling_valve', unit: '%', writable: true },
                  { device: 'ahu', point: 'co2', role: 'co2', unit: 'ppm' },
                  { device: 'ahu', point: 'fresh_air', role: 'ventilation', unit: '%', writable: true },
                  { device: 'meter', point: 'power', role: 'power_kw', unit: 'kW' },
                ],
              },
            ],
          },
          {
            id: 'cold-1',
            kind: 'cold-room',
            coldChain: { maxC: -15, maxMinutes: 10 },
            gateways: [
              {
                id: 'gw-cold',
                capabilities: ['cold-room'],
                baselineKw: 8,
                points: [
                  { device: 'coldroom', point: 'temperature', role: 'cold_room_temp', unit: 'degC', equipment: 'freezer 1' },
                  { device: 'coldroom', point: 'setpoint', role: 'cold_room_setpoint', unit: 'degC', writable: true },
                  { device: 'coldroom', point: 'compressor_running', role: 'compressor_running', equipment: 'main compressor' },
                  { device: 'coldroom', point: 'compressor_starts', role: 'compressor_starts', equipment: 'main compressor' },
                  { device: 'coldroom', point: 'defrost', role: 'defrost', writable: true },
                  { device: names.relayDevice ?? 'gpio', point: names.relayPoint ?? 'backup_compressor_relay', role: 'backup_compressor_relay', writable: true, equipment: 'backup compressor' },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

export function facility(names: FixtureNames = {}): FacilityIndex {
  return new FacilityIndex(facilityModel(names));
}

/**
 * A large synthetic site for planner tests and benchmarks: `zones` office zones of `perZone`
 * gateways with a mix of capabilities, plus one cold room.
 */
export function syntheticFacility(zones: number, perZone: number, siteId = 'big'): FacilityIndex {
  const heat = { device: 'ahu', point: 'heat_sp', role: 'setpoint_heat', writable: true };
  const cool = { device: 'ahu', point: 'cool_sp', role: 'setpoint_cool', writable: true };
  const lights = { device: 'lights', point: 'circuit', role: 'lighting', writable: true };
  const kinds = [
    [heat, cool, lights],
    [heat, cool, { device: 'ahu', point: 'heat_valve', role: 'heating_valve', writable: true }, { device: 'ahu', point: 'cool_valve', role: 'cooling_valve', writable: true }],
    [heat, cool, lights],
    [heat, cool, { device: 'plug', point: 'chargers', role: 'sheddable_load', writable: true }],
    [heat, lights],
  ];
  let n = 0;
  const model: FacilityModel = {
    v: 1,
    sites: [
      {
        id: siteId,
        utcOffsetMin: 60,
        serviceIntervalH: 2000,
        maxStartsPerHour: 6,
        interlocks: [],
        zones: [
          ...Array.from({ length: zones }, (_, z) => ({
            id: `z${z}`,
            kind: 'office' as const,
            schedule: { occupied: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }] },
            gateways: Array.from({ length: perZone }, () => {
              const i = n;
              n += 1;
              return { id: `gw${i}`, capabilities: ['hvac'], baselineKw: 5 + (i % 7), points: kinds[i % kinds.length] ?? [] };
            }),
          })),
          {
            id: 'cold',
            kind: 'cold-room' as const,
            gateways: [{ id: 'gw-cold', capabilities: ['cold-room'], baselineKw: 30, points: [{ device: 'cr', point: 'temp', role: 'cold_room_temp' }] }],
          },
        ],
      },
    ],
  };
  return new FacilityIndex(model);
}
