/**
 * The embedded MQTT broker (aedes) with per-user credentials and the deny-by-default ACL as hooks.
 * Listens on TCP, optionally TLS and WebSocket. Refusals are counted and logged with topic and
 * client id. The hub's own clients use an in-memory credential created at start (never on disk).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type AuthErrorCode, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import { MAX_PAYLOAD_BYTES } from '../../shared/wire/codec.js';
import { parseTopic } from '../../shared/wire/topics.js';
import { mayPublish, mayRead, maySubscribe, type Identity } from './acl.js';
import { ClientIdBinding } from './client-ids.js';
import { identityOf, loadCredentials, type CredentialUser, type CredentialsFile } from './credentials.js';
import { LogLimiter } from './log-limiter.js';
import { HubMetrics } from '../metrics.js';
import { DEFAULT_LANE_WINDOW, OrderedLanes } from '../ingest/lanes.js';
import { verifyPassword } from './passwords.js';
import { RetainedIndex, type RetainedPersistence } from './retained-index.js';
import { SharedSubscriptions } from './shared-subscriptions.js';
import { parseShared } from './topic-filter.js';

/**
 * Holds clients' publishes on some topics until the hub has handled them: the PUBACK (QoS 1) is
 * sent, and the message forwarded to subscribers, only once handle() resolves true. false refuses
 * the message: no PUBACK, the client's connection is closed and it sends the message again.
 * Hub-role clients are not held.
 */
export interface PublishHold {
  /** Whether a publish on this topic is held (the hub's ingest channels). */
  holds(topic: string): boolean;
  /** Resolves true once the hub has the message (stored); false when it could not take it. */
  handle(topic: string, payload: Buffer): Promise<boolean>;
  /**
   * Client id of the hub's own client that would otherwise receive these messages through its
   * subscriptions: held messages are not forwarded to it, so nothing is handled twice.
   */
  readonly consumerClientId: string;
}

export interface EmbeddedBrokerOptions {
  readonly host?: string;
  /** 0 picks an ephemeral port. */
  readonly port: number;
  readonly tls?: { readonly port: number; readonly certFile: string; readonly keyFile: string };
  readonly ws?: { readonly port: number };
  readonly credentialsFile: string;
  /** Publishes larger than this are refused (counted as payload rejected). */
  readonly maxPayloadBytes?: number;
  readonly metrics?: HubMetrics;
  readonly logger?: Logger;
  /** Refuse every client but hub processes (server unavailable) until open() is called. */
  readonly startClosed?: boolean;
  /** Acknowledge these publishes only after the hub handled them (embedded hub: ingest). */
  readonly beforeAcknowledge?: PublishHold;
  /**
   * Most held publishes handled at once across gateways (default 64); one gateway's run one at a
   * time, in the order it sent them.
   */
  readonly holdWindow?: number;
}

export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  readonly tlsPort?: number;
  readonly wsPort?: number;
  /** mqtt://host:port of the TCP listener. */
  readonly url: string;
  readonly metrics: HubMetrics;
  /** Credential of this hub process's own clients (role hub). */
  readonly internal: { readonly username: string; readonly password: string };
  /**
   * Re-reads the credentials file now (it is also re-read when its mtime changes, checked every
   * second): clients whose user was removed or whose password was rotated are disconnected.
   */
  reloadCredentials(): void;
  readonly connectedClients: number;
  /** Lets gateways and integrations connect (after startClosed). */
  open(): void;
  /** Refuses new clients again and disconnects every client but hub processes (first step of a shutdown). */
  seal(): void;
  close(): Promise<void>;
}

// A fixed hash to verify against for unknown users. It is the slow format: an unknown user then
// costs what a user with a chosen password costs, so timing does not tell which people's
// usernames exist. (It does tell an unknown user from one with a generated secret, which is
// harmless: knowing a gateway's username brings no one closer to its 256-bit secret.)
const DUMMY_HASH = '$scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + Buffer.alloc(64).toString('base64');

