/**
 * The gateway's side of POST /api/v1/enroll. HTTPS only, except to loopback (tests). The hub is
 * trusted through the CA fingerprint printed with the token (the CA is taken from the chain the
 * hub presents, checked against the fingerprint, and then used to verify the connection as any CA
 * would be, host name included), or a CA file, or the system's CAs. The answer is checked against
 * its schema and its MAC before anyone writes anything.
 */
import { X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { Value } from '@sinclair/typebox/value';
import { ERROR_TABLE, SwarmgateError, errorMessage, isSwarmgateError, type ErrorCode } from '../../shared/kit/errors.js';
import { EnrollResponseSchema, enrollMacMatches, enrollSecretHash, type EnrollRequest, type EnrollResponse } from '../../shared/wire/enrollment.js';

export interface HubTrust {
  /** sha256:AB:CD:... of a certificate in the hub's chain (its CA, or itself when self-signed). */
  readonly caFingerprint?: string;
  /** PEM CA bundle that signed the hub's certificate. */
  readonly caPem?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/** `reached`: the request reached the hub before it failed (see reachedHub). */
function hubError(message: string, cause?: unknown, reached = false): SwarmgateError {
  return new SwarmgateError('SWG_ERR_ENROLL_HUB', message, { ...(cause === undefined ? {} : { cause }), ...(reached ? { details: { reachedHub: true } } : {}) });
}

/** The hub URL, refused unless https (or http to loopback). */
export function checkedHubUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw hubError(`--hub: "${text}" is not a URL (expected https://host:port)`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return url;
  throw hubError(`--hub: ${url.protocol}//${url.host} refused: enrollment carries secrets, so it needs https (plain http only to loopback, for tests)`);
}

const normalise = (fp: string): string => fp.replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase();

function chainOf(peer: PeerCertificate): PeerCertificate[] {
  const chain: PeerCertificate[] = [];
  let cert: PeerCertificate | undefined = peer;
  while (cert && cert.raw && !chain.includes(cert)) {
    chain.push(cert);
    const next: PeerCertificate | undefined = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
    cert = next && next !== cert ? next : undefined;
  }
  return chain;
}

/** The CA PEM from the hub's presented chain whose fingerprint is the pinned one. */
export function pinnedCa(url: URL, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  const want = normalise(fingerprint);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443), servername: LOOPBACK.has(url.hostname) ? undefined : url.hostname, rejectUnauthorized: false });
    socket.setTimeout(timeoutMs, () => socket.destroy(hubError(`no TLS answer from ${url.host} within ${timeoutMs} ms`)));
    socket.once('error', (err) => reject(err instanceof SwarmgateError ? err : hubError(`cannot reach ${url.host}: ${errorMessage(err)}`, err)));
    socket.once('secureConnect', () => {
      const chain = chainOf(socket.getPeerCertificate(true));
      socket.end();
      const match = chain.find((c) => normalise(c.fingerprint256) === want);
      if (!match) {
        reject(hubError(`the certificate chain of ${url.host} does not contain the pinned CA sha256:${fingerprint.replace(/^sha256:/i, '')}; it presented ${chain.map((c) => `sha256:${c.fingerprint256}`).join(', ') || 'nothing'}`));
        return;
      }
      resolve(new X509Certificate(match.raw).toString());
    });
  });
}

interface HubAnswer {
  readonly status: number;
  readonly text: string;
  /** The Retry-After header (seconds), when the hub sent one. */
  readonly retryAfter?: string;
}

/**
 * Whether an enrollment error came after the request reached the hub (its connection was up, and
 * trusted, when it failed; or the hub answered 5xx): the hub may then have claimed the token.
 */
export function reachedHub(err: unknown): boolean {
  return isSwarmgateError(err, 'SWG_ERR_ENROLL_HUB') && err.details.reachedHub === true;
}

