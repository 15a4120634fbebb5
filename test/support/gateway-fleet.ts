/**
 * Many simulated gateways on plain TCP sockets, speaking just the MQTT 3.1.1 a gateway's hub link
 * uses (edge/federation/publisher.ts): CONNECT with its credentials, a persistent session and the
 * offline state as retained will; SUBSCRIBE to its stored/commands/config topics; the retained
 * online state on connect and every stateIntervalS; PINGREQ every keepalive. A full MQTT.js client
 * per gateway costs tens of kB and much CPU in the driving process, which would limit how many
 * one test or bench process can hold; this costs a socket and a few fields.
 */
import { connect, type Socket } from 'node:net';

export interface FleetMember {
  readonly site: string;
  readonly gateway: string;
  readonly username: string;
  readonly password: string;
}

export interface FleetOptions {
  readonly host: string;
  readonly port: number;
  readonly members: readonly FleetMember[];
  readonly keepaliveS?: number;
  /** Retained online state again every this many seconds (0: only on connect). Default 60. */
  readonly stateIntervalS?: number;
  /** Connections being opened at once (default 400). */
  readonly concurrency?: number;
  /** Source addresses to spread sockets over (each has its own ephemeral port range), e.g. 127.0.0.2. */
  readonly localAddresses?: readonly string[];
}

export interface ConnectRound {
  readonly ms: number;
  readonly connected: number;
  /** CONNACKs with a refusal code, and connections that failed or closed before a CONNACK. */
  readonly refused: number;
  readonly failed: number;
  /** Connect times (CONNECT written to CONNACK), ms, sorted. */
  readonly latencies: readonly number[];
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

export function stateTopic(m: Pick<FleetMember, 'site' | 'gateway'>): string {
  return `swarmgate/v1/${m.site}/${m.gateway}/state`;
}

function stateDoc(m: FleetMember, status: 'online' | 'offline'): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, gateway: m.gateway, site: m.site, status, ts: Date.now(), ...(status === 'online' ? { version: 'fleet-sim' } : {}) }));
}

function connectPacket(m: FleetMember, keepaliveS: number): Buffer {
  // username, password, will retain, will QoS 1, will flag; clean session off
  const flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04;
  const variable = Buffer.concat([str('MQTT'), Buffer.from([4, flags]), u16(keepaliveS)]);
  const payload = Buffer.concat([str(m.gateway), str(stateTopic(m)), str(stateDoc(m, 'offline')), str(m.username), str(m.password)]);
  return packet(0x10, Buffer.concat([variable, payload]));
}

function subscribePacket(m: FleetMember, id: number): Buffer {
  const prefix = `swarmgate/v1/${m.site}/${m.gateway}`;
  const topics = [`${prefix}/stored`, `${prefix}/commands`, `${prefix}/config/desired`];
  return packet(0x82, Buffer.concat([u16(id), ...topics.map((t) => Buffer.concat([str(t), Buffer.from([1])]))]));
}

function publishState(m: FleetMember, id: number, status: 'online' | 'offline' = 'online'): Buffer {
  return packet(0x33, Buffer.concat([str(stateTopic(m)), u16(id), stateDoc(m, status)]));
}

/** One gateway's link: a socket and the few fields its protocol needs. */
class Link {
  socket: Socket | undefined;
  connected = false;
  private buf: Buffer | undefined;
  private nextId = 1;

  constructor(
    readonly member: FleetMember,
    private readonly fleet: GatewayFleet,
  ) {}

