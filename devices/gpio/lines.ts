/**
 * The simulated chip's lines (BCM numbers) and how each maps onto the physics.
 */
import type { FaultRegistry } from '../faults/registry.js';
import type { FacilityModel } from '../physics/model.js';

interface LineBase {
  readonly line: number;
  readonly name: string;
  readonly description: string;
}

export interface InputLine extends LineBase {
  readonly direction: 'in';
  /** Raw electrical level now. */
  sense(model: FacilityModel, faults: FaultRegistry): 0 | 1;
}

export interface OutputLine extends LineBase {
  readonly direction: 'out';
  readonly initial: 0 | 1;
  drive(model: FacilityModel, level: 0 | 1): void;
}

export type GpioLine = InputLine | OutputLine;

const bit = (b: boolean): 0 | 1 => (b ? 1 : 0);

export const GPIO_LINES: readonly GpioLine[] = [
  {
    line: 17,
    name: 'door_contact',
    description: 'Cold-room door contact (raw 1 = door closed, magnet at the reed switch)',
    direction: 'in',
    sense: (m, f) => bit(f.sensor('gpio.door_contact', !m.coldRoom.doorOpen)),
  },
  {
    line: 27,
    name: 'occupancy',
    description: 'Office occupancy sensor (1 = occupied)',
    direction: 'in',
    sense: (m, f) => bit(f.sensor('gpio.occupancy', m.occupied)),
  },
  {
    line: 22,
    name: 'backup_compressor_relay',
    description: 'Backup compressor relay (1 = on, cools the cold room)',
    direction: 'out',
    initial: 0,
    drive: (m, level) => m.setBackupCompressor(level === 1),
  },
  {
    line: 23,
    name: 'ahu_enable_relay',
    description: 'AHU remote enable relay (1 = enabled; fan runs only when enabled and commanded)',
    direction: 'out',
    initial: 1,
    drive: (m, level) => m.setAhuEnable(level === 1),
  },
];
