/**
 * Builds the device profiles from the simulators' own maps, so devices/profiles/*.yaml always match
 * what the servers serve. `npx tsx devices/profiles/write.ts` regenerates the YAML files; a test
 * fails when the committed files drift from the maps.
 */
import { Document, isPair, isScalar, visit } from 'yaml';
import { FaultRegistry } from '../faults/registry.js';
import { GPIO_LINES } from '../gpio/lines.js';
import { ahuPoints } from '../modbus/ahu-map.js';
import { meterPoints } from '../modbus/meter-map.js';
import type { RegisterPoint } from '../modbus/register-map.js';
import { COLD_ROOM_VARIABLES } from '../opcua/address-space.js';
import { FacilityModel } from '../physics/model.js';
import { DEMO_TAGS } from './tags.js';

export interface ProfileDoc {
  readonly profile: string;
  readonly protocol: 'modbus' | 'opcua' | 'gpio';
  readonly manufacturer: string;
  readonly model: string;
  readonly description: string;
  readonly points: ReadonlyArray<Record<string, unknown>>;
}

const MANUFACTURER = 'Swarmgate Simulated Equipment';

function modbusPoint(p: RegisterPoint): Record<string, unknown> {
  const address: Record<string, unknown> = { table: p.table, register: p.register, type: p.type };
  if (p.wordOrder && p.wordOrder !== 'big') address.wordOrder = p.wordOrder;
  if (p.byteOrder && p.byteOrder !== 'big') address.byteOrder = p.byteOrder;
  if (p.length !== undefined) address.length = p.length;
  if (p.bit !== undefined) address.bit = p.bit;
  return {
    name: p.name,
    description: p.description,
    ...(p.unit ? { unit: p.unit } : {}),
    address,
    ...(p.scale !== undefined && p.scale !== 1 ? { scale: p.scale } : {}),
    ...(p.set ? { writable: true } : {}),
    ...(p.limits ? { limits: { min: p.limits.min, max: p.limits.max } } : {}),
    ...(p.deadband !== undefined ? { deadband: p.deadband } : {}),
  };
}

/** The profiles with their points' Haystack markers (devices/profiles/tags.ts). */
export function buildProfiles(): Record<string, ProfileDoc> {
  return Object.fromEntries(
    Object.entries(untaggedProfiles()).map(([file, doc]) => {
      const tags = DEMO_TAGS[file] ?? {};
      const points = doc.points.map((p) => {
        const markers = typeof p.name === 'string' ? tags[p.name] : undefined;
        return markers ? { ...p, tags: markers.split(' ') } : p;
      });
      return [file, { ...doc, points }];
    }),
  );
}

function untaggedProfiles(): Record<string, ProfileDoc> {
  const model = new FacilityModel();
  const faults = new FaultRegistry({ now: () => model.now() });
  return {
    'ahu-modbus.yaml': {
      profile: 'ahu-modbus',
      protocol: 'modbus',
      manufacturer: MANUFACTURER,
      model: 'AHU-100',
      description: 'Air-handling unit with supply fan, outdoor-air damper and tempering coil (Modbus TCP, any unit id)',
      points: ahuPoints(model, faults).map(modbusPoint),
    },
    'energy-meter-modbus.yaml': {
      profile: 'energy-meter-modbus',
      protocol: 'modbus',
      manufacturer: MANUFACTURER,
      model: 'EM-300',
      description: 'Three-phase energy meter on RS-485 (Modbus RTU); energy counter is uint32 kWh x 10, low word first',
      points: meterPoints(model.meters.main, 1, 'little', { ctRatio: 100, demandPeriodMin: 15, pulseOutput: false }).map(modbusPoint),
    },
    'cold-room-opcua.yaml': {
      profile: 'cold-room-opcua',
      protocol: 'opcua',
      manufacturer: MANUFACTURER,
      model: 'CR-18',
      description: 'Freezer cold room controller (OPC UA, nodes under Objects/Facility/ColdRoom in namespace 1)',
      points: COLD_ROOM_VARIABLES.map((v) => ({
        name: v.name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase(),
        description: v.description,
        ...(v.unit ? { unit: v.unit } : {}),
        address: { nodeId: `ns=1;s=ColdRoom.${v.name}`, dataType: v.dataType },
        ...(v.writable ? { writable: true, limits: { min: -40, max: 10 } } : {}),
        ...(v.dataType === 'Double' && !v.writable ? { deadband: 0.05 } : {}),
      })),
    },
    'facility-gpio.yaml': {
      profile: 'facility-gpio',
      protocol: 'gpio',
      manufacturer: MANUFACTURER,
      model: 'IO-4',
      description: 'Facility digital I/O on the gateway header (BCM numbering)',
      points: GPIO_LINES.map((l) => ({
        name: l.name,
        description: l.description,
        address: l.direction === 'in' ? { pin: l.line, direction: 'in', edge: 'both' } : { pin: l.line, direction: 'out', initial: l.initial },
        ...(l.direction === 'out' ? { writable: true } : {}),
      })),
    },
  };
}

export function profileYaml(doc: ProfileDoc): string {
  const yaml = new Document(doc);
  // Addresses, limits and tags read best on one line, as in the hand-written examples.
  visit(yaml, {
    Map(_key, node, path) {
      const parent = path[path.length - 1];
      if (isPair(parent) && isScalar(parent.key) && ['address', 'limits'].includes(String(parent.key.value))) node.flow = true;
    },
    Seq(_key, node, path) {
      const parent = path[path.length - 1];
      if (isPair(parent) && isScalar(parent.key) && parent.key.value === 'tags') node.flow = true;
    },
  });
  return `# Generated from the simulator maps by devices/profiles/write.ts; edit the maps, not this file.\n${yaml.toString({ lineWidth: 0 })}`;
}
