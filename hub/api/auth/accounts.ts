/**
 * Users, login sessions and API tokens in the API's tables. Passwords: scrypt with a per-user
 * salt (the broker's hash format). Session ids and token secrets are random and only their
 * SHA-256 is stored, so a copy of the database lets nobody log in.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import type { Logger } from '../../../shared/kit/log.js';
import { hashPassword, verifyPassword } from '../../broker/passwords.js';
import { num, optNum, str, type Sql, type SqlRow, type SqlValue } from '../../db/sql.js';

export const ROLES = ['viewer', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  readonly username: string;
  readonly role: Role;
  readonly disabled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly lastUsedAt?: number;
  readonly revokedAt?: number;
}

/** Who is calling: a logged-in user (session) or an integration (API token). */
export interface Principal {
  readonly via: 'session' | 'token';
  /** User name, or `token:<id>` for tokens. */
  readonly name: string;
  readonly role: Role;
  readonly sessionHash?: string;
  readonly tokenId?: string;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const TOKEN_RE = /^swg_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$/;

function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

function userFrom(row: SqlRow): User {
  const role = row.role;
  return { username: str(row, 'username'), role: isRole(role) ? role : 'viewer', disabled: num(row, 'disabled') !== 0, createdAt: num(row, 'created_at'), updatedAt: num(row, 'updated_at') };
}

function tokenFrom(row: SqlRow): ApiToken {
  const role = row.role;
  return {
    id: str(row, 'id'),
    name: str(row, 'name'),
    role: isRole(role) ? role : 'viewer',
    createdBy: str(row, 'created_by'),
    createdAt: num(row, 'created_at'),
    lastUsedAt: optNum(row, 'last_used_at'),
    revokedAt: optNum(row, 'revoked_at'),
  };
}

export interface AccountsOptions {
  readonly sessionTtlMs: number;
  /** scrypt cost; tests lower it. */
  readonly scryptCost?: { N: number; r: number; p: number };
  /** Where a failed write of a token's last use is reported (it does not fail the request). */
  readonly logger?: Logger;
}

export class Accounts {
  /** Hash of a fixed string: failed logins for unknown users cost the same scrypt as known ones. */
  private dummyHash: Promise<string> | undefined;
  /** Tokens whose last use could not be written, and when (retried a minute later). */
  private readonly lastUseFailedAt = new Map<string, number>();

  constructor(
    private readonly sql: Sql,
    private readonly options: AccountsOptions,
  ) {}

  async listUsers(): Promise<User[]> {
    return (await this.sql.all('SELECT * FROM api_users ORDER BY username')).map(userFrom);
  }

  async getUser(username: string): Promise<User | undefined> {
    const row = (await this.sql.all('SELECT * FROM api_users WHERE username = ?', [username]))[0];
    return row ? userFrom(row) : undefined;
  }

  async userCount(): Promise<number> {
    return num((await this.sql.all('SELECT COUNT(*) AS n FROM api_users'))[0] ?? { n: 0 }, 'n');
  }

  async createUser(username: string, role: Role, password: string, now = Date.now()): Promise<User> {
    // "Tech1" next to "tech1" is two accounts an auditor cannot tell apart in the review trail.
    const twin = (await this.sql.all('SELECT username FROM api_users WHERE lower(username) = lower(?) AND username <> ?', [username, username]))[0];
    if (twin) {
      const existing = str(twin, 'username');
      throw new SwarmgateError('SWG_ERR_USER_EXISTS', `user "${username}" differs from the existing user "${existing}" only in case; choose another name or use "${existing}"`, { details: { username } });
    }
    const hash = await hashPassword(password, this.options.scryptCost);
    const rows = await this.sql.all(
      'INSERT INTO api_users (username, role, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING *',
      [username, role, hash, now, now],
    );
    const row = rows[0];
    if (!row) throw new SwarmgateError('SWG_ERR_USER_EXISTS', `user "${username}" already exists`, { details: { username } });
    return userFrom(row);
  }

