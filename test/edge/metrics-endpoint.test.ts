/**
 * The gateway's Prometheus endpoint: on by default at 127.0.0.1:9464 (a config without a `metrics`
 * section, as enrollment writes it, still serves it), and a port already taken is logged, never
 * fatal: the gateway's control runs on without its monitoring.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../edge/config/load.js';
import { DEFAULT_METRICS_PORT } from '../../edge/config/schema.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { Gateway } from '../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../edge/runtime/metrics.js';
import { tempDir } from '../support/tmp.js';

const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));

async function listen(port: number): Promise<Server | undefined> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
    return server;
  } catch {
    return undefined;
  }
}

describe('gateway metrics endpoint', () => {
  const dir = tempDir('swarmgate-gw-metrics-');
  afterAll(() => dir.remove());

  function gateway(name: string, metrics: string): Gateway {
    const file = join(dir.path, `${name}.yaml`);
    // An unreachable Modbus unit: the gateway starts and reports it down; enough for the endpoint.
    writeFileSync(
      file,
      `gateway: { id: gw-${name}, site: test }\ndataDir: ${dir.path}/${name}\n${metrics}devices:\n` +
        `  - { id: ahu1, protocol: modbus-tcp, profile: ${PROFILES}ahu-modbus.yaml, connection: { host: 127.0.0.1, port: 9, timeoutMs: 100, retries: 0 } }\n`,
    );
    return new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
  }

  it('starts and runs when the metrics port is taken', async () => {
    const taken = await listen(0);
    const port = (taken!.address() as { port: number }).port;
    const g = gateway('busy', `metrics: { port: ${port} }\n`);
    try {
      await g.start();
      // Running: its device is polled (and found down) while the port stays with its owner.
      await expect.poll(() => g.deviceStates().ahu1?.state, { timeout: 10_000 }).toBe('down');
      expect(taken!.listening).toBe(true);
    } finally {
      await g.stop(true);
      taken!.close();
    }
  });

  it('serves /metrics on the default port without a metrics section', async (ctx) => {
    const probe = await listen(DEFAULT_METRICS_PORT);
    if (!probe) return ctx.skip(`port ${DEFAULT_METRICS_PORT} is in use on this machine`);
    probe.close();
    await once(probe, 'close');
    const g = gateway('default', '');
    try {
      await g.start();
      const res = await fetch(`http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('swarmgate_');
    } finally {
      await g.stop(true);
    }
  });
});
