/**
 * Leases in the hub store: a named piece of work (the agents of site "hq", retention) belongs to
 * one hub process at a time. A holder renews its leases every third of their time to live; a
 * lease not renewed (its holder died or lost the database) expires and the next process that asks
 * takes it over. Taking and renewing is one conditional upsert, so two processes asking at once
 * cannot both win, on SQLite or PostgreSQL. Expiry compares the processes' clocks: keep hub
 * machines on NTP (a skew eats into the time to live).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { num, str, type Sql } from '../db/sql.js';

export interface LeaseRecord {
  readonly name: string;
  readonly holder: string;
  readonly expiresAt: number;
  readonly acquiredAt: number;
  readonly renewedAt: number;
}

export interface LeaseOptions {
  readonly sql: Sql;
  /** This process (default host-pid-random). */
  readonly holder?: string;
  /** How long a lease lasts without renewal (default 15 s): the longest a dead holder's work waits. */
  readonly ttlMs?: number;
  readonly clock?: () => number;
  readonly log?: Logger;
  /** Called when this process gains or loses a lease. */
  readonly onChange?: (name: string, held: boolean) => void;
}

export function defaultHolder(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class Leases {
  readonly holder: string;
  readonly ttlMs: number;
  private readonly sql: Sql;
  private readonly clock: () => number;
  /** Leases this process holds, with the expiry it last wrote. */
  private readonly held = new Map<string, number>();
  /** Per lease, how many times this process has taken it (a new term each time). */
  private readonly terms = new Map<string, number>();
  private readonly wanted = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();

  constructor(private readonly options: LeaseOptions) {
    this.sql = options.sql;
    this.holder = options.holder ?? defaultHolder();
    this.ttlMs = options.ttlMs ?? 15_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Whether this process holds the lease now (by its own last renewal, with a margin of a tenth of the TTL). */
  holds(name: string): boolean {
    const until = this.held.get(name);
    return until !== undefined && until - this.ttlMs / 10 > this.clock();
  }

  /**
   * While this process holds the lease (holds), the term of its hold: a number that changes each
   * time it takes the lease anew, so work kept in memory knows another process may have done it
   * meanwhile (however briefly the lease was lost); undefined while it does not hold it.
   */
  term(name: string): number | undefined {
    return this.holds(name) ? (this.terms.get(name) ?? 0) : undefined;
  }

  /** Takes the lease when free or expired, renews it when ours; returns whether we hold it. */
  async acquire(name: string): Promise<boolean> {
    const now = this.clock();
    const expires = now + this.ttlMs;
    const rows = await this.sql.all(
      `INSERT INTO leases (name, holder, expires_at, acquired_at, renewed_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, renewed_at = excluded.renewed_at,
         acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
       WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
       RETURNING holder`,
      [name, this.holder, expires, now, now, now],
    );
    const ok = rows.length > 0 && str(rows[0] ?? {}, 'holder') === this.holder;
    const had = this.held.has(name);
    // A new term when it was not ours, or ours had run out (another process could take it meanwhile).
    if (ok && (this.held.get(name) ?? 0) <= now) this.terms.set(name, (this.terms.get(name) ?? 0) + 1);
    if (ok) this.held.set(name, expires);
    else this.held.delete(name);
    if (ok !== had) {
      this.options.log?.info({ lease: name, holder: this.holder, held: ok }, ok ? 'lease taken' : 'lease lost');
      this.options.onChange?.(name, ok);
    }
    return ok;
  }

  /** Gives the lease up at once (graceful stop): another process takes it without waiting for expiry. */
  async release(name: string): Promise<void> {
    this.held.delete(name);
    await this.sql.all('DELETE FROM leases WHERE name = ? AND holder = ?', [name, this.holder]);
  }

  async list(): Promise<LeaseRecord[]> {
    const rows = await this.sql.all('SELECT name, holder, expires_at, acquired_at, renewed_at FROM leases ORDER BY name');
    return rows.map((r) => ({ name: str(r, 'name'), holder: str(r, 'holder'), expiresAt: num(r, 'expires_at'), acquiredAt: num(r, 'acquired_at'), renewedAt: num(r, 'renewed_at') }));
  }

  /** Keeps asking for these leases (taking free ones, renewing ours) every third of the TTL. */
  want(names: readonly string[]): void {
    for (const n of names) this.wanted.add(n);
    this.timer ??= setInterval(() => void this.renewAll(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** One round of asking for every wanted lease; resolves when it is done. */
  renewAll(): Promise<void> {
    this.round = this.round.then(async () => {
      for (const name of this.wanted) {
        try {
          await this.acquire(name);
        } catch (err) {
          // The database is away: our leases lapse by themselves, as they must.
          this.options.log?.warn({ lease: name, err: errorMessage(err) }, 'lease renewal failed');
        }
      }
    });
    return this.round;
  }

  /** Stops renewing and releases what we hold. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
    for (const name of [...this.held.keys()]) await this.release(name).catch(() => undefined);
    this.wanted.clear();
  }
}
