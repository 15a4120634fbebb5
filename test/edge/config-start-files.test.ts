/**
 * The config check refuses what would stop the gateway at start, naming the field and its line:
 * TLS files of the MQTT link that cannot be read or hold no PEM, and a data folder that cannot be
 * made or written (checked without making it). A config that passed the check and is installed
 * from the hub must start: a start that fails on every restart leaves the hub no way to fix it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGatewayConfigFile } from '../../edge/config/check-file.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { formatProblem } from '../../shared/kit/config-file.js';
import { tempDir } from '../support/tmp.js';

const AHU = fileURLToPath(new URL('../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const registry = builtinDrivers();
const dir = tempDir('swg-config-start-');
afterAll(() => dir.remove());

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n';

function config(name: string, extra: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, `gateway: { id: gw-1, site: s }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: ${AHU}, connection: { host: h } }\n${extra}`);
  return file;
}

function problems(file: string): string[] {
  return checkGatewayConfigFile(file, registry).problems.map(formatProblem);
}

describe('config check: files the gateway needs to start', () => {
  it('refuses TLS files that are missing, not files, or hold no PEM, at the field and its line', () => {
    writeFileSync(join(dir.path, 'ca.pem'), CERT);
    writeFileSync(join(dir.path, 'gw.pem'), CERT);
    writeFileSync(join(dir.path, 'gw.key'), KEY);
    writeFileSync(join(dir.path, 'ca.der'), Buffer.from([0x30, 0x82, 0x01, 0x0a]));
    const good = config('tls-good.yaml', 'federation:\n  mqtt:\n    url: mqtts://hub:8883\n    tls: { ca: ca.pem, cert: gw.pem, key: gw.key }\n');
    expect(problems(good)).toEqual([]);

    const missing = config('tls-missing.yaml', 'federation:\n  mqtt:\n    url: mqtts://hub:8883\n    tls:\n      ca: certs/hub-ca.pem\n');
    expect(problems(missing)).toEqual([`${missing}:8:11: federation.mqtt.tls.ca: cannot read ${join(dir.path, 'certs/hub-ca.pem')}: no such file`]);

    const wrong = config('tls-wrong.yaml', 'federation:\n  mqtt:\n    url: mqtts://hub:8883\n    tls:\n      ca: ca.der\n      cert: gw.key\n      key: /dev/null\n');
    const lines = problems(wrong);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${wrong}:8:11: federation\\.mqtt\\.tls\\.ca: .*ca\\.der holds no PEM certificate`));
    expect(lines[1]).toMatch(/:9:13: federation\.mqtt\.tls\.cert: .*gw\.key holds no PEM certificate/);
    expect(lines[2]).toMatch(/:10:12: federation\.mqtt\.tls\.key: cannot read \/dev\/null: not a regular file \(character device\)/);
  });

  it('refuses a data folder that cannot be made or written, without making it', () => {
    const fresh = join(dir.path, 'state', 'gw-1');
    expect(problems(config('data-new.yaml', `dataDir: ${fresh}\n`))).toEqual([]);
    // Checked, not made: the gateway makes it when it starts.
    expect(existsSync(join(dir.path, 'state'))).toBe(false);

    writeFileSync(join(dir.path, 'a-file'), 'x');
    const under = config('data-under-file.yaml', 'dataDir: a-file/data\n');
    expect(problems(under)).toEqual([`${under}:4:10: dataDir: ${join(dir.path, 'a-file/data')} cannot be made: ${join(dir.path, 'a-file')} is not a folder`]);
    const itself = config('data-file.yaml', 'dataDir: a-file\n');
    expect(problems(itself)).toEqual([`${itself}:4:10: dataDir: ${join(dir.path, 'a-file')} is not a folder`]);
    mkdirSync(join(dir.path, 'existing'));
    expect(problems(config('data-existing.yaml', 'dataDir: existing\n'))).toEqual([]);
  });
});