  id(): number {
    const id = this.nextId;
    this.nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  open(host: string, port: number, keepaliveS: number, localAddress: string | undefined, settle: (outcome: 'connected' | 'refused' | 'failed') => void): void {
    let settled = false;
    const once = (outcome: 'connected' | 'refused' | 'failed'): void => {
      if (settled) return;
      settled = true;
      settle(outcome);
    };
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    this.socket = socket;
    this.buf = undefined;
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(connectPacket(this.member, keepaliveS)));
    socket.on('data', (chunk: Buffer) => this.data(chunk, once));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
        if (this.connected) this.fleet.lost(this);
        this.connected = false;
      }
      once('failed');
    });
  }

  private data(chunk: Buffer, settle: (outcome: 'connected' | 'refused' | 'failed') => void): void {
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) break;
      let len = 0;
      let mul = 1;
      let i = 1;
      let complete = false;
      for (; i < 5 && i < buf.length; i++) {
        const b = buf[i] ?? 0;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || buf.length < i + len) break;
      this.handle((buf[0] ?? 0) >> 4, (buf[0] ?? 0) & 0x0f, buf.subarray(i, i + len), settle);
      buf = buf.subarray(i + len);
    }
    this.buf = buf.length > 0 ? Buffer.from(buf) : undefined;
  }

  private handle(type: number, flags: number, body: Buffer, settle: (outcome: 'connected' | 'refused' | 'failed') => void): void {
    const socket = this.socket;
    if (!socket) return;
    if (type === 2) {
      if (body[1] !== 0) {
        settle('refused');
        socket.destroy();
        return;
      }
      this.connected = true;
      socket.write(subscribePacket(this.member, this.id()));
      socket.write(publishState(this.member, this.id()));
      settle('connected');
    } else if (type === 3) {
      const qos = (flags >> 1) & 3;
      if (qos > 0) {
        const topicLen = body.readUInt16BE(0);
        socket.write(packet(0x40, body.subarray(2 + topicLen, 4 + topicLen)));
      }
    }
    // PUBACK, SUBACK, PINGRESP: nothing to do
  }

  ping(): void {
    if (this.connected) this.socket?.write(PINGREQ);
  }

  heartbeat(): void {
    if (this.connected) this.socket?.write(publishState(this.member, this.id()));
  }

  /** Gone without a DISCONNECT, as when a site's network drops: the broker publishes the will. */
  drop(): void {
    this.connected = false;
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
  }

  /** A gateway stopping: its retained state offline, then DISCONNECT (no will is published). */
  end(): void {
    const s = this.socket;
    if (s && this.connected) s.write(publishState(this.member, this.id(), 'offline'));
    this.connected = false;
    this.socket = undefined;
    if (s) s.end(DISCONNECT);
  }
}

export class GatewayFleet {
  private readonly links: Link[];
  private timers: NodeJS.Timeout[] = [];
  /** Connections the broker closed (not the fleet). */
  lostCount = 0;

  constructor(private readonly options: FleetOptions) {
    this.links = options.members.map((m) => new Link(m, this));
    const keepaliveS = options.keepaliveS ?? 30;
    this.timers.push(setInterval(() => this.links.forEach((l) => l.ping()), keepaliveS * 1000));
    const every = options.stateIntervalS ?? 60;
    if (every > 0) {
      // Spread over the interval, as a real fleet's timers are.
      const slices = 20;
      let slice = 0;
      this.timers.push(
        setInterval(() => {
          for (let i = slice; i < this.links.length; i += slices) this.links[i]?.heartbeat();
          slice = (slice + 1) % slices;
        }, (every * 1000) / slices),
      );
    }
  }

  get size(): number {
    return this.links.length;
  }

  get connected(): number {
    let n = 0;
    for (const l of this.links) if (l.connected) n++;
    return n;
  }

  lost(_link: Link): void {
    this.lostCount++;
  }

  /** Connects every gateway not connected, `concurrency` at a time; resolves when each has an answer. */
  async connectAll(): Promise<ConnectRound> {
    const { host, port } = this.options;
    const keepaliveS = this.options.keepaliveS ?? 30;
    const addresses = this.options.localAddresses ?? [];
    const todo = this.links.filter((l) => !l.connected);
    const latencies: number[] = [];
    let refused = 0;
    let failed = 0;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(this.options.concurrency ?? 400, todo.length) }, async () => {
        for (;;) {
          const i = next++;
          const link = todo[i];
          if (!link) return;
          const t0 = performance.now();
          const outcome = await new Promise<'connected' | 'refused' | 'failed'>((resolve) => link.open(host, port, keepaliveS, addresses.length > 0 ? addresses[i % addresses.length] : undefined, resolve));
          if (outcome === 'connected') latencies.push(performance.now() - t0);
          else if (outcome === 'refused') refused++;
          else failed++;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { ms: performance.now() - started, connected: latencies.length, refused, failed, latencies };
  }

  /** Every socket closed at once without DISCONNECT (a site's network partition). */
  dropAll(): void {
    for (const l of this.links) l.drop();
  }

  /** Every gateway stops cleanly (offline state, DISCONNECT) at once; stops the timers. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const l of this.links) l.end();
  }
}
