/** Series ids: the `series` row of each (gateway, device, point), cached once known to be committed. */
import type { Database as Db, Statement } from 'better-sqlite3';

export interface SeriesName {
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
}

export const seriesKey = (gateway: string, device: string, point: string): string => `${gateway}\u0000${device}\u0000${point}`;

export class SeriesIds {
  private readonly cache = new Map<string, number>();
  private readonly select: Statement;
  private readonly insert: Statement;

  constructor(db: Db) {
    this.select = db.prepare('SELECT id FROM series WHERE gateway = ? AND device = ? AND point = ?').pluck();
    this.insert = db.prepare('INSERT INTO series (gateway, device, point) VALUES (?, ?, ?) RETURNING id').pluck();
  }

  /** The series id, created inside the caller's transaction; cached only once that commits (commit()). */
  idFor(key: string, p: SeriesName, created: Map<string, number>): number {
    const known = this.cache.get(key) ?? created.get(key);
    if (known !== undefined) return known;
    const id = (this.select.get(p.gateway, p.device, p.point) as number | undefined) ?? (this.insert.get(p.gateway, p.device, p.point) as number);
    created.set(key, id);
    return id;
  }

  /** Caches the ids idFor created, once their transaction has committed. */
  commit(created: Map<string, number>): void {
    for (const [k, id] of created) this.cache.set(k, id);
  }

  /** The id of a stored series, undefined when it has none yet. */
  lookup(gateway: string, device: string, point: string): number | undefined {
    const key = seriesKey(gateway, device, point);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const id = this.select.get(gateway, device, point) as number | undefined;
    if (id !== undefined) this.cache.set(key, id);
    return id;
  }
}
