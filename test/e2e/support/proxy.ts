/**
 * A TCP proxy between a gateway and its broker that a test can cut and restore, standing in for
 * the network. Two ways to lose it:
 * - reset: every connection is torn down and new ones are refused (a router reboot, a cable
 *   pulled on the broker side): both ends notice at once;
 * - blackhole: connections stay open but nothing moves in either direction (a dead uplink): the
 *   ends notice only through MQTT keepalive. Bytes are held, not dropped, like TCP would, so a
 *   connection that survives the outage carries on where it stopped.
 * The listening port stays the same across cut and restore.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type CutMode = 'reset' | 'blackhole';

export interface TcpProxy {
  readonly port: number;
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  /** Connections accepted so far (reconnects show here). */
  readonly accepted: number;
  cut(mode?: CutMode): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: Server | undefined;
  let blackholed = false;
  let accepted = 0;

  const onConnection = (client: Socket): void => {
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const teardown = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', teardown);
      s.on('close', teardown);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    if (blackholed) hold(pair);
  };

  // pipe() resumes a paused source on its own when the destination drains; unpiping first keeps
  // the bytes in the socket buffers until restore() pipes them again.
  const hold = (p: Pair): void => {
    p.client.unpipe(p.upstream);
    p.upstream.unpipe(p.client);
    p.client.pause();
    p.upstream.pause();
  };
  const release = (p: Pair): void => {
    p.client.pipe(p.upstream);
    p.upstream.pipe(p.client);
  };

  const listen = async (port: number): Promise<number> => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
    return (s.address() as AddressInfo).port;
  };
  // server.close() waits for open connections, so they are destroyed right after it is called.
  const stopAll = async (): Promise<void> => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
    for (const p of [...pairs]) {
      p.client.destroy();
      p.upstream.destroy();
    }
    pairs.clear();
    await closed;
  };

  const port = await listen(0);
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    async cut(mode: CutMode = 'reset') {
      if (mode === 'blackhole') {
        blackholed = true;
        for (const p of pairs) hold(p);
        return;
      }
      await stopAll();
    },
    async restore() {
      if (blackholed) {
        blackholed = false;
        for (const p of pairs) release(p);
      }
      if (!server) await listen(port);
    },
    async close() {
      blackholed = false;
      await stopAll();
    },
  };
}
