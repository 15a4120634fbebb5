/**
 * Enrolling a gateway: the token (or the claim URI from the sticker's QR code), a key generated
 * here, the request, the checked answer written into the config folder. Used by
 * `swarmgate edge enroll` and, on first start, by a gateway whose config is a bootstrap file.
 */
import { accessSync, constants, existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse } from 'yaml';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { readConfigFile } from '../../shared/kit/config-file.js';
import { packageVersion } from '../../shared/kit/package-info.js';
import type { Logger } from '../../shared/kit/log.js';
import { ENROLL_TOKEN_PREFIX, parseEnrollClaimUri, parseEnrollToken, type EnrolledIdentity } from '../../shared/wire/enrollment.js';
import { reachedHub, requestEnrollment, type HubTrust } from './client.js';
import { signEnrollProof } from './keys.js';
import { dropPendingKey, pendingKey } from './pending-key.js';
import { EnrollmentBootstrapSchema, type EnrollmentBootstrap } from './schema.js';
import { isEnrolled, writeIdentity, type WrittenIdentity } from './writer.js';

export interface EnrollOptions {
  /** The hub API URL; may come from the claim URI instead. */
  readonly hub?: string;
  /** The token or the claim URI. */
  readonly token: string;
  readonly out: string;
  readonly trust?: HubTrust;
  readonly requestedId?: string;
  /** Enroll again although the folder holds an identity (a replaced or reset box). */
  readonly force?: boolean;
  /** The config file name in `out` (default gateway.yaml). */
  readonly configFileName?: string;
}

export interface Enrolled extends WrittenIdentity {
  readonly identity: EnrolledIdentity;
}

/** Token, hub and CA fingerprint from what the technician typed or scanned. */
export function readClaim(tokenOrClaim: string, hub?: string, caFingerprint?: string): { token: string; hub: string; caFingerprint?: string } {
  const claim = parseEnrollClaimUri(tokenOrClaim.trim());
  const token = claim?.token ?? tokenOrClaim.trim();
  const hubUrl = hub ?? claim?.hub;
  if (!hubUrl) throw new SwarmgateError('SWG_ERR_CLI_USAGE', '--hub URL is required (the token is not a claim URI carrying it)');
  const ca = caFingerprint ?? claim?.ca;
  return { token, hub: hubUrl, ...(ca ? { caFingerprint: ca } : {}) };
}

export async function enrollGateway(options: EnrollOptions): Promise<Enrolled> {
  if (!options.force && isEnrolled(options.out)) {
    throw new SwarmgateError('SWG_ERR_ENROLL_ENROLLED', `${options.out} already holds an enrolled gateway (identity.json); enrolling again replaces its identity: give --force to do so`);
  }
  const claim = readClaim(options.token, options.hub, options.trust?.caFingerprint);
  const parsed = parseEnrollToken(claim.token);
  if (!parsed) throw new SwarmgateError('SWG_ERR_ENROLL_TOKEN', `--token: not an enrollment token (expected ${ENROLL_TOKEN_PREFIX}.<id>.<secret> or a swarmgate://enroll claim URI)`);
  const trust: HubTrust = { ...options.trust, ...(claim.caFingerprint ? { caFingerprint: claim.caFingerprint } : {}) };
  // The same key for every try with this token until its answer is written: the hub answers the
  // gateway that claimed the token again when the first answer was lost.
  const { key, kept } = pendingKey(options.out, parsed.id);
  try {
    const response = await requestEnrollment(
      claim.hub,
      {
        token: claim.token,
        publicKey: key.publicKeyPem,
        proof: signEnrollProof(key, parsed.id),
        hostname: hostname(),
        version: packageVersion(),
        ...(options.requestedId ? { requestedId: options.requestedId } : {}),
      },
      parsed.secret,
      trust,
    );
    const written = writeIdentity(options.out, claim.hub, response.identity, key, { ...(options.configFileName ? { configFileName: options.configFileName } : {}), ...(response.hubCaPem ? { hubCaPem: response.hubCaPem } : {}) });
    dropPendingKey(options.out);
    return { ...written, identity: response.identity };
  } catch (err) {
    if (!mayHaveClaimed(err, kept)) dropPendingKey(options.out);
    throw err;
  }
}