  async updateUser(username: string, patch: { role?: Role; password?: string; disabled?: boolean }, now = Date.now()): Promise<User> {
    const current = await this.getUser(username);
    if (!current) throw new SwarmgateError('SWG_ERR_USER_UNKNOWN', `no user "${username}"`, { details: { username } });
    const leaving = current.role === 'admin' && !current.disabled && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
    if (leaving) await this.keepOneAdmin(username);
    const sets: string[] = ['updated_at = ?'];
    const args: (string | number)[] = [now];
    if (patch.role !== undefined) sets.push('role = ?') && args.push(patch.role);
    if (patch.disabled !== undefined) sets.push('disabled = ?') && args.push(patch.disabled ? 1 : 0);
    if (patch.password !== undefined) sets.push('password_hash = ?') && args.push(await hashPassword(patch.password, this.options.scryptCost));
    const row = (await this.sql.all(`UPDATE api_users SET ${sets.join(', ')} WHERE username = ? RETURNING *`, [...args, username]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_USER_UNKNOWN', `no user "${username}"`, { details: { username } });
    if (leaving && (await this.enabledAdmins()) === 0) {
      // Another admin left at the same moment (each counted the other): put this one back.
      await this.sql.all('UPDATE api_users SET role = ?, disabled = ? WHERE username = ?', [current.role, 0, username]);
      throw lastAdmin(username);
    }
    // A new password, role or a disabled account ends the user's sessions: they log in again.
    if (patch.password !== undefined || patch.disabled || patch.role !== undefined) await this.sql.all('DELETE FROM api_sessions WHERE username = ?', [username]);
    return userFrom(row);
  }

  /**
   * Refuses to demote, disable or remove the last enabled admin (nobody could manage users). The
   * count before the change refuses the usual case; two admins leaving at the same moment each
   * count the other, so the callers count again after their change and undo it when none is left
   * (both are then refused: at worst for an instant no admin is enabled, never for good).
   */
  private async keepOneAdmin(leaving: string): Promise<void> {
    const others = num((await this.sql.all("SELECT COUNT(*) AS n FROM api_users WHERE role = 'admin' AND disabled = 0 AND username <> ?", [leaving]))[0] ?? { n: 0 }, 'n');
    if (others === 0) throw lastAdmin(leaving);
  }

  private async enabledAdmins(): Promise<number> {
    return num((await this.sql.all("SELECT COUNT(*) AS n FROM api_users WHERE role = 'admin' AND disabled = 0"))[0] ?? { n: 0 }, 'n');
  }

  async deleteUser(username: string): Promise<void> {
    const current = await this.getUser(username);
    const leaving = current?.role === 'admin' && !current.disabled;
    if (leaving) await this.keepOneAdmin(username);
    const rows = await this.sql.all('DELETE FROM api_users WHERE username = ? RETURNING *', [username]);
    const removed = rows[0];
    if (!removed) throw new SwarmgateError('SWG_ERR_USER_UNKNOWN', `no user "${username}"`, { details: { username } });
    if (leaving && (await this.enabledAdmins()) === 0) {
      // Another admin left at the same moment: this one comes back, as it was.
      const columns = Object.keys(removed);
      await this.sql.all(`INSERT INTO api_users (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (username) DO NOTHING`, columns.map((c) => sqlValue(removed[c])));
      throw lastAdmin(username);
    }
    await this.sql.all('DELETE FROM api_sessions WHERE username = ?', [username]);
  }

  /** The user when the password matches an enabled account; undefined otherwise (same cost either way). */
  async verify(username: string, password: string): Promise<User | undefined> {
    const row = (await this.sql.all('SELECT * FROM api_users WHERE username = ?', [username]))[0];
    if (!row) {
      this.dummyHash ??= hashPassword('swarmgate-dummy', this.options.scryptCost);
      await verifyPassword(password, await this.dummyHash);
      return undefined;
    }
    const ok = await verifyPassword(password, str(row, 'password_hash'));
    const user = userFrom(row);
    return ok && !user.disabled ? user : undefined;
  }

  /** A new session; returns the cookie value (shown once, stored hashed). */
  async createSession(username: string, now = Date.now()): Promise<{ id: string; expiresAt: number }> {
    const id = randomBytes(32).toString('base64url');
    const expiresAt = now + this.options.sessionTtlMs;
    await this.sql.all('INSERT INTO api_sessions (id_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)', [sha256(id), username, now, expiresAt]);
    return { id, expiresAt };
  }

  async session(id: string, now = Date.now()): Promise<Principal | undefined> {
    if (id.length < 20 || id.length > 100) return undefined;
    const hash = sha256(id);
    const row = (
      await this.sql.all('SELECT s.expires_at, u.username, u.role, u.disabled FROM api_sessions s JOIN api_users u ON u.username = s.username WHERE s.id_hash = ?', [hash])
    )[0];
    if (!row || num(row, 'expires_at') <= now || num(row, 'disabled') !== 0 || !isRole(row.role)) return undefined;
    return { via: 'session', name: str(row, 'username'), role: row.role, sessionHash: hash };
  }

  /** Still valid (not logged out, expired, or its user disabled or removed)? For long-lived streams. */
  async sessionAlive(sessionHash: string, now = Date.now()): Promise<boolean> {
    const row = (await this.sql.all('SELECT s.expires_at, u.disabled FROM api_sessions s JOIN api_users u ON u.username = s.username WHERE s.id_hash = ?', [sessionHash]))[0];
    return row !== undefined && num(row, 'expires_at') > now && num(row, 'disabled') === 0;
  }

  /** Still valid (not revoked, not removed)? For long-lived streams opened with it. */
  async tokenAlive(id: string): Promise<boolean> {
    const row = (await this.sql.all('SELECT revoked_at FROM api_tokens WHERE id = ?', [id]))[0];
    return row !== undefined && (row.revoked_at === null || row.revoked_at === undefined);
  }

  async endSession(sessionHash: string): Promise<void> {
    await this.sql.all('DELETE FROM api_sessions WHERE id_hash = ?', [sessionHash]);
  }

  async purgeSessions(now = Date.now()): Promise<void> {
    await this.sql.all('DELETE FROM api_sessions WHERE expires_at <= ?', [now]);
  }

  /** A new API token; the secret is in `token` only (shown once). */
  async createToken(name: string, role: Role, createdBy: string, now = Date.now()): Promise<{ token: string; record: ApiToken }> {
    const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12).padEnd(12, '0');
    const secret = randomBytes(32).toString('base64url');
    const row = (
      await this.sql.all('INSERT INTO api_tokens (id, name, role, secret_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *', [id, name, role, sha256(secret), createdBy, now])
    )[0];
    if (!row) throw new SwarmgateError('SWG_ERR_INTERNAL', 'token insert returned nothing');
    return { token: `swg_${id}_${secret}`, record: tokenFrom(row) };
  }

  async listTokens(): Promise<ApiToken[]> {
    return (await this.sql.all('SELECT * FROM api_tokens ORDER BY created_at, id')).map(tokenFrom);
  }

  async revokeToken(id: string, now = Date.now()): Promise<ApiToken> {
    const row = (await this.sql.all('UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING *', [now, id]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_TOKEN_UNKNOWN', `no API token "${id}"`, { details: { id } });
    return tokenFrom(row);
  }

  /** The principal of a bearer token, or undefined when unknown, revoked or malformed. */
  async token(bearer: string, now = Date.now()): Promise<Principal | undefined> {
    const m = TOKEN_RE.exec(bearer);
    if (!m) return undefined;
    const [, id = '', secret = ''] = m;
    const row = (await this.sql.all('SELECT * FROM api_tokens WHERE id = ?', [id]))[0];
    if (!row || row.revoked_at !== null && row.revoked_at !== undefined) return undefined;
    const expected = Buffer.from(str(row, 'secret_hash'), 'hex');
    const actual = Buffer.from(sha256(secret), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    const record = tokenFrom(row);
    // lastUsed is informative; writing it at most once a minute keeps hot integrations cheap. A
    // database that cannot write (disk full) must not lock integrations out, Prometheus above all:
    // the request goes on and the failure is logged (at most once a minute per token, as the write).
    if ((record.lastUsedAt ?? 0) < now - 60_000 && (this.lastUseFailedAt.get(id) ?? 0) < now - 60_000) {
      try {
        await this.sql.all('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, id]);
        this.lastUseFailedAt.delete(id);
      } catch (err) {
        this.lastUseFailedAt.set(id, now);
        this.options.logger?.warn({ token: id, err: errorMessage(err) }, "an API token's last use could not be recorded; the request goes on");
      }
    }
    return { via: 'token', name: `token:${id}`, role: record.role, tokenId: id };
  }
}

function lastAdmin(username: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_USER_LAST_ADMIN', `"${username}" is the last enabled admin`, { details: { username } });
}

/** A column as read back, to be written again (SQLite numbers and text, PostgreSQL's BIGINT as text). */
function sqlValue(v: unknown): SqlValue {
  return v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : typeof v === 'bigint' ? Number(v) : String(v);
}
