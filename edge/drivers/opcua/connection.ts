/**
 * The OPC UA client connection of one device: certificate manager, client, one session, and a
 * small state machine the subscription keeper and read/write paths consult.
 *
 * Short outages are repaired by node-opcua itself (new secure channel, session reactivation or
 * a new session with subscription transfer/recreation, bounded exponential backoff). If the
 * client gives up (it emits `close` with an error) we rebuild client and session from scratch
 * on our own bounded timer and announce `restored` with `fresh: true` so subscriptions are
 * recreated. stop() disposes everything, including our timers.
 */
import { EventEmitter } from 'node:events';
import {
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type UserIdentityInfo,
} from 'node-opcua-client';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import { acquirePki, type PkiLease } from './pki.js';
import type { ResolvedOpcuaConnection } from './settings.js';

export type LinkState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped';

export interface LinkEvents {
  /** The connection broke; node-opcua (or we) are reconnecting. */
  lost: [];
  /** Usable again. fresh: the session object is new, every subscription must be recreated. */
  restored: [fresh: boolean];
}

/** node-opcua keeps a closed secure channel's CLO reply timer (100 ms) running after disconnect(). */
const CLOSE_SETTLE_MS = 150;

const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|cannot be established|has been aborted|Backoff aborted|premature/i;

export class OpcuaLink extends EventEmitter<LinkEvents> {
  #state: LinkState = 'idle';
  #client: OPCUAClient | undefined;
  #session: ClientSession | undefined;
  #pki: PkiLease | undefined;
  #rebuildTimer: NodeJS.Timeout | undefined;
  #rebuildDelay: number;

