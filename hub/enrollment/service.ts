/**
 * Claim-based enrollment. An admin creates one-time tokens for a site (optionally bound to one
 * gateway id); the hub keeps only sha256 of each token's secret. A gateway presents a token, the
 * Ed25519 public key it generated and a signature made with that key; the hub claims the token in
 * one conditional UPDATE (so two gateways racing with one token cannot both win, on any number of
 * hub processes), issues the gateway its own broker user and answers with its identity and first
 * config, MACed with the token's hash. A used, expired or revoked token is refused with that
 * reason; an unknown token or a wrong secret are refused alike. The gateway that claimed a token
 * may ask again with the same token and key for a day (ANSWER_AGAIN_MS): its first answer was lost
 * on the way, and it is answered again with fresh credentials. Revoking a gateway removes its
 * broker user, which ends its connection at once.
 */
import { createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import {
  ENROLL_TOKEN_PREFIX,
  enrollClaimUri,
  enrollMac,
  enrollProofMessage,
  enrollSecretHash,
  keyFingerprint,
  parseEnrollToken,
  type EnrolledIdentity,
  type EnrollRequest,
  type EnrollResponse,
} from '../../shared/wire/enrollment.js';
import { num, optNum, str, type Sql, type SqlRow } from '../db/sql.js';
import type { GatewayCredentialIssuer } from './ports.js';
import { renderGatewayConfig } from './template.js';

const strict = { additionalProperties: false } as const;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const TokenStateSchema = Type.Union([Type.Literal('active'), Type.Literal('used'), Type.Literal('expired'), Type.Literal('revoked')]);
export type TokenState = Static<typeof TokenStateSchema>;

/** A token as listed: never its secret. */
export const EnrollmentTokenSchema = Type.Object(
  {
    id: Type.String(),
    site: Type.String(),
    gateway: Type.Optional(Type.String({ description: 'the gateway id the token is bound to; absent: the hub picks one' })),
    state: TokenStateSchema,
    createdAt: Type.Integer(),
    createdBy: Type.String(),
    expiresAt: Type.Integer(),
    usedAt: Type.Optional(Type.Integer()),
    usedBy: Type.Optional(Type.String({ description: 'the gateway that enrolled with it' })),
    revokedAt: Type.Optional(Type.Integer()),
    revokedBy: Type.Optional(Type.String()),
    note: Type.Optional(Type.String()),
    moveSite: Type.Optional(Type.Boolean({ description: 'the bound gateway is enrolled at another site and moves to this one when the token is used (said so when it was made)' })),
  },
  strict,
);
export type EnrollmentToken = Static<typeof EnrollmentTokenSchema>;

/** A token just created: the only time its secret exists outside the gateway's hands. */
export const CreatedTokenSchema = Type.Intersect([EnrollmentTokenSchema, Type.Object({ token: Type.String({ description: 'shown once; only its hash is stored' }) })]);
export type CreatedToken = EnrollmentToken & { readonly token: string };

export const EnrolledGatewaySchema = Type.Object(
  {
    gateway: Type.String(),
    site: Type.String(),
    keyFingerprint: Type.String(),
    tokenId: Type.String(),
    hostname: Type.Optional(Type.String()),
    enrolledAt: Type.Integer(),
    revokedAt: Type.Optional(Type.Integer()),
    revokedBy: Type.Optional(Type.String()),
  },
  strict,
);
export type EnrolledGateway = Static<typeof EnrolledGatewaySchema>;

export interface EnrollmentSettings {
  /** The API's URL as gateways reach it: goes into claim URIs. */
  readonly hubUrl?: string;
  /** sha256:AB:CD... of the API's CA certificate: goes into claim URIs, pinned by the gateway. */
  readonly caFingerprint?: string;
  readonly brokerUrl: string;
  readonly brokerCaPem?: string;
  readonly releaseKeyPem?: string;
  readonly templatesDir: string;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
}

export interface NewTokens {
  readonly site: string;
  readonly gateway?: string;
  readonly count?: number;
  readonly ttlMs?: number;
  readonly createdBy: string;
  readonly note?: string;
  /**
   * The bound gateway id is enrolled at another site and is meant to move to this one. Without it,
   * a token for a gateway id enrolled at another site is refused (SWG_ERR_ENROLL_SITE_MOVE).
   */
  readonly moveSite?: boolean;
}

export interface EnrollmentServiceOptions {
  readonly sql: Sql;
  /** Absent: tokens can be made and listed (CLI against the store), not used. */
  readonly settings?: EnrollmentSettings;
  readonly issuer?: GatewayCredentialIssuer;
  readonly log?: Logger;
  readonly now?: () => number;
}

const TOKEN_COLUMNS = 'id, site, gateway, secret_hash, created_at, created_by, expires_at, used_at, used_by, revoked_at, revoked_by, note, move_site';
const GATEWAY_COLUMNS = 'gateway, site, key_fingerprint, token_id, hostname, enrolled_at, revoked_at, revoked_by';
const MAX_TOKENS_AT_ONCE = 1000;

function optStr(row: SqlRow, key: string): string | undefined {
  const v = row[key];
  return v === null || v === undefined ? undefined : String(v);
}

function tokenState(row: SqlRow, now: number): TokenState {
  if (optNum(row, 'revoked_at') !== undefined) return 'revoked';
  if (optNum(row, 'used_at') !== undefined) return 'used';
  return num(row, 'expires_at') <= now ? 'expired' : 'active';
}

function tokenFromRow(row: SqlRow, now: number): EnrollmentToken {
  const gateway = optStr(row, 'gateway');
  const usedAt = optNum(row, 'used_at');
  const usedBy = optStr(row, 'used_by');
  const revokedAt = optNum(row, 'revoked_at');
  const revokedBy = optStr(row, 'revoked_by');
  const note = optStr(row, 'note');
  const moveSite = optNum(row, 'move_site') === 1;
  return {
    id: str(row, 'id'),
    site: str(row, 'site'),
    ...(gateway === undefined ? {} : { gateway }),
    state: tokenState(row, now),
    createdAt: num(row, 'created_at'),
    createdBy: str(row, 'created_by'),
    expiresAt: num(row, 'expires_at'),
    ...(usedAt === undefined ? {} : { usedAt }),
    ...(usedBy === undefined ? {} : { usedBy }),
    ...(revokedAt === undefined ? {} : { revokedAt }),
    ...(revokedBy === undefined ? {} : { revokedBy }),
    ...(note === undefined ? {} : { note }),
    ...(moveSite ? { moveSite } : {}),
  };
}

function gatewayFromRow(row: SqlRow): EnrolledGateway {
  const hostname = optStr(row, 'hostname');
  const revokedAt = optNum(row, 'revoked_at');
  const revokedBy = optStr(row, 'revoked_by');
  return {
    gateway: str(row, 'gateway'),
    site: str(row, 'site'),
    keyFingerprint: str(row, 'key_fingerprint'),
    tokenId: str(row, 'token_id'),
    ...(hostname === undefined ? {} : { hostname }),
    enrolledAt: num(row, 'enrolled_at'),
    ...(revokedAt === undefined ? {} : { revokedAt }),
    ...(revokedBy === undefined ? {} : { revokedBy }),
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * How long after claiming a token the gateway that claimed it (the same key, proven by the proof)
 * is answered again: an answer lost to a timeout, a reset link or a crash before the gateway wrote
 * it would otherwise need a new token. A gateway retries within minutes; one switched off after
 * the lost answer has a day.
 */
export const ANSWER_AGAIN_MS = 24 * 3_600_000;

function refused(message: string, details: Record<string, string> = {}): SwarmgateError {
  return new SwarmgateError('SWG_ERR_ENROLL_TOKEN', message, { details });
}

/** The public key the gateway sent, checked to be Ed25519 and to have signed the proof. */
function checkedKey(request: EnrollRequest, tokenId: string): Buffer {
  let key;
  try {
    key = createPublicKey(request.publicKey);
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_API_VALIDATION', `publicKey: not a PEM public key (${errorMessage(err)})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SwarmgateError('SWG_ERR_API_VALIDATION', `publicKey: expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'an unknown type'}`);
  const signature = Buffer.from(request.proof, 'base64');
  if (signature.length !== 64 || !verify(null, enrollProofMessage(tokenId, request.publicKey), key, signature)) {
    throw new SwarmgateError('SWG_ERR_API_VALIDATION', 'proof: not a signature of this token id and public key by that key');
  }
  return key.export({ type: 'spki', format: 'der' });
}

export class EnrollmentService {
  private readonly sql: Sql;
  private readonly now: () => number;

  constructor(private readonly options: EnrollmentServiceOptions) {
    this.sql = options.sql;
    this.now = options.now ?? Date.now;
  }

  /** Whether this hub can enroll gateways (settings and a credential issuer). */
  get accepting(): boolean {
    return this.options.settings !== undefined && this.options.issuer !== undefined;
  }

  /** The claim URI of a token (hub URL, token, CA fingerprint) for the sticker's QR code; undefined without enrollment.hubUrl. */
  claimFor(token: string): string | undefined {
    const s = this.options.settings;
    return s?.hubUrl ? enrollClaimUri(s.hubUrl, token, s.caFingerprint) : undefined;
  }

  async createTokens(spec: NewTokens): Promise<CreatedToken[]> {
    const count = spec.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_TOKENS_AT_ONCE) throw new SwarmgateError('SWG_ERR_API_VALIDATION', `count: expected 1 to ${MAX_TOKENS_AT_ONCE}, got ${count}`);
    if (!ID_PATTERN.test(spec.site)) throw new SwarmgateError('SWG_ERR_API_VALIDATION', `site: "${spec.site}" is not an id (letters, digits, "_" and "-", at most 64)`);
    if (spec.gateway !== undefined && !ID_PATTERN.test(spec.gateway)) throw new SwarmgateError('SWG_ERR_API_VALIDATION', `gateway: "${spec.gateway}" is not an id (letters, digits, "_" and "-", at most 64)`);
    if (spec.gateway !== undefined && count > 1) throw new SwarmgateError('SWG_ERR_API_VALIDATION', 'count: a token bound to one gateway id is made one at a time');
    if (spec.moveSite === true && spec.gateway === undefined) throw new SwarmgateError('SWG_ERR_API_VALIDATION', 'moveSite: only for a token bound to a gateway id (gateway)');
    const maxTtl = this.options.settings?.maxTtlMs ?? 90 * 86_400_000;
    const ttl = spec.ttlMs ?? this.options.settings?.defaultTtlMs ?? 7 * 86_400_000;
    if (ttl <= 0 || ttl > maxTtl) throw new SwarmgateError('SWG_ERR_API_VALIDATION', `ttl: expected at most ${Math.round(maxTtl / 86_400_000)} days (enrollment.maxTtl), got ${Math.round(ttl / 3_600_000)} h`);
    if (spec.gateway !== undefined) await this.checkSiteMove(spec.gateway, spec.site, spec.moveSite === true);
    const now = this.now();
    const created: CreatedToken[] = [];
    for (let i = 0; i < count; i++) {
      const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12);
      const secret = randomBytes(32).toString('base64url');
      await this.sql.all(`INSERT INTO enrollment_tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?)`, [
        id, spec.site, spec.gateway ?? null, enrollSecretHash(secret), now, spec.createdBy, now + ttl, spec.note ?? null, spec.moveSite === true && spec.gateway !== undefined ? 1 : 0,
      ]);
      const row = (await this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = ?`, [id]))[0] as SqlRow;
      created.push({ ...tokenFromRow(row, now), token: `${ENROLL_TOKEN_PREFIX}.${id}.${secret}` });
    }
    this.options.log?.info({ site: spec.site, gateway: spec.gateway, count, by: spec.createdBy, expiresAt: iso(now + ttl) }, 'enrollment tokens created');
    return created;
  }

  /** The site a gateway id is enrolled at (revoked or not), when it is enrolled at all. */
  private async enrolledSite(gateway: string): Promise<{ site: string; revokedAt?: number } | undefined> {
    const row = (await this.sql.all('SELECT site, revoked_at FROM enrolled_gateways WHERE gateway = ?', [gateway]))[0];
    if (!row) return undefined;
    const revokedAt = optNum(row, 'revoked_at');
    return { site: str(row, 'site'), ...(revokedAt === undefined ? {} : { revokedAt }) };
  }

  /** Refuses a token that would move a gateway enrolled at another site, unless the move was asked for. */
  private async checkSiteMove(gateway: string, site: string, moveSite: boolean): Promise<void> {
    const enrolled = await this.enrolledSite(gateway);
    if (!enrolled || enrolled.site === site || moveSite) return;
    const state = enrolled.revokedAt === undefined ? '' : ` (revoked at ${iso(enrolled.revokedAt)})`;
    throw new SwarmgateError(
      'SWG_ERR_ENROLL_SITE_MOVE',
      `gateway: "${gateway}" is enrolled at site ${enrolled.site}${state}, not ${site}; a token for it would move it to ${site} when used. Give --move-site ("moveSite": true) if that is intended, or pick another gateway id`,
      { details: { gateway, site: enrolled.site } },
    );
  }

  async listTokens(filter: { site?: string; state?: TokenState; limit?: number } = {}): Promise<EnrollmentToken[]> {
    const limit = Math.min(filter.limit ?? 100, 1000);
    const bySite = filter.site === undefined ? '' : 'WHERE site = ?';
    const rows = await this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens ${bySite} ORDER BY created_at DESC, id LIMIT ?`, [
      ...(filter.site === undefined ? [] : [filter.site]), limit * (filter.state ? 10 : 1),
    ]);
    const now = this.now();
    const tokens = rows.map((r) => tokenFromRow(r, now));
    return (filter.state ? tokens.filter((t) => t.state === filter.state) : tokens).slice(0, limit);
  }

  /**
   * Revokes an unused token (active or expired). A token already used or already revoked is left
   * as it is and refused with when and by whom (SWG_ERR_ENROLL_TOKEN_SPENT, 409): nothing changed,
   * so nothing is audited.
   */
  async revokeToken(id: string, by: string): Promise<EnrollmentToken> {
    const revoked = await this.sql.all(`UPDATE enrollment_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL AND used_at IS NULL RETURNING ${TOKEN_COLUMNS}`, [this.now(), by, id]);
    if (revoked[0]) return tokenFromRow(revoked[0], this.now());
    const row = (await this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = ?`, [id]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_ENROLL_UNKNOWN', `no enrollment token "${id}"`);
    const usedAt = optNum(row, 'used_at');
    const why = usedAt === undefined
      ? `token ${id} was already revoked at ${iso(num(row, 'revoked_at'))} by ${str(row, 'revoked_by')}`
      : `token ${id} was already used at ${iso(usedAt)} (by gateway ${str(row, 'used_by')}): there is nothing left to revoke`;
    throw new SwarmgateError('SWG_ERR_ENROLL_TOKEN_SPENT', why, { details: { tokenId: id, state: usedAt === undefined ? 'revoked' : 'used' } });
  }

  async listGateways(filter: { site?: string } = {}): Promise<EnrolledGateway[]> {
    const rows = filter.site === undefined
      ? await this.sql.all(`SELECT ${GATEWAY_COLUMNS} FROM enrolled_gateways ORDER BY enrolled_at DESC`)
      : await this.sql.all(`SELECT ${GATEWAY_COLUMNS} FROM enrolled_gateways WHERE site = ? ORDER BY enrolled_at DESC`, [filter.site]);
    return rows.map(gatewayFromRow);
  }

  /** Revokes an enrolled gateway: its broker user is removed and its connection ends now. */
  async revokeGateway(gateway: string, by: string): Promise<EnrolledGateway> {
    const rows = await this.sql.all(`UPDATE enrolled_gateways SET revoked_at = ?, revoked_by = ? WHERE gateway = ? AND revoked_at IS NULL RETURNING ${GATEWAY_COLUMNS}`, [this.now(), by, gateway]);
    const row = rows[0] ?? (await this.sql.all(`SELECT ${GATEWAY_COLUMNS} FROM enrolled_gateways WHERE gateway = ?`, [gateway]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_ENROLL_UNKNOWN', `no enrolled gateway "${gateway}"`);
    const issuer = this.options.issuer;
    if (!issuer) throw new SwarmgateError('SWG_ERR_ENROLL_UNAVAILABLE', 'revoking a gateway needs the broker credentials file (embedded broker)');
    await issuer.revoke(gateway);
    this.options.log?.warn({ gateway, by }, 'gateway revoked: broker user removed');
    return gatewayFromRow(row);
  }

  /** Why a token row cannot be used now, or undefined when it can. */
  private problem(row: SqlRow, now: number): string | undefined {
    const id = str(row, 'id');
    switch (tokenState(row, now)) {
      case 'revoked':
        return `token ${id} was revoked at ${iso(num(row, 'revoked_at'))} by ${str(row, 'revoked_by')}`;
      case 'used':
        return `token ${id} was already used at ${iso(num(row, 'used_at'))} (by gateway ${str(row, 'used_by')}); each token enrolls one gateway once`;
      case 'expired':
        return `token ${id} expired at ${iso(num(row, 'expires_at'))}`;
      case 'active':
        return undefined;
    }
  }

  /** The gateway id for this enrollment: the token's, else the requested one when free, else a new one. */
  private async gatewayIdFor(row: SqlRow, request: Pick<EnrollRequest, 'requestedId'>, issuer: GatewayCredentialIssuer): Promise<string> {
    const bound = optStr(row, 'gateway');
    if (bound !== undefined) return bound;
    const free = async (id: string): Promise<boolean> => !issuer.exists(id) && (await this.sql.all('SELECT gateway FROM enrolled_gateways WHERE gateway = ?', [id])).length === 0;
    if (request.requestedId !== undefined && (await free(request.requestedId))) return request.requestedId;
    for (;;) {
      const id = `${str(row, 'site').slice(0, 50)}-gw-${randomBytes(3).toString('hex')}`;
      if (await free(id)) return id;
    }
  }

  async enroll(request: EnrollRequest): Promise<EnrollResponse> {
    const { settings, issuer } = this.options;
    if (!settings || !issuer) throw new SwarmgateError('SWG_ERR_ENROLL_UNAVAILABLE', 'this hub does not enroll gateways (no enrollment section in its config, or an external broker)');
    const parsed = parseEnrollToken(request.token);
    if (!parsed) throw refused(`token: not an enrollment token (expected ${ENROLL_TOKEN_PREFIX}.<id>.<secret>)`);
    const row = (await this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = ?`, [parsed.id]))[0];
    const secretHash = enrollSecretHash(parsed.secret);
    const stored = Buffer.from(row ? str(row, 'secret_hash') : '0'.repeat(64), 'hex');
    const matches = timingSafeEqual(stored, Buffer.from(secretHash, 'hex'));
    if (!row || !matches) throw refused('token not recognised by this hub (unknown, or not the one that was issued)');
    const now = this.now();
    const why = this.problem(row, now);
    if (why) {
      const again = tokenState(row, now) === 'used' ? await this.answerAgain(settings, issuer, row, request, parsed.id, secretHash, now) : undefined;
      if (again) return again;
      throw refused(why, { tokenId: parsed.id });
    }
    const der = checkedKey(request, parsed.id);
    const site = str(row, 'site');
    const boundId = optStr(row, 'gateway');
    const bound = boundId !== undefined;
    if (boundId !== undefined && optNum(row, 'move_site') !== 1) {
      // Enrolled at another site since the token was made: it does not move it unasked (nor burn).
      const enrolled = await this.enrolledSite(boundId);
      if (enrolled && enrolled.site !== site) {
        throw refused(`token ${parsed.id} is for gateway ${boundId} at site ${site}, but ${boundId} has since enrolled at site ${enrolled.site}; the token does not move it (make one with --move-site if it should)`, { tokenId: parsed.id });
      }
    }
    let gateway = await this.gatewayIdFor(row, request, issuer);
    // The template is rendered before the token is claimed: a broken template does not burn it.
    let configYaml = renderGatewayConfig({ templatesDir: settings.templatesDir, site, gateway, brokerUrl: settings.brokerUrl, username: gateway });
    const claimed = await this.sql.all('UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING id', [now, gateway, parsed.id, now]);
    if (claimed.length === 0) {
      const again = (await this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = ?`, [parsed.id]))[0] as SqlRow;
      throw refused(this.problem(again, this.now()) ?? `token ${parsed.id} could not be claimed`, { tokenId: parsed.id });
    }
    const fingerprint = keyFingerprint(der);
    const record = [site, fingerprint, request.publicKey.trim(), parsed.id, request.hostname ?? null, now] as const;
    if (!bound) {
      // An id the hub picked is taken by inserting its row: two gateways asking for the same free id
      // at once cannot both get it (the loser gets another), and no one's credentials are rotated.
      for (let attempt = 0; ; attempt++) {
        const taken = await this.sql.all(
          `INSERT INTO enrolled_gateways (gateway, site, key_fingerprint, public_key, token_id, hostname, enrolled_at, revoked_at, revoked_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (gateway) DO NOTHING RETURNING gateway`,
          [gateway, ...record],
        );
        if (taken.length > 0) break;
        if (attempt >= 5) {
          await this.sql.all('UPDATE enrollment_tokens SET used_at = NULL, used_by = NULL WHERE id = ?', [parsed.id]);
          throw new SwarmgateError('SWG_ERR_INTERNAL', `no free gateway id for site ${site} after ${attempt + 1} tries`);
        }
        gateway = await this.gatewayIdFor(row, {}, issuer);
        configYaml = renderGatewayConfig({ templatesDir: settings.templatesDir, site, gateway, brokerUrl: settings.brokerUrl, username: gateway });
        await this.sql.all('UPDATE enrollment_tokens SET used_by = ? WHERE id = ?', [gateway, parsed.id]);
      }
    }
    let password: string;
    try {
      password = await this.issueCredentials(issuer, gateway, site, parsed.id, `token ${parsed.id} was not used`);
    } catch (err) {
      await this.sql.all('UPDATE enrollment_tokens SET used_at = NULL, used_by = NULL WHERE id = ?', [parsed.id]);
      if (!bound) await this.sql.all('DELETE FROM enrolled_gateways WHERE gateway = ? AND token_id = ?', [gateway, parsed.id]);
      throw err;
    }
    if (bound) {
      // A token bound to an id re-enrolls it (a replaced box): the new key and credentials take over.
      await this.sql.all(
        `INSERT INTO enrolled_gateways (gateway, site, key_fingerprint, public_key, token_id, hostname, enrolled_at, revoked_at, revoked_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)
         ON CONFLICT (gateway) DO UPDATE SET site = excluded.site, key_fingerprint = excluded.key_fingerprint, public_key = excluded.public_key,
           token_id = excluded.token_id, hostname = excluded.hostname, enrolled_at = excluded.enrolled_at, revoked_at = NULL, revoked_by = NULL`,
        [gateway, ...record],
      );
    }
    this.options.log?.info({ gateway, site, tokenId: parsed.id, hostname: request.hostname, key: fingerprint.slice(0, 16) }, 'gateway enrolled');
    return this.answer(settings, { gateway, site, tokenId: parsed.id, keyFingerprint: fingerprint, password, configYaml, issuedAt: now }, secretHash);
  }

  /** Issues (or rotates) the gateway's broker user; a credentials file the hub cannot write is SWG_ERR_ENROLL_STORAGE, said in the hub log. */
  private async issueCredentials(issuer: GatewayCredentialIssuer, gateway: string, site: string, tokenId: string, outcome: string): Promise<string> {
    try {
      return (await issuer.issue(gateway, site)).password;
    } catch (err) {
      if (isSwarmgateError(err, 'SWG_ERR_HUB_CREDENTIALS_WRITE')) {
        // The operator's problem, told in the hub log; the gateway learns only that it may retry later.
        this.options.log?.error({ err: err.message, errno: err.details.errno, file: err.details.file, hint: err.hint, gateway, site, tokenId }, 'enrollment refused: the broker credentials file cannot be written');
        throw new SwarmgateError('SWG_ERR_ENROLL_STORAGE', `the hub cannot store gateway credentials now (${outcome})`, { cause: err });
      }
      throw err;
    }
  }

  /** The identity answered to the gateway, MACed with the token's hash. */
  private answer(
    settings: EnrollmentSettings,
    a: { gateway: string; site: string; tokenId: string; keyFingerprint: string; password: string; configYaml: string; issuedAt: number },
    secretHash: string,
  ): EnrollResponse {
    const identity: EnrolledIdentity = {
      gateway: a.gateway,
      site: a.site,
      tokenId: a.tokenId,
      keyFingerprint: a.keyFingerprint,
      broker: { url: settings.brokerUrl, username: a.gateway, password: a.password, ...(settings.brokerCaPem ? { caPem: settings.brokerCaPem } : {}) },
      ...(settings.releaseKeyPem ? { releaseKeyPem: settings.releaseKeyPem } : {}),
      configYaml: a.configYaml,
      issuedAt: a.issuedAt,
    };
    return { identity, mac: enrollMac(secretHash, identity) };
  }

  /**
   * The answer again for the gateway that claimed this used token, or undefined when the request
   * is not from it: the same key (the proof checked), its enrollment not revoked, within
   * ANSWER_AGAIN_MS of the claim. Its broker password is issued again (the first one was lost
   * with the answer); its id, key and enrollment time stay.
   */
  private async answerAgain(settings: EnrollmentSettings, issuer: GatewayCredentialIssuer, row: SqlRow, request: EnrollRequest, tokenId: string, secretHash: string, now: number): Promise<EnrollResponse | undefined> {
    const usedAt = optNum(row, 'used_at');
    const gateway = optStr(row, 'used_by');
    if (usedAt === undefined || gateway === undefined || now - usedAt > ANSWER_AGAIN_MS) return undefined;
    let fingerprint: string;
    try {
      fingerprint = keyFingerprint(checkedKey(request, tokenId));
    } catch {
      return undefined;
    }
    const enrolled = (await this.sql.all('SELECT site FROM enrolled_gateways WHERE gateway = ? AND token_id = ? AND key_fingerprint = ? AND revoked_at IS NULL', [gateway, tokenId, fingerprint]))[0];
    if (!enrolled) return undefined;
    const site = str(enrolled, 'site');
    const configYaml = renderGatewayConfig({ templatesDir: settings.templatesDir, site, gateway, brokerUrl: settings.brokerUrl, username: gateway });
    const password = await this.issueCredentials(issuer, gateway, site, tokenId, `gateway ${gateway} keeps its enrollment; ask again`);
    this.options.log?.warn({ gateway, site, tokenId, hostname: request.hostname, key: fingerprint.slice(0, 16), claimedAt: iso(usedAt) }, 'enrollment asked again by the gateway that claimed the token (its answer was lost): answered again with a new broker password');
    return this.answer(settings, { gateway, site, tokenId, keyFingerprint: fingerprint, password, configYaml, issuedAt: now }, secretHash);
  }
}
