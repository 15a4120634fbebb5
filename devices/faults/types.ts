/**
 * Fault kinds the simulator can inject at run time, as TypeBox schemas (the control API
 * validates POST bodies with them, and the same types are used in code).
 */
import { Type, type Static } from '@sinclair/typebox';

export const SIM_DEVICES = ['ahu', 'meter', 'freezer', 'gpio'] as const;
export type SimDevice = (typeof SIM_DEVICES)[number];

/** Sensor values a fault can distort, named `<device>.<profile point name>`. */
export const SENSOR_TARGETS = [
  'ahu.supply_air_temp',
  'ahu.return_air_temp',
  'ahu.outdoor_air_temp',
  'ahu.mixed_air_temp',
  'ahu.filter_dp',
  'ahu.filter_alarm',
  'ahu.freeze_stat',
  'freezer.temperature',
  'freezer.door_open',
  'freezer.compressor_running',
  'meter.active_power',
  'meter.voltage',
  'meter.current',
  'meter.energy_total',
  'gpio.door_contact',
  'gpio.occupancy',
] as const;
export type SensorTarget = (typeof SENSOR_TARGETS)[number];

const literals = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );

const Target = literals(SENSOR_TARGETS, 'sensor to distort, `<device>.<point>`');
const Device = literals(SIM_DEVICES, 'simulated device');
const Unit = Type.Integer({ minimum: 0, maximum: 247, description: 'Modbus unit id (meter bus only); omit for every unit' });

export const DriftFault = Type.Object(
  {
    kind: Type.Literal('drift'),
    target: Target,
    unit: Type.Optional(Unit),
    ratePerHour: Type.Number({ description: 'offset added per simulated hour since injection (engineering units)' }),
  },
  { additionalProperties: false },
);

export const StuckFault = Type.Object(
  {
    kind: Type.Literal('stuck'),
    target: Target,
    unit: Type.Optional(Unit),
    value: Type.Optional(Type.Union([Type.Number(), Type.Boolean()], { description: 'value to stick at; default: the value at the first read after injection' })),
  },
  { additionalProperties: false },
);

export const SpikesFault = Type.Object(
  {
    kind: Type.Literal('spikes'),
    target: Target,
    unit: Type.Optional(Unit),
    probability: Type.Number({ minimum: 0, maximum: 1, description: 'chance that one read is a spike' }),
    magnitude: Type.Number({ description: 'spike size (added with random sign); booleans flip' }),
  },
  { additionalProperties: false },
);

export const ProbeFailureFault = Type.Object(
  {
    kind: Type.Literal('probe-failure'),
    target: Target,
    unit: Type.Optional(Unit),
  },
  { additionalProperties: false, description: 'a failed probe: the controller reports NaN for the sensor (numbers only), as many do' },
);

export const OfflineFault = Type.Object(
  {
    kind: Type.Literal('offline'),
    device: Device,
    unit: Type.Optional(Unit),
  },
  { additionalProperties: false, description: 'the device (or one meter unit) stops answering' },
);

export const SlowFault = Type.Object(
  {
    kind: Type.Literal('slow'),
    device: Device,
    unit: Type.Optional(Unit),
    delayMs: Type.Integer({ minimum: 0, maximum: 120_000, description: 'extra delay before each answer' }),
  },
  { additionalProperties: false },
);

export const ExceptionFault = Type.Object(
  {
    kind: Type.Literal('exception'),
    device: literals(['ahu', 'meter'] as const, 'Modbus device'),
    unit: Type.Optional(Unit),
    code: Type.Integer({ minimum: 1, maximum: 255, description: 'Modbus exception code (2 illegal address, 4 device failure, 6 busy, ...)' }),
    register: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'only requests covering this address fail; omit for all requests' })),
  },
  { additionalProperties: false },
);

export const OpcuaRestartFault = Type.Object(
  {
    kind: Type.Literal('opcua-restart'),
    downMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'how long the server stays down; default 500' })),
  },
  { additionalProperties: false, description: 'stop and restart the OPC UA server on the same port (one-shot)' },
);

export const CompressorFailureFault = Type.Object(
  { kind: Type.Literal('compressor-failure') },
  { additionalProperties: false, description: 'main cold-room compressor will not start; room warms steadily' },
);

