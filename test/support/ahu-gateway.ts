/**
 * A gateway.yaml that reads the simulated facility's AHU over Modbus TCP (device ahu1), written
 * into a test's folder; `extra` appends sections (analytics, rules, health, ...).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Facility } from '../../devices/facility.js';

const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));

export function writeAhuGateway(dir: string, facility: Facility, options: { readonly id: string; readonly intervalMs: number; readonly extra?: string }): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    `gateway: { id: ${options.id}, site: test }
dataDir: ${dir}/gw
metrics: { enabled: false }
polling: { defaultIntervalMs: ${options.intervalMs} }
devices:
  - id: ahu1
    protocol: modbus-tcp
    profile: ${PROFILES}ahu-modbus.yaml
    connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port} }
${options.extra ?? ''}`,
  );
  return file;
}
