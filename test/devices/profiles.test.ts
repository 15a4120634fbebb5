import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { buildProfiles, profileYaml } from '../../devices/profiles/build.js';
import { ProfileSchema } from '../../edge/config/schema.js';

const dir = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));

describe('device profiles', () => {
  const profiles = buildProfiles();

  it.each(Object.keys(profiles))('%s matches the simulator maps (regenerate with npx tsx devices/profiles/write.ts)', (file) => {
    const doc = profiles[file];
    if (!doc) throw new Error(file);
    expect(readFileSync(`${dir}${file}`, 'utf8')).toBe(profileYaml(doc));
  });

  it.each(Object.keys(profiles))('%s is a valid profile', (file) => {
    const value: unknown = parse(readFileSync(`${dir}${file}`, 'utf8'));
    expect([...Value.Errors(ProfileSchema, value)].map((e) => `${e.path} ${e.message}`)).toEqual([]);
  });
});