export const HeatWaveFault = Type.Object(
  {
    kind: Type.Literal('heat-wave'),
    offsetK: Type.Number({ minimum: -30, maximum: 30, description: 'added to the outdoor temperature once the ramp is over (K); negative for a cold snap' }),
    rampMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1440, description: 'simulated minutes over which the offset builds up; default 30' })),
  },
  { additionalProperties: false, description: 'weather: the outdoor temperature of the whole facility rises (AHU outside and mixed air, zone, BACnet plant); inject it into several simulators for a fleet-wide cause' },
);

const BacnetDevice = Type.Integer({ minimum: 0, maximum: 4_194_302, description: 'BACnet device instance (1001, 1002, 2001, ...); omit for every simulated BACnet device' });

export const BacnetOfflineFault = Type.Object(
  { kind: Type.Literal('bacnet-offline'), device: Type.Optional(BacnetDevice) },
  { additionalProperties: false, description: 'the BACnet device stops answering (Who-Is, reads, writes, COV) until cleared' },
);

export const BacnetSlowFault = Type.Object(
  {
    kind: Type.Literal('bacnet-slow'),
    device: Type.Optional(BacnetDevice),
    delayMs: Type.Integer({ minimum: 0, maximum: 120_000, description: 'extra delay before each request is handled' }),
  },
  { additionalProperties: false },
);

export const BacnetNoSegmentationFault = Type.Object(
  {
    kind: Type.Literal('bacnet-no-segmentation'),
    device: Type.Optional(BacnetDevice),
    maxApdu: Type.Integer({ minimum: 50, maximum: 1476, description: 'max-APDU the device accepts and announces (50, 128, 206, 480, 1024 or 1476 octets); longer replies are aborted (segmentation-not-supported)' }),
  },
  { additionalProperties: false },
);

export const BacnetNoRpmFault = Type.Object(
  {
    kind: Type.Literal('bacnet-no-rpm'),
    device: Type.Optional(BacnetDevice),
  },
  { additionalProperties: false, description: 'the device has no ReadPropertyMultiple, like many small controllers: it rejects RPM (unrecognized-service) and leaves it out of protocol-services-supported' },
);

export const BacnetRestartFault = Type.Object(
  {
    kind: Type.Literal('bacnet-restart'),
    device: Type.Optional(BacnetDevice),
    downMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'how long the device stays silent; default 500' })),
  },
  { additionalProperties: false, description: 'the device goes silent, comes back with every COV subscription dropped and broadcasts I-Am (one-shot)' },
);

export const FaultSpec = Type.Union([
  DriftFault,
  StuckFault,
  SpikesFault,
  ProbeFailureFault,
  OfflineFault,
  SlowFault,
  ExceptionFault,
  OpcuaRestartFault,
  CompressorFailureFault,
  HeatWaveFault,
  BacnetOfflineFault,
  BacnetSlowFault,
  BacnetNoSegmentationFault,
  BacnetNoRpmFault,
  BacnetRestartFault,
]);
export type FaultSpec = Static<typeof FaultSpec>;
export type FaultKind = FaultSpec['kind'];

export const FAULT_SCHEMAS: Readonly<Record<FaultKind, typeof FaultSpec.anyOf[number]>> = {
  drift: DriftFault,
  stuck: StuckFault,
  spikes: SpikesFault,
  'probe-failure': ProbeFailureFault,
  offline: OfflineFault,
  slow: SlowFault,
  exception: ExceptionFault,
  'opcua-restart': OpcuaRestartFault,
  'compressor-failure': CompressorFailureFault,
  'heat-wave': HeatWaveFault,
  'bacnet-offline': BacnetOfflineFault,
  'bacnet-slow': BacnetSlowFault,
  'bacnet-no-segmentation': BacnetNoSegmentationFault,
  'bacnet-no-rpm': BacnetNoRpmFault,
  'bacnet-restart': BacnetRestartFault,
};

export type ActiveFault = FaultSpec & {
  readonly id: string;
  /** Sim time of injection, ms since epoch. */
  readonly injectedAt: number;
};
