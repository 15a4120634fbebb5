/** The audit of who did what through the API (logins, decisions, commands, user changes). */
import { num, str, type Sql } from '../db/sql.js';
import type { Principal } from './auth/accounts.js';

export interface AuditRecord {
  readonly id: number;
  readonly ts: number;
  readonly actor: string;
  readonly via: string;
  readonly action: string;
  readonly target?: string;
  readonly detail?: Record<string, unknown>;
  readonly ip?: string;
}

export class AuditLog {
  constructor(private readonly sql: Sql) {}

  async write(who: Principal | { name: string; via: string }, action: string, target?: string, detail?: Record<string, unknown>, ip?: string, now = Date.now()): Promise<void> {
    await this.sql.all('INSERT INTO api_audit (ts, actor, via, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      now,
      who.name,
      who.via,
      action,
      target ?? null,
      detail === undefined ? null : JSON.stringify(detail),
      ip ?? null,
    ]);
  }

  async list(query: { actor?: string; action?: string; limit?: number; before?: number } = {}): Promise<AuditRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.actor !== undefined) where.push('actor = ?') && args.push(query.actor);
    if (query.action !== undefined) where.push('action = ?') && args.push(query.action);
    if (query.before !== undefined) where.push('id < ?') && args.push(query.before);
    const sql = `SELECT * FROM api_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = await this.sql.all(sql, [...args, query.limit ?? 100]);
    return rows.map((r) => {
      const detail = r.detail;
      const target = r.target;
      const ip = r.ip;
      return {
        id: num(r, 'id'),
        ts: num(r, 'ts'),
        actor: str(r, 'actor'),
        via: str(r, 'via'),
        action: str(r, 'action'),
        ...(typeof target === 'string' ? { target } : {}),
        ...(typeof detail === 'string' ? { detail: JSON.parse(detail) as Record<string, unknown> } : {}),
        ...(typeof ip === 'string' ? { ip } : {}),
      };
    });
  }
}


