/**
 * Fleet keys (edge/federation/fleet-priors.ts): a point's key by profile or by markers and unit;
 * a key the hub would refuse is left out with the reason, so one point's odd name cannot make the
 * hub refuse the gateway's whole prior request.
 */
import { describe, expect, it } from 'vitest';
import { fleetKeys } from '../../edge/federation/fleet-priors.js';

describe('fleet keys', () => {
  it('keys by profile and point, or by markers and unit, and leaves out what the wire refuses', () => {
    const refused: string[] = [];
    const keys = fleetKeys(
      [
        { ref: 'ahu1/supply_air_temp', profile: 'ahu-modbus', point: 'supply_air_temp', tags: ['supply', 'air', 'temp', 'sensor'], unit: 'degC' },
        { ref: 'ahu1/fan_status', profile: 'ahu-modbus', point: 'fan_status' },
        { ref: 'odd/temp', profile: 'vendor\u0007profile', point: 'temp' },
        { ref: 'long/temp', profile: 'p', point: 'x'.repeat(400) },
      ],
      'tags',
      (ref, _key, problem) => refused.push(`${ref}: ${problem}`),
    );
    expect([...keys]).toEqual([
      ['ahu1/supply_air_temp', 'tags:air,sensor,supply,temp|degC'],
      ['ahu1/fan_status', 'profile:ahu-modbus#fan_status'],
    ]);
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatch(/^odd\/temp: .*Expected string to match/);
    expect(refused[1]).toMatch(/^long\/temp: .*300/);
  });
});
