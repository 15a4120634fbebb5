/**
 * The bacnet-stack reference tools in ../shared/peers/bacnet-stack (bacwi, bacrp, bacrpm, bacwp,
 * bacscov): how to find them, and how to run one on loopback with its own UDP port
 * (BACNET_IFACE=lo always, so nothing leaves the machine; --mac HOST:PORT --dnet 0 for unicast).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerStatus } from './peers.js';

export const BACNET_STACK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/peers/bacnet-stack');

export function bacnetStackPeer(): PeerStatus {
  const ok = ['bacserv', 'bacbasic', 'bacwi', 'bacrp', 'bacrpm', 'bacwp', 'bacscov'].every((tool) => existsSync(join(BACNET_STACK_DIR, tool)));
  return { available: ok, reason: ok ? '' : `bacnet-stack tools not found in ${BACNET_STACK_DIR} (the shared peers folder; see its README)` };
}

export { freeUdpPort } from '../../shared/kit/free-udp-port.js';

export interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ToolEnv {
  /** The tool's own UDP port. */
  readonly port: number;
  /** Where its broadcasts (Who-Is) go; default its own port. */
  readonly broadcastPort?: number;
}

function toolEnv(env: ToolEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BACNET_IFACE: 'lo',
    BACNET_IP_PORT: String(env.port),
    ...(env.broadcastPort ? { BACNET_IP_BROADCAST_PORT: String(env.broadcastPort) } : {}),
    BACNET_APDU_TIMEOUT: '1000',
    BACNET_APDU_RETRIES: '1',
    BACNET_DATALINK_DEBUG: '7',
  };
}

/** Runs one tool to its end. */
export function runTool(tool: string, args: readonly string[], env: ToolEnv): Promise<ToolRun> {
  return new Promise((done) => {
    execFile(join(BACNET_STACK_DIR, tool), [...args], { env: toolEnv(env), timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running tool (bacscov) with line-buffered output collected in `output()`. */
export function startTool(tool: string, args: readonly string[], env: ToolEnv): { child: ChildProcess; output: () => string; exited: Promise<void> } {
  const child = spawn('stdbuf', ['-oL', join(BACNET_STACK_DIR, tool), ...args], { env: toolEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, output: () => text, exited };
}
