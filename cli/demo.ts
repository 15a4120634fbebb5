/**
 * `npm start`: the simulated facility and one gateway reading it, printing what it reads.
 * Needs nothing but Node.js; the Modbus RTU meter runs when socat is installed.
 */
import { join } from 'node:path';
import { startFacility } from '../devices/facility.js';
import { openPtyPair, type PtyPair } from '../devices/serial/pty-pair.js';
import { loadConfig, type LoadedConfig } from '../edge/config/load.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { Gateway } from '../edge/runtime/gateway.js';
import type { Command } from './commands.js';
import { formatReading } from './format.js';
import { packageRoot } from '../shared/package-info.js';
import { untilSignal } from './shutdown.js';

const DEMO_CONFIG = join(packageRoot(), 'deploy/examples/demo-gateway.yaml');
export const DEMO_PORTS = { modbusTcp: 15020, opcua: 14840, gpio: 15021, control: 15022 } as const;

async function meterCable(): Promise<PtyPair | undefined> {
  try {
    return await openPtyPair('/tmp/swarmgate-demo/tty-sim', '/tmp/swarmgate-demo/tty-gateway');
  } catch (err) {
    process.stderr.write(`note: the Modbus RTU energy meter is left out: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
}

export const demoCommand: Pick<Command, 'run'> = {
  async run() {
    const cable = await meterCable();
    const facility = await startFacility({
      modbusTcpPort: DEMO_PORTS.modbusTcp,
      opcuaPort: DEMO_PORTS.opcua,
      gpioPort: DEMO_PORTS.gpio,
      controlPort: DEMO_PORTS.control,
      ...(cable ? { rtu: { path: cable.simPath, baudRate: 19200, unitIds: [1] } } : {}),
      speed: 1,
    });
    const full = loadConfig(DEMO_CONFIG, builtinDrivers());
    const loaded: LoadedConfig = cable ? full : { ...full, devices: full.devices.filter((d) => d.protocol !== 'modbus-rtu') };
    const gateway = new Gateway({ loaded, registry: builtinDrivers() });
    const units = new Map(loaded.devices.flatMap((d) => d.points.map((p) => [`${d.id}/${p.name}`, p.unit] as const)));
    gateway.onReport((r) => process.stdout.write(`${formatReading(r, units.get(`${r.device}/${r.point}`))}\n`));
    process.stdout.write(
      [
        'Swarmgate demo',
        `  simulated facility: AHU on modbus-tcp://127.0.0.1:${DEMO_PORTS.modbusTcp}, cold room on ${facility.endpoints.opcua.endpointUrl},`,
        `    GPIO chip on 127.0.0.1:${DEMO_PORTS.gpio}${cable ? `, energy meter on ${cable.gatewayPath} (Modbus RTU)` : ''}`,
        `  inject a fault:  curl -X POST ${facility.endpoints.control.url}/faults -d '{"kind":"compressor-failure"}'`,
        `  gateway ${gateway.id} config: ${DEMO_CONFIG}`,
        `  metrics: http://127.0.0.1:${loaded.config.metrics?.port ?? 9464}/metrics`,
        '  readings (report-by-exception) follow; Ctrl-C stops.',
        '',
      ].join('\n'),
    );
    await gateway.start();
    await untilSignal(async () => {
      await gateway.stop();
      await facility.stop();
      await cable?.close();
    });
    return 0;
  },
};
