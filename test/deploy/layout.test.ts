/** The package layout's pure parts: Debian version, control file, conffiles, script templates, the example config. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exampleConfig } from '../../deploy/package/build-deb.js';
import { conffiles, controlFile, debFileName, debianVersion, fillTemplate } from '../../deploy/package/layout.js';

describe('the package layout', () => {
  it('turns semver into a Debian version that sorts pre-releases first', () => {
    expect(debianVersion('0.1.0')).toBe('0.1.0');
    expect(debianVersion('1.2.0-rc.1')).toBe('1.2.0~rc.1');
    expect(debianVersion('1.2.0-beta-2+build.7')).toBe('1.2.0~beta.2+build.7');
    expect(() => debianVersion('1.2')).toThrow(/not semver/);
    expect(debFileName('1.2.0~rc.1', 'arm64')).toBe('swarmgate-edge_1.2.0~rc.1_arm64.deb');
  });

  it('writes a control file dpkg reads (continuation lines, a trailing newline) and lists /etc files as conffiles', () => {
    const control = controlFile({ version: '0.1.0', arch: 'arm64', installedSizeKiB: 123, nodeMajor: 20 });
    expect(control).toMatch(/^Package: swarmgate-edge\nVersion: 0\.1\.0\nArchitecture: arm64\n/);
    expect(control).toContain('Recommends: nodejs (>= 20), nodejs (<< 21)\n');
    expect(control.endsWith('\n')).toBe(true);
    for (const line of control.trimEnd().split('\n')) expect(line).toMatch(/^([A-Z][A-Za-z-]+: \S| \S)/);
    expect(conffiles(['/opt/swarmgate/package.json', '/etc/swarmgate/profiles/b.yaml', '/etc/swarmgate/a.example'])).toBe('/etc/swarmgate/a.example\n/etc/swarmgate/profiles/b.yaml\n');
    expect(conffiles(['/opt/x'])).toBe('');
  });

  it('fills script templates and refuses a placeholder without a value', () => {
    expect(fillTemplate('A=@NODE_ABI@ B=@UNIT_NAME@', { NODE_ABI: '115', UNIT_NAME: 'u.service' })).toBe('A=115 B=u.service');
    expect(() => fillTemplate('A=@MISSING@', {})).toThrow(/@MISSING@ has no value/);
  });

  it('makes the example config point at the installed profiles and state folder', () => {
    const demo = readFileSync(fileURLToPath(new URL('../../deploy/examples/demo-gateway.yaml', import.meta.url)), 'utf8');
    const example = exampleConfig(demo);
    expect(example).not.toContain('../');
    const doc = parse(example) as { dataDir: string; devices: { profile: string }[] };
    expect(doc.dataDir).toBe('/var/lib/swarmgate');
    expect(doc.devices.length).toBeGreaterThan(0);
    for (const d of doc.devices) expect(d.profile).toMatch(/^profiles\/[a-z0-9-]+\.yaml$/);
  });
});
