/**
 * `swarmgate edge` and remote configuration: a desired config retained on the broker before the
 * gateway starts is installed on its first connect, and the process stops cleanly with exit 75
 * so the service manager restarts it with the new file.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigDocumentSchema, encode } from '../../../shared/wire/index.js';
import { tempDir } from '../../support/tmp.js';
import { publishTo, startBroker } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = join(ROOT, 'cli', 'main.ts');
const AHU = join(ROOT, 'devices', 'profiles', 'ahu-modbus.yaml');
const dir = tempDir('swg-rcfg-cli-');
afterAll(() => dir.remove());

describe('swarmgate edge with remote configuration', () => {
  it('installs a retained desired config on connect and exits with 75 for a restart', async () => {
    const broker = await startBroker();
    try {
      const config = (pollMs: number): Record<string, unknown> => ({
        gateway: { id: 'gw-cli', site: 'site-cli' },
        dataDir: join(dir.path, 'data'),
        metrics: { enabled: false },
        polling: { defaultIntervalMs: pollMs },
        federation: { mqtt: { url: broker.url, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 },
        devices: [{ id: 'ahu1', protocol: 'modbus-tcp', profile: AHU, connection: { host: '127.0.0.1', port: 1, timeoutMs: 200, retries: 0 } }],
      });
      const file = join(dir.path, 'gateway.yaml');
      writeFileSync(file, JSON.stringify(config(5000)));
      const next = config(3000);
      await publishTo(broker.broker, 'swarmgate/v1/site-cli/gw-cli/config/desired', encode(ConfigDocumentSchema, { v: 1, version: 1, ts: Date.now(), config: next }), true);

      const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'edge', '--config', file], { cwd: ROOT, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(timer);
      expect(code, stderr).toBe(75);
      expect(stderr).toContain('restarting (exit 75)');
      expect(parse(readFileSync(file, 'utf8'))).toEqual(next);
      expect(JSON.parse(readFileSync(`${file}.previous`, 'utf8'))).toEqual(config(5000));
    } finally {
      await broker.close();
    }
  }, 60_000);
});