/** High enough that aedes' emitter never queues (see createBroker below). */
const MQ_CONCURRENCY = 1 << 30;

function authError(code: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code as AuthErrorCode });
}

/** The peer address of a client's connection, for logs ('?' for streams without one). */
function remoteAddress(client: Client): string {
  const conn = client.conn;
  return 'remoteAddress' in conn && typeof conn.remoteAddress === 'string' ? conn.remoteAddress : '?';
}

/** The hold lane of a topic: its gateway (site/gateway), so one gateway's messages keep their order. */
function laneOf(topic: string): string {
  const parsed = parseTopic(topic);
  return parsed ? `${parsed.site}/${parsed.gateway}` : topic;
}

function channelOf(topic: string): string {
  return parseTopic(topic)?.rest ?? 'other';
}

class CredentialCache {
  private creds: CredentialsFile = { users: [] };
  /** The users by name: a CONNECT looks its user up here, not by scanning the list. */
  private byName = new Map<string, CredentialUser>();
  private mtimeMs = -1;
  /** The version of the file whose read failed last (logged once). */
  private failedMtimeMs = -1;
  /** Called after every reload (revocation: clients whose user is gone are disconnected). */
  onReload: (creds: CredentialsFile) => void = () => undefined;

  constructor(private readonly file: string) {
    this.reload();
  }

  reload(): void {
    this.creds = loadCredentials(this.file);
    this.byName = new Map(this.creds.users.map((u) => [u.username, u]));
    try {
      this.mtimeMs = statSync(this.file).mtimeMs;
    } catch {
      this.mtimeMs = 0;
    }
    this.onReload(this.creds);
  }

  /** Picks up rotations made by the CLI while the hub runs. A broken file keeps the last good one. */
  current(log: Logger): CredentialsFile {
    let mtime = 0;
    try {
      mtime = statSync(this.file).mtimeMs;
      if (mtime !== this.mtimeMs) this.reload();
    } catch (err) {
      // Once per version of the file, not on every CONNECT and every second.
      if (this.mtimeMs !== 0 && mtime !== this.failedMtimeMs) {
        this.failedMtimeMs = mtime;
        log.error({ err: errorMessage(err), code: isSwarmgateError(err) ? err.code : undefined, hint: isSwarmgateError(err) ? err.hint : undefined, file: this.file }, 'credentials file unreadable; keeping the users loaded before');
      }
    }
    return this.creds;
  }

  /** The user of this name in the current file (picking up changes as current() does). */
  user(username: string, log: Logger): CredentialUser | undefined {
    this.current(log);
    return this.byName.get(username);
  }
}

