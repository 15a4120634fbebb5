/**
 * Series ids: the `series` row of each (gateway, device, point), created on first sight (one
 * statement for all new names of a write, committed on its own so the ids can be cached at once
 * and another process creating the same names concurrently finds them) and cached.
 */
import type pg from 'pg';

export interface SeriesName {
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
}

export const seriesKey = (gateway: string, device: string, point: string): string => `${gateway}\u0000${device}\u0000${point}`;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class SeriesIds {
  private readonly cache = new Map<string, number>();

  /** Ids of these series by seriesKey, creating the missing ones. `client` runs inside the caller's transaction. */
  async resolve(names: Iterable<SeriesName>, client: pg.ClientBase | pg.Pool): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing: SeriesName[] = [];
    for (const n of names) {
      const key = seriesKey(n.gateway, n.device, n.point);
      const id = this.cache.get(key);
      if (id !== undefined) out.set(key, id);
      else if (!out.has(key)) {
        out.set(key, -1);
        missing.push(n);
      }
    }
    if (missing.length === 0) return out;
    // One order for every process, so two inserting overlapping names wait instead of deadlocking.
    missing.sort((a, b) => cmp(a.gateway, b.gateway) || cmp(a.device, b.device) || cmp(a.point, b.point));
    const args = [missing.map((m) => m.gateway), missing.map((m) => m.device), missing.map((m) => m.point)];
    await client.query({ name: 'swarmgate-series-insert', text: 'INSERT INTO series (gateway, device, point) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', values: args });
    const rows = (
      await client.query({
        name: 'swarmgate-series-select',
        text: 'SELECT s.id, s.gateway, s.device, s.point FROM series s JOIN unnest($1::text[], $2::text[], $3::text[]) AS n(gateway, device, point) USING (gateway, device, point)',
        values: args,
      })
    ).rows as { id: number; gateway: string; device: string; point: string }[];
    for (const r of rows) {
      const key = seriesKey(r.gateway, r.device, r.point);
      out.set(key, r.id);
      this.cache.set(key, r.id);
    }
    return out;
  }

  /** The id of a stored series, undefined when it has none yet. */
  async lookup(gateway: string, device: string, point: string, pool: pg.Pool): Promise<number | undefined> {
    const key = seriesKey(gateway, device, point);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const row = (await pool.query({ name: 'swarmgate-series-lookup', text: 'SELECT id FROM series WHERE gateway = $1 AND device = $2 AND point = $3', values: [gateway, device, point] })).rows[0] as { id: number } | undefined;
    if (row) this.cache.set(key, row.id);
    return row?.id;
  }
}
