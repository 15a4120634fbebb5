import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { buildProfiles, profileYaml } from '../../devices/profiles/build.js';
import { ProfileSchema } from '../../edge/config/schema.js';
import { modbusTcpManifest } from '../../edge/drivers/modbus/manifest.js';
import { opcuaManifest } from '../../edge/drivers/opcua/manifest.js';
import { tagProblems } from '../../edge/config/haystack.js';
import { DEMO_TAGS } from '../../devices/profiles/tags.js';

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

  it.each(Object.keys(profiles))('%s tags its points with markers the Haystack vocabulary accepts', (file) => {
    const doc = parse(readFileSync(`${dir}${file}`, 'utf8')) as { points: Array<{ name: string; unit?: string; writable?: boolean; tags?: string[] }> };
    const tagged = doc.points.filter((p) => p.tags);
    expect(tagged.length).toBeGreaterThan(0);
    expect(Object.keys(DEMO_TAGS[file] ?? {}).filter((name) => !doc.points.some((p) => p.name === name))).toEqual([]);
    const problems = tagged.flatMap((p) => tagProblems(p.tags ?? [], p).map((problem) => `${p.name}: ${problem.message}`));
    expect(problems).toEqual([]);
  });

  // The drivers own the address schemas; the simulator's profiles must satisfy them.
  it.each([
    ['ahu-modbus.yaml', modbusTcpManifest.addressSchema],
    ['energy-meter-modbus.yaml', modbusTcpManifest.addressSchema],
    ['cold-room-opcua.yaml', opcuaManifest.addressSchema],
  ] as const)('%s addresses satisfy the driver address schema', (file, schema) => {
    const doc = parse(readFileSync(`${dir}${file}`, 'utf8')) as { points: Array<{ name: string; address: unknown }> };
    const problems = doc.points.flatMap((p) => [...Value.Errors(schema, p.address)].map((e) => `${p.name}${e.path}: ${e.message}`));
    expect(problems).toEqual([]);
  });
});
