/**
 * A bench-only in-memory device: reads return at once, so a benchmark measures the gateway's own
 * pipeline (and what follows it), not a device's speed. `value(tick, index)` shapes the data.
 */
import { Type } from '@sinclair/typebox';
import type { DeviceSpec, Driver, DriverManifest, PointSpec, Reading } from '../edge/drivers/driver.js';

export function syntheticManifest(value: (tick: number, index: number) => number): DriverManifest {
  return {
    protocol: 'bench-synthetic',
    profileProtocol: 'bench',
    description: 'in-memory source for benchmarks',
    connectionSchema: Type.Object({}),
    addressSchema: Type.Object({}),
    capabilities: { subscribe: false, browse: false },
    validate: () => [],
    valueType: () => 'double',
    create(device: DeviceSpec): Driver {
      let tick = 0;
      return {
        initialize: async () => undefined,
        read: async (points: readonly PointSpec[]): Promise<Reading[]> => {
          tick++;
          const ts = Date.now();
          return points.map((p, i) => ({ device: device.id, point: p.name, value: value(tick, i), quality: 'good', ts }));
        },
        write: async () => undefined,
        stop: async () => undefined,
      };
    },
  };
}
