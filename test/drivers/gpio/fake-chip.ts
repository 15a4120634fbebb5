/**
 * A tiny chip server that follows the simulated GPIO chip protocol (devices/README.md, "GPIO sim chip protocol"), with
 * levels the test sets directly so edge, burst and debounce timing is deterministic.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface FakeLine {
  readonly line: number;
  readonly name: string;
  readonly direction: 'in' | 'out';
  level: 0 | 1;
}

export interface FakeChip {
  readonly port: number;
  level(line: number): 0 | 1;
  /** Changes an input's level and pushes the edge to watchers. */
  set(line: number, level: 0 | 1): void;
  /** Requests received (op names), for assertions. */
  readonly ops: string[];
  /** Forgets which outputs were claimed, as a power cycle would: the next claim applies its initial level. */
  powerCycle(): void;
  /** Drops every client connection (the server keeps listening). */
  dropClients(): void;
  /** Stops answering (requests vanish) until resumed. */
  mute(muted: boolean): void;
  stop(): Promise<void>;
}

export async function startFakeChip(lines: FakeLine[]): Promise<FakeChip> {
  const byLine = new Map(lines.map((l) => [l.line, { ...l }]));
  const watchers = new Map<Socket, Set<number>>();
  const ops: string[] = [];
  const claimed = new Set<number>();
  let muted = false;
  const send = (sock: Socket, msg: object): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(msg)}\n`);
  };
  const push = (line: number, value: 0 | 1): void => {
    for (const [sock, set] of watchers) if (set.has(line)) send(sock, { event: 'edge', line, value, ts: Date.now() });
  };
  const server = createServer((sock) => {
    watchers.set(sock, new Set());
    sock.setEncoding('utf8');
    let buffer = '';
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (muted || text.trim() === '') continue;
        const req = JSON.parse(text) as { id: number; op: string; line?: number; value?: number; initial?: number };
        ops.push(req.op);
        if (req.op === 'info') {
          send(sock, { id: req.id, label: 'fake-chip', lines: [...byLine.values()].map(({ line, name, direction }) => ({ line, name, direction })) });
          continue;
        }
        const l = byLine.get(req.line ?? -1);
        if (!l) {
          send(sock, { id: req.id, error: `line ${String(req.line)} does not exist` });
          continue;
        }
        if (req.op === 'read') send(sock, { id: req.id, value: l.level });
        else if (req.op === 'claim') {
          const held = l.direction === 'out' && claimed.has(l.line);
          if (l.direction === 'out') claimed.add(l.line);
          if (l.direction === 'out' && !held && (req.initial === 0 || req.initial === 1)) l.level = req.initial;
          send(sock, { id: req.id, ok: true, held, value: l.level });
        } else if (req.op === 'watch') {
          watchers.get(sock)?.add(l.line);
          send(sock, { id: req.id, ok: true });
        } else if (req.op === 'write') {
          if (l.direction !== 'out') send(sock, { id: req.id, error: `line ${l.line} is an input` });
          else {
            const changed = l.level !== req.value;
            l.level = req.value === 1 ? 1 : 0;
            send(sock, { id: req.id, ok: true });
            if (changed) push(l.line, l.level);
          }
        } else send(sock, { id: req.id, error: `unknown op ${req.op}` });
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => watchers.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    level: (line) => byLine.get(line)?.level ?? 0,
    set(line, level) {
      const l = byLine.get(line);
      if (!l) throw new Error(`no line ${line}`);
      if (l.level === level) return;
      l.level = level;
      push(line, level);
    },
    ops,
    powerCycle() {
      claimed.clear();
    },
    dropClients() {
      for (const sock of watchers.keys()) sock.destroy();
    },
    mute(m) {
      muted = m;
    },
    async stop() {
      for (const sock of watchers.keys()) sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
