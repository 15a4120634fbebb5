/**
 * The slice of the Gateway the local decision layer uses. The Gateway class satisfies it as is;
 * tests and replays can pass something smaller.
 */
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { PointValue, Reading } from '../drivers/driver.js';

export interface GatewayPort {
  readonly id: string;
  readonly log: Logger;
  readonly config: LoadedConfig;
  onSample(listener: (reading: Reading) => void): () => void;
  latest(device: string, point: string): Reading | undefined;
  /** THE command path: writable/limit checks, interlocks, audit log; rejects with a SwarmgateError. */
  write(device: string, point: string, value: PointValue, origin?: string): Promise<void>;
}
