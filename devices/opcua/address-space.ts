/**
 * Builds Objects/Facility/ColdRoom in a node-opcua server and keeps its values in step with the
 * physics. Values are set from source (not getters) so monitored items get real data changes.
 */
import { DataType, StatusCodes, Variant, standardUnits, type OPCUAServer, type UAVariable } from 'node-opcua';
import type { FaultRegistry } from '../faults/registry.js';
import type { SensorTarget } from '../faults/types.js';
import type { FacilityModel } from '../physics/model.js';

export interface ColdRoomVariableSpec {
  /** Browse name, also the node id suffix: ns=1;s=ColdRoom.<name>. */
  readonly name: string;
  readonly description: string;
  readonly dataType: 'Double' | 'Boolean';
  readonly unit?: string;
  readonly writable?: boolean;
  readonly read: (model: FacilityModel, faults: FaultRegistry) => number | boolean;
}

const sensor = <T extends number | boolean>(faults: FaultRegistry, target: SensorTarget, v: T): T => faults.sensor(target, v);

export const HIGH_TEMPERATURE_ALARM_C = -12;

export const COLD_ROOM_VARIABLES: readonly ColdRoomVariableSpec[] = [
  { name: 'Temperature', description: 'Cold-room air temperature', dataType: 'Double', unit: 'degC', read: (m, f) => sensor(f, 'freezer.temperature', m.coldRoom.temperatureC) },
  { name: 'DoorOpen', description: 'Door open (from the door switch)', dataType: 'Boolean', read: (m, f) => sensor(f, 'freezer.door_open', m.coldRoom.doorOpen) },
  { name: 'CompressorRunning', description: 'Main compressor running', dataType: 'Boolean', read: (m, f) => sensor(f, 'freezer.compressor_running', m.coldRoom.compressorRunning) },
  { name: 'Setpoint', description: 'Temperature setpoint (writable)', dataType: 'Double', unit: 'degC', writable: true, read: (m) => m.coldRoom.setpointC },
  { name: 'BackupCompressor', description: 'Backup compressor relay state (mirror of GPIO 22, read-only)', dataType: 'Boolean', read: (m) => m.coldRoom.backupCompressor },
  { name: 'CompressorFault', description: 'Compressor fault alarm: cooling called for and the main compressor not running (latched until it runs)', dataType: 'Boolean', read: (m) => m.coldRoom.compressorFault },
  { name: 'HighTemperatureAlarm', description: `Temperature above ${HIGH_TEMPERATURE_ALARM_C} degC`, dataType: 'Boolean', read: (m, f) => sensor(f, 'freezer.temperature', m.coldRoom.temperatureC) > HIGH_TEMPERATURE_ALARM_C },
];

export interface ColdRoomNodes {
  readonly namespaceIndex: number;
  /** Copy current physics values into the address space. */
  refresh(): void;
}

export function buildColdRoomAddressSpace(server: OPCUAServer, model: FacilityModel, faults: FaultRegistry): ColdRoomNodes {
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error('OPC UA address space not initialised');
  const ns = addressSpace.getOwnNamespace();
  const facility = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Facility', nodeId: 's=Facility' });
  const coldRoom = ns.addFolder(facility, { browseName: 'ColdRoom', nodeId: 's=ColdRoom' });

  const variables: Array<{ spec: ColdRoomVariableSpec; node: UAVariable }> = [];
  for (const spec of COLD_ROOM_VARIABLES) {
    const dataType = spec.dataType === 'Double' ? DataType.Double : DataType.Boolean;
    const common = {
      organizedBy: coldRoom,
      browseName: spec.name,
      nodeId: `s=ColdRoom.${spec.name}`,
      description: spec.unit ? `${spec.description} [${spec.unit}]` : spec.description,
      dataType: spec.dataType,
      accessLevel: spec.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: spec.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      minimumSamplingInterval: 0,
    };
    // Temperatures are AnalogItems, as a real controller's are: EngineeringUnits and EURange properties.
    const node: UAVariable =
      spec.unit === 'degC'
        ? ns.addAnalogDataItem({ ...common, engineeringUnits: standardUnits.degree_celsius, engineeringUnitsRange: { low: -50, high: 50 } })
        : ns.addVariable(common);
    node.setValueFromSource(new Variant({ dataType, value: spec.read(model, faults) }), StatusCodes.Good);
    if (spec.name === 'Setpoint') {
      // Client writes land in the node; push them into the physics.
      node.on('value_changed', (dv) => {
        const v: unknown = dv.value.value;
        if (typeof v === 'number' && Number.isFinite(v) && v !== model.coldRoom.setpointC) model.setColdRoomSetpoint(v);
      });
    }
    variables.push({ spec, node });
  }

  return {
    namespaceIndex: ns.index,
    refresh(): void {
      for (const { spec, node } of variables) {
        const value = spec.read(model, faults);
        const current: unknown = node.readValue().value.value;
        if (current === value) continue;
        node.setValueFromSource(new Variant({ dataType: spec.dataType === 'Double' ? DataType.Double : DataType.Boolean, value }), StatusCodes.Good);
      }
    },
  };
}
