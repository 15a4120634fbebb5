/**
 * "Did you mean": the closest known name within a small edit distance, none for a word that is
 * merely short or unrelated.
 */
import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../shared/kit/suggest.js';

describe('suggest', () => {
  it('measures insertions, deletions and substitutions', () => {
    expect(editDistance('devices', 'devicez')).toBe(1);
    expect(editDistance('temp', 'tmp')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests the nearest name, case-insensitively, and nothing for an unrelated or exact word', () => {
    expect(closest('pollIntervalMS', ['pollIntervalMs', 'points'])).toBe('pollIntervalMs');
    expect(closest('supply_air_tmp', ['return_air_temp', 'supply_air_temp'])).toBe('supply_air_temp');
    expect(closest('fan', ['fanspeed', 'pump'])).toBeUndefined();
    expect(closest('ab', ['xy'])).toBeUndefined(); // two edits in two letters is another word
    expect(closest('devices', ['devices'])).toBeUndefined();
    expect(didYouMean('adress', ['address', 'unit'])).toBe('; did you mean "address"?');
    expect(didYouMean('zzz', ['address'])).toBe('');
  });
});
