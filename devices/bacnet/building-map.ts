/**
 * The BACnet controllers of the simulated building and their objects: two VAV boxes and the
 * chilled-water plant controller. Names, descriptions and units are what a site survey finds (and
 * what discovery turns into a draft profile and tag proposals). Each object reads the physics
 * (HvacPlant, FacilityModel) or, when commandable, is what the physics reads back through the
 * CommandArbiter.
 */
import type { FacilityModel } from '../physics/model.js';
import type { HvacCommandKey, HvacPlant } from '../physics/hvac-plant.js';
import { HVAC_DEFAULTS } from '../physics/hvac-plant.js';
import { VAV_IDS, type VavId } from '../physics/vav.js';
import { EngineeringUnits as U, ObjectType as T } from './bacnet-lib.js';
import type { DeviceIdentity } from './device-object.js';
import { BacnetPoint } from './objects.js';

export interface DeviceDefinition {
  readonly identity: DeviceIdentity;
  readonly points: readonly BacnetPoint[];
  /** Which commandable point carries which physics command. */
  readonly commands: Partial<Record<HvacCommandKey, BacnetPoint>>;
}

export const VAV_INSTANCES: Readonly<Record<VavId, number>> = { 'VAV-1': 1001, 'VAV-2': 1002 };
export const PLANT_INSTANCE = 2001;

function vavDevice(id: VavId, plant: HvacPlant): DeviceDefinition {
  const n = id === 'VAV-1' ? 1 : 2;
  const vav = (): (typeof plant.vavs)[VavId] => plant.vavs[id];
  const zoneTemp = new BacnetPoint({ type: T.ANALOG_INPUT, instance: 1, name: `${id} Zone Temp`, description: `Zone ${n} air temperature sensor`, units: U.DEGREES_CELSIUS, covIncrement: 0.1, sense: () => vav().zoneC });
  const airflow = new BacnetPoint({ type: T.ANALOG_INPUT, instance: 2, name: `${id} Airflow`, description: `Zone ${n} discharge air flow sensor`, units: U.LITERS_PER_SECOND, covIncrement: 5, sense: () => vav().airflowLs });
  const damper = new BacnetPoint({ type: T.ANALOG_OUTPUT, instance: 1, name: `${id} Damper`, description: `Zone ${n} discharge air damper command`, units: U.PERCENT, covIncrement: 1, relinquishDefault: HVAC_DEFAULTS[`${id}.damper`], min: 0, max: 100 });
  const setpoint = new BacnetPoint({ type: T.ANALOG_VALUE, instance: 1, name: `${id} Zone Setpoint`, description: `Zone ${n} air temperature cooling setpoint`, units: U.DEGREES_CELSIUS, covIncrement: 0.1, commandable: true, relinquishDefault: HVAC_DEFAULTS[`${id}.setpoint`], min: 12, max: 32 });
  const occupancy = new BacnetPoint({ type: T.BINARY_VALUE, instance: 1, name: `${id} Occupancy`, description: `Zone ${n} occupied mode (schedule)`, commandable: true, relinquishDefault: 0, activeText: 'Occupied', inactiveText: 'Unoccupied' });
  return {
    identity: { instance: VAV_INSTANCES[id], name: id, description: `VAV box serving zone ${n}`, modelName: 'SG-VAV-100', location: `Floor 1, zone ${n}` },
    points: [zoneTemp, airflow, damper, setpoint, occupancy],
    commands: { [`${id}.damper`]: damper, [`${id}.setpoint`]: setpoint, [`${id}.occupancy`]: occupancy },
  };
}

function plantDevice(plant: HvacPlant, model: FacilityModel): DeviceDefinition {
  const p = (): typeof plant.plant => plant.plant;
  const supply = new BacnetPoint({ type: T.ANALOG_INPUT, instance: 1, name: 'CHW Supply Temp', description: 'Chilled water supply temperature sensor', units: U.DEGREES_CELSIUS, covIncrement: 0.1, sense: () => p().chwSupplyC });
  const ret = new BacnetPoint({ type: T.ANALOG_INPUT, instance: 2, name: 'CHW Return Temp', description: 'Chilled water return temperature sensor', units: U.DEGREES_CELSIUS, covIncrement: 0.1, sense: () => p().chwReturnC });
  const oat = new BacnetPoint({ type: T.ANALOG_INPUT, instance: 3, name: 'Outside Air Temp', description: 'Outside air temperature sensor', units: U.DEGREES_CELSIUS, covIncrement: 0.2, sense: () => model.outdoorC });
  const chwSp = new BacnetPoint({ type: T.ANALOG_VALUE, instance: 1, name: 'CHW Setpoint', description: 'Chilled water supply temperature setpoint', units: U.DEGREES_CELSIUS, covIncrement: 0.1, commandable: true, relinquishDefault: HVAC_DEFAULTS['plant.chwSetpoint'], min: 4, max: 15 });
  const load = new BacnetPoint({ type: T.ANALOG_VALUE, instance: 2, name: 'Plant Load kW', description: 'Chilled water plant cooling load', units: U.KILOWATTS, covIncrement: 0.5, sense: () => p().loadKw });
  const enable = new BacnetPoint({ type: T.BINARY_OUTPUT, instance: 1, name: 'Chiller Enable', description: 'Chiller enable command', relinquishDefault: 0, activeText: 'Enabled', inactiveText: 'Disabled' });
  const pump = new BacnetPoint({ type: T.BINARY_INPUT, instance: 1, name: 'Pump Status', description: 'Chilled water pump run status', activeText: 'Running', inactiveText: 'Stopped', sense: () => (p().pumpRunning ? 1 : 0) });
  const alarm = new BacnetPoint({ type: T.BINARY_INPUT, instance: 2, name: 'Chiller Alarm', description: 'Chiller alarm (supply water above setpoint)', activeText: 'Alarm', inactiveText: 'Normal', sense: () => (p().alarm ? 1 : 0) });
  return {
    identity: { instance: PLANT_INSTANCE, name: 'CHW-PLANT', description: 'Chilled water plant controller', modelName: 'SG-CHW-200', location: 'Plant room' },
    points: [supply, ret, oat, chwSp, load, enable, pump, alarm],
    commands: { 'plant.chwSetpoint': chwSp, 'plant.chillerEnable': enable },
  };
}

export function buildingDevices(plant: HvacPlant, model: FacilityModel): DeviceDefinition[] {
  return [...VAV_IDS.map((id) => vavDevice(id, plant)), plantDevice(plant, model)];
}