async function listen(server: NetServer | TlsServer | HttpServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function closeServer(server: NetServer | TlsServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const log = options.logger ?? createLogger('hub-broker');
  const metrics = options.metrics ?? new HubMetrics();
  const maxPayload = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
  const credentials = new CredentialCache(options.credentialsFile);
  if (!existsSync(options.credentialsFile)) {
    // A first start has no file yet; a typo in credentialsFile looks the same: name the path.
    log.warn(
      { file: options.credentialsFile },
      `credentials file ${options.credentialsFile} does not exist (broker.embedded.credentialsFile): no broker users, gateways cannot connect. ` +
        'Check the path if users were added; on a first start add one (`swarmgate hub user add --credentials <that file>`) or enroll gateways',
    );
  } else if (credentials.current(log).users.length === 0) log.warn({ file: options.credentialsFile }, 'no broker users yet: gateways cannot connect until one is added (`swarmgate hub user add`)');
  const internal = { username: `swarmgate-hub-internal-${randomBytes(6).toString('hex')}`, password: randomBytes(24).toString('base64url') };
  const internalDigest = createHash('sha256').update(internal.password).digest();
  const identities = new WeakMap<Client, Identity>();
  /** One identity per user entry, shared by its connections (and with it the ACL's per-identity scope cache). */
  const userIdentities = new WeakMap<CredentialUser, Identity>();
  const identityFor = (user: CredentialUser): Identity => {
    let identity = userIdentities.get(user);
    if (!identity) userIdentities.set(user, (identity = identityOf(user)));
    return identity;
  };
  /** The password hash each client authenticated with: a rotation or removal ends its connection. */
  const authenticatedWith = new WeakMap<Client, string>();
  const shared = new SharedSubscriptions();
  const connected = new Set<Client>();
  let accepting = options.startClosed !== true;
  // Every refusal is counted; the log gets the first per (client, cause) and then summaries.
  const refusals = new LogLimiter(log);
  const clientIds = new ClientIdBinding();
  const hold = options.beforeAcknowledge;
  /** Payloads of held publishes the hub handled: not forwarded to its consumer client again. */
  const handled = new WeakSet<Buffer>();
  /**
   * Held publishes run in one lane per gateway (its site/gateway in the topic): a gateway's
   * messages one at a time in the order they arrived (aedes hands over a socket read's packets in
   * order), different gateways' overlapping, at most holdWindow at once.
   */
  const holdLanes = new OrderedLanes(options.holdWindow ?? DEFAULT_LANE_WINDOW);

  const broker = await Aedes.createBroker({
    // aedes' message emitter (mqemitter) queues messages past `concurrency` in flight and drains
    // the queue recursively: each queued message with no subscriber completes synchronously and
    // starts the next inside its own stack. A fleet dropping at once queues one will and one
    // $SYS disconnect notice per gateway, and 8,000 of them overflowed the stack (RangeError in
    // qlobber's _match). No queue, no recursion: in-flight messages are bounded by the clients
    // anyway, since aedes handles one client's packets one at a time.
    concurrency: MQ_CONCURRENCY,
    preConnect(client, packet, done) {
      // aedes 1.x speaks MQTT 3.1.1 and 3.1 only and answers anything else with CONNACK
      // "unacceptable protocol version" (an MQTT 5 client reports 132); say so in the log, since
      // the client's own message does not say what to change.
      const version = packet.protocolVersion;
      if (version !== 3 && version !== 4) {
        const fields = { clientId: packet.clientId, username: packet.username, address: remoteAddress(client), protocolVersion: version };
        const msg = version === 5 ? 'connection refused: MQTT 5 is not supported by the embedded broker; connect with MQTT 3.1.1 (protocol version 4)' : 'connection refused: unsupported MQTT protocol version; connect with MQTT 3.1.1 (protocol version 4)';
        refusals.warn(`${packet.clientId}@${remoteAddress(client)}`, 'protocol-version', fields, msg);
      }
      done(null, true);
    },
    authenticate(client, username, password, done) {
      const refuse = (why: string): void => {
        metrics.authFailures.inc();
        refusals.warn(`${username ?? ''}@${remoteAddress(client)}`, 'connection', { clientId: client.id, username, address: remoteAddress(client), why }, 'connection refused');
        done(authError(4, 'bad username or password'), null);
      };
      if (!username || !password) return refuse('no username or password');
      if (username === internal.username) {
        const ok = timingSafeEqual(createHash('sha256').update(password).digest(), internalDigest);
        if (!ok) return refuse('wrong password');
        identities.set(client, { role: 'hub', username });
        return done(null, true);
      }
      // No cache of successful checks: a generated secret's hash costs ~2 us, no more than a cache
      // lookup, and a cache would have to forget rotated and removed users; scrypt (chosen
      // passwords: people and integrations, a handful of clients) stays slow on purpose.
      const user = credentials.user(username, log);
      verifyPassword(password.toString('utf8'), user?.passwordHash ?? DUMMY_HASH).then(
        (ok) => {
          if (!user) return refuse('unknown user');
          if (!ok) return refuse('wrong password');
          if (!accepting && user.role !== 'hub') {
            log.debug({ clientId: client.id, username }, 'connection refused: the hub is starting or stopping');
            return done(authError(3, 'server unavailable: the hub is starting or stopping'), null);
          }
          const identity = identityFor(user);
          // Refused here, before aedes registers the client: a takeover would close the live
          // owner and hand over the session's queued messages.
          const why = clientIds.problem(identity, client.id, credentials.current(log));
          if (why) {
            metrics.clientIdRejected.inc({ role: identity.role });
            refusals.warn(`${username}@${remoteAddress(client)}`, 'client-id', { clientId: client.id, username, address: remoteAddress(client), why }, 'connection refused: client id');
            return done(authError(2, `identifier rejected: ${why}`), null);
          }
          identities.set(client, identity);
          authenticatedWith.set(client, user.passwordHash);
          done(null, true);
        },
        (err: unknown) => refuse(`verification failed: ${errorMessage(err)}`),
      );
    },
    authorizePublish(client, packet, done) {
      const identity = client ? identities.get(client) : undefined;
      const decision = mayPublish(identity, packet.topic);
      if (!decision.allowed) {
        metrics.publishDenied.inc({ role: identity?.role ?? 'none' });
        refusals.warn(client?.id ?? '', 'publish', { clientId: client?.id, username: identity?.username, topic: packet.topic, why: decision.reason }, 'publish denied');
        return done(new Error(decision.reason));
      }
      const size = packet.payload.length;
      if (size > maxPayload && identity?.role !== 'hub') {
        metrics.payloadRejected.inc({ channel: channelOf(packet.topic), reason: 'too-large' });
        // aedes closes the connection on a refused publish, and a gateway sends the refused
        // outbox row again first after reconnecting: its delivery stalls behind it. Said once
        // per gateway (then in the limiter's summaries, with how many more), naming what blocks.
        const gateway = identity?.role === 'gateway' ? { site: identity.site, gateway: identity.gateway } : {};
        refusals.warn(identity?.role === 'gateway' ? `gateway ${identity.site}/${identity.gateway}` : (client?.id ?? ''), 'payload', { ...gateway, clientId: client?.id, username: identity?.username, topic: packet.topic, size, limit: maxPayload }, `payload rejected: ${size} bytes on ${packet.topic} exceed broker.maxPayloadBytes (${maxPayload}); the connection is closed, and a gateway that sends it again first delivers nothing after it`);
        return done(new Error(`payload of ${size} bytes exceeds ${maxPayload}`));
      }
      if (!hold || identity?.role === 'hub' || !hold.holds(packet.topic)) return done(null);
      // aedes writes a QoS 1 PUBACK right after this hook answers: answer once the hub has it.
      const payload = packet.payload as Buffer;
      holdLanes.submit(laneOf(packet.topic), () => hold.handle(packet.topic, payload)).then(
        (ok) => {
          if (!ok) return done(new Error('the hub could not store the message; it is not acknowledged, send it again'));
          handled.add(payload);
          done(null);
        },
        (err: unknown) => done(err instanceof Error ? err : new Error(errorMessage(err))),
      );
    },
    authorizeSubscribe(client, sub, done) {
      const identity = identities.get(client);
      const decision = maySubscribe(identity, sub.topic);
      if (!decision.allowed) {
        metrics.subscribeDenied.inc({ role: identity?.role ?? 'none' });
        refusals.warn(client.id, 'subscribe', { clientId: client.id, username: identity?.username, topic: sub.topic, why: decision.reason }, 'subscribe denied');
        return done(null, null);
      }
      const group = parseShared(sub.topic);
      if (group) {
        shared.join(client, group.group, group.filter);
        // Rewrite in place: aedes keeps the subscription object it was given (persistent sessions
        // restore it), so a copy would leave the $share/... name stored and match nothing.
        sub.topic = group.filter;
        return done(null, sub);
      }
      done(null, sub);
    },
    authorizeForward(client, packet) {
      // Also guards messages queued in a session: only what the receiving identity may read.
      const identity = identities.get(client);
      if (!mayRead(identity, packet.topic)) return null;
      if (hold && identity?.role === 'hub' && client.id === hold.consumerClientId && handled.has(packet.payload as Buffer)) return null;
      return shared.shouldForward(client, packet.topic, packet.brokerCounter) ? packet : null;
    },
  });
  new RetainedIndex().install((broker as unknown as { persistence: RetainedPersistence }).persistence);
  // Revocation takes effect at once: after a reload, a client whose user is gone (or whose password
  // changed) is disconnected, and its next CONNECT is refused.
  credentials.onReload = (creds) => {
    const hashes = new Map(creds.users.map((u) => [u.username, u.passwordHash]));
    for (const client of connected) {
      const identity = identities.get(client);
      const hash = authenticatedWith.get(client);
      if (!identity || identity.role === 'hub' || hash === undefined || hashes.get(identity.username) === hash) continue;
      log.warn({ clientId: client.id, username: identity.username }, 'credentials revoked or rotated: disconnecting the client');
      client.close();
    }
  };
  const credentialWatch = setInterval(() => credentials.current(log), 1000);
  credentialWatch.unref();
  broker.on('client', (client) => {
    connected.add(client);
    const identity = identities.get(client);
    if (identity && identity.role !== 'hub') clientIds.connected(client, client.id, identity.username);
  });
  broker.on('clientDisconnect', (client) => {
    connected.delete(client);
    clientIds.disconnected(client, client.id, client.clean);
    shared.leave(client);
  });
  broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));
  broker.on('connectionError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'connection error'));

  const host = options.host ?? '0.0.0.0';
  const servers: (NetServer | TlsServer | HttpServer)[] = [];
  let wss: WebSocketServer | undefined;
  const closeAll = async (): Promise<void> => {
    clearInterval(credentialWatch);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await holdLanes.idle(); // held publishes finish (or are refused) before the caller closes the store
    if (wss) {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss!.close(() => resolve()));
    }
    await Promise.all(servers.map(closeServer));
    refusals.close();
  };
  try {
    // No Nagle: a gateway's PUBACK now waits for the store, and a small packet held for the peer's
    // delayed ACK (40 ms on Linux) would add that to every message behind it.
    const tcp = createNetServer((socket) => {
      socket.setNoDelay(true);
      broker.handle(socket);
    });
    servers.push(tcp);
    const port = await listen(tcp, options.port, host);
    let tlsPort: number | undefined;
    if (options.tls) {
      const tlsServer = createTlsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, (socket) => {
        socket.setNoDelay(true);
        broker.handle(socket);
      });
      servers.push(tlsServer);
      tlsPort = await listen(tlsServer, options.tls.port, host);
    }
    let wsPort: number | undefined;
    if (options.ws) {
      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' });
        res.end('MQTT over WebSocket only\n');
      });
      servers.push(http);
      const socketServer = new WebSocketServer({ server: http });
      wss = socketServer;
      socketServer.on('connection', (socket, req) => {
        const stream = createWebSocketStream(socket);
        stream.on('error', (err) => log.debug({ err: err.message }, 'websocket stream error'));
        broker.handle(stream, req);
      });
      wsPort = await listen(http, options.ws.port, host);
    }
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    log.info({ port, tlsPort, wsPort }, 'embedded broker listening');
    return {
      host,
      port,
      tlsPort,
      wsPort,
      url: `mqtt://${shownHost}:${port}`,
      metrics,
      internal,
      reloadCredentials: () => credentials.reload(),
      get connectedClients() {
        return broker.connectedClients;
      },
      open: () => {
        accepting = true;
      },
      seal: () => {
        accepting = false;
        for (const client of connected) if (identities.get(client)?.role !== 'hub') client.close();
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw new SwarmgateError('SWG_ERR_HUB_BROKER', `embedded broker could not listen: ${errorMessage(err)}`, { cause: err });
  }
}
