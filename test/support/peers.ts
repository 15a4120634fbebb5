/**
 * System peers (socat, pymodbus, Mosquitto, PostgreSQL, Chromium) that some tests need.
 * Absent peer: the test skips with a message naming the Debian package. With CI set, an absent
 * peer fails the run instead, because .ci/run installs and starts every peer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

export interface PeerStatus {
  readonly available: boolean;
  /** Why it is not available, naming the package to install. */
  readonly reason: string;
}

function commandWorks(file: string, args: readonly string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

export function socatPeer(): PeerStatus {
  const ok = commandWorks('socat', ['-V']);
  return { available: ok, reason: ok ? '' : 'socat not found: apt-get install -y socat' };
}

export const PYTHON_FOR_PYMODBUS = '/usr/bin/python3';

export function pymodbusPeer(): PeerStatus {
  const ok = existsSync(PYTHON_FOR_PYMODBUS) && commandWorks(PYTHON_FOR_PYMODBUS, ['-c', 'import pymodbus']);
  return { available: ok, reason: ok ? '' : 'pymodbus not found: apt-get install -y python3-pymodbus' };
}

export function chromiumPeer(): PeerStatus {
  const ok = existsSync('/usr/bin/chromium');
  return { available: ok, reason: ok ? '' : 'chromium not found: apt-get install -y chromium' };
}

export async function tcpPeer(host: string, port: number, packageName: string): Promise<PeerStatus> {
  const ok = await new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  return { available: ok, reason: ok ? '' : `${packageName} is not reachable at ${host}:${port}: apt-get install -y ${packageName} and start it` };
}

/**
 * Returns true when the suite should run. Without the peer: logs why and returns false (skip),
 * or throws when CI is set.
 */
export function peerOrSkip(status: PeerStatus): boolean {
  if (status.available) return true;
  if (process.env.CI) throw new Error(`required test peer missing in CI: ${status.reason}`);
  console.warn(`skipping: ${status.reason}`);
  return false;
}