function post(url: URL, body: string, caPem: string | undefined, timeoutMs: number): Promise<HubAnswer> {
  const tls = url.protocol === 'https:';
  const send = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let reached = false;
    const fail = (err: unknown): void => {
      if (isSwarmgateError(err) && (!reached || err.code !== 'SWG_ERR_ENROLL_HUB')) reject(err);
      else reject(hubError(isSwarmgateError(err) ? err.message : `cannot reach ${url.host}: ${errorMessage(err)}`, err, reached));
    };
    const req = send(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs, ...(caPem ? { ca: caPem } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 4 * 1024 * 1024) req.destroy(hubError('the enrollment answer is larger than 4 MiB'));
          else chunks.push(c);
        });
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(retryAfter ? { retryAfter } : {}) }));
        res.on('error', (err) => fail(err instanceof SwarmgateError ? err : hubError(`the answer from ${url.host} broke off: ${errorMessage(err)}`, err)));
      },
    );
    // Connected (and, over https, the hub's certificate trusted): from here the request may reach it.
    req.once('socket', (socket) => {
      if (!socket.connecting) reached = true;
      else socket.once(tls ? 'secureConnect' : 'connect', () => (reached = true));
    });
    req.on('timeout', () => req.destroy(hubError(`no answer from ${url.host} within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end(body);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The hub's refusal as the coded error it sent (token used, expired, ...), else a hub error with
 * the status. A 429 is SWG_ERR_ENROLL_RATE_LIMITED whatever its body, with `details.retryAfterS`
 * (the hub's Retry-After, in seconds) when the hub sent one.
 */
function refusal({ status, text, retryAfter }: HubAnswer): SwarmgateError {
  const body = parseJson(text) as { error?: { code?: string; message?: string } } | undefined;
  const code = body?.error?.code;
  const message = body?.error?.message ?? text.slice(0, 200);
  if (status === 429) {
    const seconds = retryAfter !== undefined && /^\d{1,9}$/.test(retryAfter.trim()) ? Number(retryAfter.trim()) : undefined;
    return new SwarmgateError('SWG_ERR_ENROLL_RATE_LIMITED', `the hub refused the enrollment for now: ${message}`, { details: seconds === undefined ? {} : { retryAfterS: seconds } });
  }
  if (code && code in ERROR_TABLE) return new SwarmgateError(code as ErrorCode, `the hub refused the enrollment: ${message}`);
  // A hub failing mid-way may have claimed the token first.
  return hubError(`the hub answered ${status}: ${message}`, undefined, status >= 500);
}

/**
 * Sends the enrollment request; resolves with an answer whose schema and MAC were checked, and the
 * CA the hub was trusted with (kept for later HTTPS calls to it, such as release downloads).
 */
export async function requestEnrollment(hub: string, request: EnrollRequest, secret: string, trust: HubTrust = {}, timeoutMs = 30_000): Promise<EnrollResponse & { hubCaPem?: string }> {
  const base = checkedHubUrl(hub);
  const url = new URL('/api/v1/enroll', base);
  const ca = base.protocol === 'https:' && trust.caFingerprint ? await pinnedCa(base, trust.caFingerprint, timeoutMs) : trust.caPem;
  const answered = await post(url, JSON.stringify(request), ca, timeoutMs);
  const { status, text } = answered;
  if (status !== 200) throw refusal(answered);
  const answer = parseJson(text);
  if (answer === undefined) throw new SwarmgateError('SWG_ERR_ENROLL_RESPONSE', 'the enrollment answer is not JSON');
  const first = Value.Errors(EnrollResponseSchema, answer).First();
  if (first) throw new SwarmgateError('SWG_ERR_ENROLL_RESPONSE', `the enrollment answer is malformed at ${first.path || '/'}: ${first.message}`);
  const response = answer as EnrollResponse;
  if (!enrollMacMatches(enrollSecretHash(secret), response.identity, response.mac)) {
    throw new SwarmgateError('SWG_ERR_ENROLL_RESPONSE', 'the enrollment answer does not carry the MAC of this token: it was changed on the way or does not come from the hub that issued the token');
  }
  return { ...response, ...(ca ? { hubCaPem: ca } : {}) };
}