/**
 * Whether the hub may have claimed the token for this key although no identity was written: the
 * request reached the hub and no answer came back (timeout, a link reset, the hub failing mid-way),
 * the answer could not be written, or an earlier try with this key may have (the hub unreachable
 * now says nothing about then). The key is kept for the next try; after a refusal, an answer that
 * failed its check or a first try that never reached the hub, the folder is left as it was.
 */
function mayHaveClaimed(err: unknown, kept: boolean): boolean {
  if (isSwarmgateError(err, 'SWG_ERR_FILE_WRITE')) return true;
  return isSwarmgateError(err, 'SWG_ERR_ENROLL_HUB') && (kept || reachedHub(err));
}

/**
 * Why the gateway id the hub issued is not the one asked for (--id, enrollment.requestedId), or
 * undefined when it is (or none was asked for). The hub keeps a token's bound id, and gives a
 * taken id to no one: it picks `<site>-gw-<hex>` instead.
 */
export function idDifference(requestedId: string | undefined, identity: Pick<EnrolledIdentity, 'gateway' | 'site'>): string | undefined {
  if (requestedId === undefined || requestedId === identity.gateway) return undefined;
  const picked = identity.gateway.startsWith(`${identity.site.slice(0, 50)}-gw-`) && /-gw-[0-9a-f]{6}$/.test(identity.gateway);
  return picked
    ? `asked for gateway id ${requestedId}, enrolled as ${identity.gateway}: ${requestedId} is taken by another gateway, so the hub picked one`
    : `asked for gateway id ${requestedId}, enrolled as ${identity.gateway}: the token is bound to ${identity.gateway} (made with --gateway), which the hub keeps`;
}

