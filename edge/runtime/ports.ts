/**
 * The ports the gateway runtime offers the layers it hosts (edge/decisions/: rules, advisor,
 * anomaly monitor): small interfaces, so those layers never import the Gateway class or the
 * config loader. The Gateway satisfies GatewayPort as is; tests and replays can pass something
 * smaller.
 */
import type { Logger } from 'pino';
import type { DeviceSpec, Reading, WriteValue } from '../drivers/driver.js';

/** What the hosted layers read of the loaded config (edge/config/load.ts LoadedConfig satisfies it). */
export interface GatewayConfigView {
  /** The config file, for problems that name it. */
  readonly file: string;
  /** Absolute data folder of this gateway. */
  readonly dataDir: string;
  /** Enabled devices, points resolved from their profiles and overrides. */
  readonly devices: readonly DeviceSpec[];
  /** The validated config document; each layer reads its own section. */
  readonly config: object;
}

export interface GatewayPort {
  readonly id: string;
  readonly log: Logger;
  readonly config: GatewayConfigView;
  onSample(listener: (reading: Reading) => void): () => void;
  latest(device: string, point: string): Reading | undefined;
  /** THE command path: writable/limit checks, interlocks, audit log; rejects with a SwarmgateError. */
  write(device: string, point: string, value: WriteValue, origin?: string): Promise<void>;
  /** Writes that were applied (value as the point's type holds it), whoever asked. */
  onWrite?(listener: (write: WriteRequest) => void): () => void;
}

export interface WriteRequest {
  readonly device: string;
  readonly point: string;
  readonly value: WriteValue;
  readonly origin: string;
}

/** Checked on every write after the point's own checks; throws a SwarmgateError to refuse (interlocks). */
export type WriteGuard = (request: WriteRequest, latest: (device: string, point: string) => Reading | undefined) => void;
