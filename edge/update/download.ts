/**
 * Fetching a release artifact from the hub into a staging file, resuming an interrupted download
 * with a Range request. Only HTTPS (plain http to a loopback address, for tests). Nothing here
 * trusts the bytes: the caller verifies size, sha256 and signature before anything is unpacked.
 */
import { createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';

export interface DownloadOptions {
  readonly url: string;
  /** Bearer token of the deployment. */
  readonly token: string;
  /** The staging file; bytes already in it are kept and the rest requested. */
  readonly file: string;
  /** The artifact size from the (verified) manifest: the download never writes more. */
  readonly size: number;
  /** Extra CA (PEM file) for the hub's certificate. */
  readonly caFile?: string;
  readonly idleTimeoutMs?: number;
  readonly onProgress?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

export interface DownloadResult {
  readonly bytes: number;
  /** Bytes that were in the staging file already (a resumed download). */
  readonly resumedFrom: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/** https, or http to a loopback host; throws SWG_ERR_UPDATE_DOWNLOAD otherwise. */
export function checkDownloadUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `"${url}" is not a URL`, { details: { check: 'url' } });
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return u;
  throw new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `refusing to download from ${u.protocol}//${u.host}: releases come over HTTPS (plain http only from a loopback address)`, { details: { check: 'url' } });
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const url = checkDownloadUrl(options.url);
  let have = sizeOf(options.file);
  if (have > options.size) {
    rmSync(options.file, { force: true });
    have = 0;
  }
  if (have === options.size) return { bytes: have, resumedFrom: have };
  const resumedFrom = have;
  const response = await get(url, options, have);
  let append = false;
  if (response.statusCode === 206 && have > 0) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
    append = range !== null && Number(range[1]) === have;
  } else if (response.statusCode !== 200) {
    response.resume();
    throw new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `${url.origin}${url.pathname}: HTTP ${response.statusCode ?? '?'}`, { details: { check: 'http', status: response.statusCode ?? 0 } });
  }
  if (!append) have = 0;
  const out = createWriteStream(options.file, { flags: append ? 'a' : 'w' });
  let bytes = have;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        response.destroy();
        reject(err);
      };
      response.on('data', (chunk: Buffer) => {
        if (bytes + chunk.length > options.size) return fail(new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the hub sent more than the manifest's ${options.size} bytes`, { details: { check: 'size' } }));
        bytes += chunk.length;
        if (!out.write(chunk)) {
          response.pause();
          out.once('drain', () => response.resume());
        }
        options.onProgress?.(bytes);
      });
      response.on('end', () => resolve());
      response.on('error', fail);
      response.on('aborted', () => fail(new Error('connection closed mid-download')));
      out.on('error', fail);
    });
  } catch (err) {
    throw err instanceof SwarmgateError ? err : new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `download interrupted at ${bytes} of ${options.size} bytes: ${errorMessage(err)}; it resumes from there`, { cause: err, details: { check: 'transfer', bytes } });
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (bytes !== options.size) {
    throw new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `download ended at ${bytes} of ${options.size} bytes; it resumes from there`, { details: { check: 'transfer', bytes } });
  }
  return { bytes, resumedFrom };
}

function get(url: URL, options: DownloadOptions, from: number): Promise<IncomingMessage> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: 'application/octet-stream' };
  if (from > 0) headers.range = `bytes=${from}-`;
  // The configured CA is trusted besides the system's, not instead of them.
  const ca = options.caFile ? [...rootCertificates, readFileSync(options.caFile, 'utf8')] : undefined;
  return new Promise((resolve, reject) => {
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { method: 'GET', headers, ...(ca ? { ca } : {}), ...(options.signal ? { signal: options.signal } : {}) }, resolve)
        : httpRequest(url, { method: 'GET', headers, ...(options.signal ? { signal: options.signal } : {}) }, resolve);
    req.setTimeout(options.idleTimeoutMs ?? 30_000, () => req.destroy(new Error('no data for too long')));
    req.on('error', (err) => reject(new SwarmgateError('SWG_ERR_UPDATE_DOWNLOAD', `${url.origin}: ${errorMessage(err)}`, { cause: err, details: { check: 'connect' } })));
    req.end();
  });
}
