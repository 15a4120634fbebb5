/** Table-driven: BACnet status to quality, application data to point values and back, settings defaults. */
import { ApplicationTag, ObjectType, PropertyIdentifier, Reliability } from '@bacnet-js/client';
import { describe, expect, it } from 'vitest';
import type { PointSpec } from '../../../edge/drivers/driver.js';
import { resolveAddress, resolveConnection } from '../../../edge/drivers/bacnet/settings.js';
import { appDataToPointValue, qualityOf, toWriteData } from '../../../edge/drivers/bacnet/values.js';

const FAULT = 0b0010;
const OVERRIDDEN = 0b0100;
const OUT_OF_SERVICE = 0b1000;
const IN_ALARM = 0b0001;

describe('qualityOf', () => {
  it.each([
    [{}, 'good', undefined],
    [{ statusFlags: [IN_ALARM] }, 'good', undefined],
    [{ statusFlags: [FAULT] }, 'bad', 'status-flags: fault'],
    [{ statusFlags: [FAULT], reliability: Reliability.OVER_RANGE }, 'bad', 'reliability over-range'],
    [{ statusFlags: [0], reliability: Reliability.NO_SENSOR }, 'bad', 'reliability no-sensor'],
    [{ statusFlags: [OUT_OF_SERVICE], reliability: Reliability.NO_FAULT_DETECTED }, 'uncertain', 'out-of-service: the value is set by hand, not measured'],
    [{ statusFlags: [OVERRIDDEN] }, 'uncertain', 'status-flags: overridden by a local hand/off/auto switch'],
  ] as const)('%j -> %s', (status, quality, cause) => {
    expect(qualityOf(status)).toEqual({ quality, ...(cause ? { cause } : {}) });
  });
});

const av = resolveAddress({ objectType: 'analog-value', instance: 1 })!;
const bo = resolveAddress({ objectType: 'binary-output', instance: 1 })!;
const msv = resolveAddress({ objectType: 'multi-state-value', instance: 1 })!;
const point = (scale = 1, offset = 0): PointSpec => ({ name: 'p', address: {}, writable: true, scale, offset, deadband: 0, pollIntervalMs: 1000 });

describe('values', () => {
  it.each([
    [{ type: ApplicationTag.REAL, value: 21.5 }, av, 21.5],
    [{ type: ApplicationTag.ENUMERATED, value: 1 }, bo, true],
    [{ type: ApplicationTag.ENUMERATED, value: 0 }, bo, false],
    [{ type: ApplicationTag.UNSIGNED_INTEGER, value: 3 }, msv, 3],
    [{ type: ApplicationTag.CHARACTER_STRING, value: 'AHU 3' }, av, 'AHU 3'],
    [{ type: ApplicationTag.NULL, value: null }, av, null],
  ] as const)('%j on %j reads as %j', (data, address, value) => {
    expect(appDataToPointValue(data, address)).toBe(value);
  });

  it.each([
    [av, point(), 42.5, { type: ApplicationTag.REAL, value: 42.5 }],
    [av, point(0.1, 10), 20, { type: ApplicationTag.REAL, value: 100 }],
    [bo, point(), true, { type: ApplicationTag.ENUMERATED, value: 1 }],
    [msv, point(), 2, { type: ApplicationTag.UNSIGNED_INTEGER, value: 2 }],
  ] as const)('writes %j with %j: %j -> %j', (address, spec, value, data) => {
    expect(toWriteData(spec, address, value, undefined)).toEqual(data);
  });

  it('refuses a negative value for an unsigned property', () => {
    expect(() => toWriteData(point(), msv, -1, undefined)).toThrow(/unsigned/);
  });
});

describe('settings', () => {
  it('applies defaults and parses routed addresses', () => {
    expect(resolveConnection({ deviceInstance: 7, deviceAddress: '10.0.0.5', network: { dnet: 5, dadr: '0a0b' }, bbmd: { address: '10.1.0.1' } })).toMatchObject({
      bindHost: '0.0.0.0',
      bindPort: 47808,
      deviceAddress: '10.0.0.5:47808',
      network: { dnet: 5, dadr: [10, 11] },
      bbmd: { address: '10.1.0.1:47808', ttlSeconds: 300 },
      apduTimeoutMs: 3000,
      maxConcurrentRequests: 2,
      covLifetimeSeconds: 300,
    });
    expect(resolveAddress({ objectType: 'analog-output', instance: 3 })).toEqual({
      objectType: ObjectType.ANALOG_OUTPUT,
      instance: 3,
      property: PropertyIdentifier.PRESENT_VALUE,
      priority: 12,
      cov: 'unconfirmed',
    });
    expect(resolveAddress({ objectType: 'no-such-type', instance: 3 })).toBeUndefined();
  });
});