  constructor(
    private readonly settings: ResolvedOpcuaConnection,
    private readonly log: Logger,
    private readonly name: string,
  ) {
    super();
    this.#rebuildDelay = settings.reconnectInitialDelayMs;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** The live session; throws SWG_ERR_DEVICE_NOT_CONNECTED while there is none. */
  get session(): ClientSession {
    if (this.#state !== 'connected' || !this.#session) {
      throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `OPC UA device ${this.name} is not connected (${this.#state})`, {
        details: { endpointUrl: this.settings.endpointUrl, state: this.#state },
      });
    }
    return this.#session;
  }

  async open(): Promise<void> {
    if (this.#state === 'stopped') throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `OPC UA device ${this.name} was stopped`);
    if (this.#state === 'connected') return;
    this.#state = 'connecting';
    try {
      await this.#connect();
      this.#state = 'connected';
      this.#rebuildDelay = this.settings.reconnectInitialDelayMs;
    } catch (err) {
      await this.#disposeClient();
      if ((this.#state as LinkState) !== 'stopped') this.#state = 'idle';
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearTimeout(this.#rebuildTimer);
    this.#rebuildTimer = undefined;
    const hadClient = this.#client !== undefined;
    await this.#disposeClient();
    await this.#pki?.release();
    this.#pki = undefined;
    if (hadClient) await new Promise((resolve) => setTimeout(resolve, CLOSE_SETTLE_MS));
    this.removeAllListeners();
  }

  async #connect(): Promise<void> {
    const s = this.settings;
    if (!this.#pki) {
      const lease = await acquirePki(s.pkiDir, s.automaticallyAcceptUnknownCertificate);
      if (this.#state === 'stopped') {
        await lease.release();
        throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `OPC UA device ${this.name} was stopped while connecting`);
      }
      this.#pki = lease;
    }
    const client = OPCUAClient.create({
      applicationName: 'Swarmgate Edge',
      clientName: this.name,
      endpointMustExist: false,
      securityMode: MessageSecurityMode[s.securityMode],
      securityPolicy: SecurityPolicy[s.securityPolicy],
      clientCertificateManager: this.#pki.manager,
      // maxRetry 1: the first connect fails fast so initialize() can report it; node-opcua's
      // reconnection after a loss always retries, bounded by initialDelay..maxDelay.
      connectionStrategy: { initialDelay: s.reconnectInitialDelayMs, maxDelay: s.reconnectMaxDelayMs, maxRetry: 1, randomisationFactor: 0.1 },
      requestedSessionTimeout: s.sessionTimeoutMs,
      defaultTransactionTimeout: s.requestTimeoutMs,
      // Without subscriptions nothing would notice a silently dropped link; the keep-alive read does.
      keepSessionAlive: true,
      keepAliveInterval: Math.max(1000, Math.min(10_000, Math.floor(s.sessionTimeoutMs / 3))),
    });
    this.#client = client;
    this.#watch(client);
    try {
      await client.connect(s.endpointUrl);
    } catch (err) {
      const message = errorMessage(err);
      const code = UNREACHABLE.test(message) ? 'SWG_ERR_DEVICE_UNREACHABLE' : 'SWG_ERR_OPCUA_SESSION';
      const hint = /BadCertificateUntrusted|BadCertificate/.test(message)
        ? `; if you trust this server, move its certificate from ${s.pkiDir}/rejected to ${s.pkiDir}/trusted/certs (or set automaticallyAcceptUnknownCertificate)`
        : '';
      throw new SwarmgateError(code, `cannot connect to OPC UA server ${s.endpointUrl}: ${firstLine(err)}${hint}`, {
        cause: err,
        details: { endpointUrl: s.endpointUrl, securityMode: s.securityMode, securityPolicy: s.securityPolicy },
      });
    }
    try {
      this.#session = await client.createSession(this.#identity());
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_OPCUA_SESSION', `OPC UA server ${s.endpointUrl} refused the session: ${firstLine(err)}`, {
        cause: err,
        details: { endpointUrl: s.endpointUrl, user: s.username ?? 'anonymous' },
      });
    }
  }

  #identity(): UserIdentityInfo {
    if (this.settings.username === undefined) return { type: UserTokenType.Anonymous };
    return { type: UserTokenType.UserName, userName: this.settings.username, password: this.settings.password ?? '' };
  }

  #watch(client: OPCUAClient): void {
    client.on('connection_lost', () => {
      if (client !== this.#client || this.#state !== 'connected') return;
      this.log.warn({ endpointUrl: this.settings.endpointUrl }, 'OPC UA connection lost, reconnecting');
      this.#state = 'reconnecting';
      this.emit('lost');
    });
    client.on('backoff', (count, delay) => {
      if (client === this.#client) this.log.debug({ count, delay }, 'OPC UA reconnect attempt failed, backing off');
    });
    client.on('connection_reestablished', () => {
      if (client !== this.#client || this.#state !== 'reconnecting') return;
      this.log.info({ endpointUrl: this.settings.endpointUrl }, 'OPC UA connection re-established');
      this.#state = 'connected';
      this.emit('restored', false);
    });
    client.on('close', (err) => {
      // close without error is our own disconnect(); with an error node-opcua has given up.
      if (!err || client !== this.#client) return;
      if (this.#state !== 'connected' && this.#state !== 'reconnecting') return;
      this.log.warn({ err: errorMessage(err) }, 'OPC UA client gave up reconnecting; rebuilding it');
      const wasConnected = this.#state === 'connected';
      this.#state = 'reconnecting';
      if (wasConnected) this.emit('lost');
      this.#scheduleRebuild();
    });
  }

  #scheduleRebuild(): void {
    if (this.#state === 'stopped' || this.#rebuildTimer) return;
    const delay = this.#rebuildDelay;
    this.#rebuildDelay = Math.min(this.settings.reconnectMaxDelayMs, delay * 2);
    this.#rebuildTimer = setTimeout(() => {
      this.#rebuildTimer = undefined;
      void this.#rebuild();
    }, delay);
  }

  async #rebuild(): Promise<void> {
    await this.#disposeClient();
    if (this.#state === 'stopped') return;
    try {
      await this.#connect();
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'OPC UA rebuild failed');
      await this.#disposeClient();
      this.#scheduleRebuild();
      return;
    }
    if (this.#state !== 'reconnecting') {
      await this.#disposeClient();
      return;
    }
    this.#state = 'connected';
    this.#rebuildDelay = this.settings.reconnectInitialDelayMs;
    this.emit('restored', true);
  }

  async #disposeClient(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#session = undefined;
    if (!client) return;
    // disconnect() also closes the session (and does not wait for a server that is gone).
    try {
      await client.disconnect();
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'OPC UA disconnect failed');
    }
    client.removeAllListeners();
  }
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0] ?? '';
}

