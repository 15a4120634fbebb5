/**
 * A virtual null-modem cable: two linked pseudo-terminals made by socat. The simulated meter bus
 * listens on one end, the gateway opens the other as if it were /dev/ttyUSB0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PtyPair {
  /** End the simulator listens on. */
  readonly simPath: string;
  /** End the gateway opens. */
  readonly gatewayPath: string;
  close(): Promise<void>;
}

export async function openPtyPair(simPath: string, gatewayPath: string, timeoutMs = 5000): Promise<PtyPair> {
  for (const p of [simPath, gatewayPath]) {
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
  }
  const child: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${simPath}`, `pty,raw,echo=0,link=${gatewayPath}`], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run socat (apt-get install -y socat): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`socat exited with code ${code ?? 'null'} before creating the pty pair`)));
  });
  const ready = (async (): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(existsSync(simPath) && existsSync(gatewayPath))) {
      if (Date.now() > deadline) throw new Error(`socat did not create ${simPath} and ${gatewayPath} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  failed.catch(() => undefined);
  return {
    simPath,
    gatewayPath,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