/** The bootstrap section of a config file, or undefined when the file is a regular gateway config. */
export function readBootstrap(configFile: string): EnrollmentBootstrap | undefined {
  let raw: unknown;
  try {
    // The guarded read: a device file, a pipe or a huge file is refused, not read (the regular loader says why).
    raw = parse(readConfigFile(configFile));
  } catch {
    return undefined; // the regular loader reports an unreadable or broken file with its line
  }
  if (typeof raw !== 'object' || raw === null || !('enrollment' in raw)) return undefined;
  const section = (raw as { enrollment: unknown }).enrollment;
  const first = Value.Errors(EnrollmentBootstrapSchema, section).First();
  if (first) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${configFile}: enrollment${first.path.replace(/\//g, '.')}: ${first.message}`);
  const bootstrap = section as EnrollmentBootstrap;
  if (!bootstrap.token && !bootstrap.tokenFile) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${configFile}: enrollment: give token or tokenFile`);
  return bootstrap;
}

/**
 * `edge check` of a bootstrap file: undefined when the file is a regular gateway config; otherwise
 * what would stop its first start from enrolling (empty when nothing): a bad section, or a token
 * or CA file it cannot read.
 */
export function checkBootstrap(configFile: string): string[] | undefined {
  let bootstrap: EnrollmentBootstrap | undefined;
  try {
    bootstrap = readBootstrap(configFile);
  } catch (err) {
    return [errorMessage(err)];
  }
  if (!bootstrap) return undefined;
  const dir = dirname(resolve(configFile));
  const problems: string[] = [];
  for (const [field, file] of [['tokenFile', bootstrap.tokenFile], ['caFile', bootstrap.caFile]] as const) {
    if (!file) continue;
    const path = isAbsolute(file) ? file : resolve(dir, file);
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      problems.push(`${configFile}: enrollment.${field}: cannot read ${path} (${errorMessage(err)})`);
    }
  }
  return problems;
}

/** The longest a first start waits out the hub's Retry-After (429) before asking again. */
export const MAX_RATE_LIMIT_WAIT_MS = 15 * 60_000;

export interface FirstStartOptions {
  /** Aborts a wait between attempts (SIGTERM while the hub is unreachable). */
  readonly signal?: AbortSignal;
  /**
   * What the first start is doing, for the service manager's status line (STATUS=); `waitMs` when
   * it waits that long before trying again.
   */
  readonly onStatus?: (status: string, waitMs?: number) => void;
}

/** How long to wait before the next attempt after this error, or undefined when trying again cannot help. */
function retryDelayMs(err: unknown, attempt: number): { waitMs: number; why: string } | undefined {
  if (isSwarmgateError(err, 'SWG_ERR_ENROLL_HUB')) return { waitMs: Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6)), why: 'hub unreachable for enrollment' };
  if (isSwarmgateError(err, 'SWG_ERR_ENROLL_STORAGE')) return { waitMs: Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6)), why: 'the hub cannot store gateway credentials now (its admin must fix it; the token was not used)' };
  if (isSwarmgateError(err, 'SWG_ERR_ENROLL_RATE_LIMITED')) {
    // The hub's Retry-After, at least a second and at most MAX_RATE_LIMIT_WAIT_MS; a minute when it sent none.
    const seconds = err.details.retryAfterS;
    const waitMs = typeof seconds === 'number' ? Math.min(MAX_RATE_LIMIT_WAIT_MS, Math.max(1000, seconds * 1000)) : 60_000;
    return { waitMs, why: 'the hub rate-limits enrollment from this address for now (Retry-After)' };
  }
  return undefined;
}

/**
 * First start of a gateway whose config file is a bootstrap file: enrolls (retrying while the hub
 * is unreachable, with backoff up to a minute, and after the hub's Retry-After when it rate-limits,
 * at most MAX_RATE_LIMIT_WAIT_MS), then the config file holds the hub's config and the token file
 * is deleted. Returns whether it enrolled. A token the hub refused for good (used, expired,
 * revoked, unknown) throws SWG_ERR_ENROLL_TOKEN at once, its hint saying where a new token goes;
 * the token file is kept.
 */
export async function enrollOnFirstStart(configFile: string, log: Logger, options: FirstStartOptions = {}): Promise<boolean> {
  const { signal, onStatus } = options;
  const bootstrap = readBootstrap(configFile);
  if (!bootstrap) return false;
  const dir = dirname(resolve(configFile));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p));
  const tokenFile = bootstrap.tokenFile ? at(bootstrap.tokenFile) : undefined;
  let token = bootstrap.token;
  if (tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${configFile}: enrollment.tokenFile: cannot read ${tokenFile} (${errorMessage(err)})`);
    }
  }
  const trust: HubTrust = {
    ...(bootstrap.caFingerprint ? { caFingerprint: bootstrap.caFingerprint } : {}),
    ...(bootstrap.caFile ? { caPem: readFileSync(at(bootstrap.caFile), 'utf8') } : {}),
  };
  for (let attempt = 1; ; attempt++) {
    try {
      log.info({ hub: bootstrap.hub, attempt }, 'enrolling with the hub (first start)');
      onStatus?.(`enrolling with ${bootstrap.hub} (attempt ${attempt})`);
      const enrolled = await enrollGateway({
        hub: bootstrap.hub,
        token: token ?? '',
        out: dir,
        trust,
        force: true, // the bootstrap file is proof the folder is not enrolled yet
        configFileName: configFile.split('/').pop() ?? 'gateway.yaml',
        ...(bootstrap.requestedId ? { requestedId: bootstrap.requestedId } : {}),
      });
      if (tokenFile && existsSync(tokenFile)) rmSync(tokenFile);
      const differs = idDifference(bootstrap.requestedId, enrolled.identity);
      if (differs) log.warn({ requestedId: bootstrap.requestedId, gateway: enrolled.identity.gateway }, differs);
      log.info({ gateway: enrolled.identity.gateway, site: enrolled.identity.site }, 'enrolled; starting with the config the hub issued');
      return true;
    } catch (err) {
      if (isSwarmgateError(err, 'SWG_ERR_ENROLL_TOKEN')) {
        const where = tokenFile ?? `${configFile} (enrollment.token)`;
        throw new SwarmgateError('SWG_ERR_ENROLL_TOKEN', err.message, {
          cause: err,
          details: err.details,
          hint: `retrying cannot help: flash a new token. Ask the hub admin for one (swarmgate hub enroll create), put it in ${where} or flash the card again, then start the gateway (systemctl restart swarmgate-edge)`,
        });
      }
      const retry = retryDelayMs(err, attempt);
      if (!retry || signal?.aborted) throw err;
      log.warn({ err: errorMessage(err), retryInMs: retry.waitMs }, `${retry.why}; retrying`);
      onStatus?.(`not enrolled yet: ${retry.why}; retrying in ${Math.round(retry.waitMs / 1000)} s`, retry.waitMs);
      await sleep(retry.waitMs, undefined, signal ? { signal } : {});
    }
  }
}
