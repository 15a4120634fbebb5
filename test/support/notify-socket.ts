/**
 * A service manager's notify socket, as systemd listens on it: an AF_UNIX datagram socket that a
 * separate process (python3, so that a blocked test process cannot hide or delay a datagram) binds
 * and reads, stamping each message with its own clock on arrival.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { exited } from './child.js';
import type { PeerStatus } from './peers.js';

const PYTHON = '/usr/bin/python3';

const LISTENER = `
import json, os, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data = s.recv(4096)
    print(json.dumps({"at": time.time() * 1000, "message": data.decode()}), flush=True)
`;

export function python3Peer(): PeerStatus {
  const ok = existsSync(PYTHON);
  return { available: ok, reason: ok ? '' : 'python3 not found: apt-get install -y python3' };
}

export interface NotifyMessage {
  /** Arrival time (ms since the epoch) on the listener's clock. */
  readonly at: number;
  readonly fields: Readonly<Record<string, string>>;
}

export interface NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[];
  /** Resolves with the first message (from `fromIndex` on) that has the field, or rejects after timeoutMs. */
  waitFor(field: string, timeoutMs?: number, fromIndex?: number): Promise<NotifyMessage>;
  close(): Promise<void>;
}

function parseFields(message: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

export async function listenNotifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn(PYTHON, ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let ready: () => void = () => undefined;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const parsed = JSON.parse(line) as { listening?: string; at?: number; message?: string };
    if (parsed.listening) return ready();
    messages.push({ at: parsed.at ?? 0, fields: parseFields(parsed.message ?? '') });
    for (const w of waiters) w();
  });
  await listening;
  return {
    path,
    messages,
    waitFor(field, timeoutMs = 10_000, fromIndex = 0) {
      return new Promise((resolve, reject) => {
        const look = (): boolean => {
          const found = messages.slice(fromIndex).find((m) => field in m.fields);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const check = (): void => void look();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${field}= on the notify socket within ${timeoutMs} ms (got ${messages.length} messages)`));
        }, timeoutMs);
        if (!look()) waiters.add(check);
      });
    },
    async close() {
      child.kill();
      await exited(child);
    },
  };
}
