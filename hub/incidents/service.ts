/**
 * The emergence monitor in the running hub: every anomaly event a gateway sends (HubEvents
 * 'event', kind 'anomaly') is enriched with its point's markers and unit from the point index and
 * its peers per site, grouped by the correlator (correlate.ts) and the incidents it touched are
 * written at once; quiet incidents close on a timer. One fleet incident stands for fifty alarms
 * with one cause; an equipment incident is one gateway deviating from its peers.
 *
 * Time: events are grouped by their own times (a backlog arriving after an uplink outage forms
 * the incidents it formed then), but what is quiet is judged by the hub's clock, and an event
 * stamped further ahead of it than a reading may be (a gateway whose clock runs ahead) is grouped
 * at the hub's time: one bad clock must not close every open incident.
 *
 * Several hub processes: one holds the `incidents` lease and groups; the others only store the
 * events they ingest. The holder groups its own live events and, every catchUpEveryMs, the others'
 * from the store in the order they were stored. Each time it takes the lease anew it first
 * reloads the open incidents from the store (another process may have changed them meanwhile).
 */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import { num, optNum, str, type Sql, type SqlRow, type SqlValue } from '../db/sql.js';
import type { HubEvents } from '../events.js';
import { DEFAULT_TIME_WINDOW } from '../ingest/plausibility.js';
import type { HubStore, StoredEvent } from '../store/types.js';
import { Correlator, type CorrelatorOptions, type Drained, type Incident, type Member, type Population } from './correlate.js';

const strict = { additionalProperties: false } as const;

export const IncidentKindSchema = Type.Union([Type.Literal('fleet'), Type.Literal('equipment')]);
export const IncidentStateSchema = Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('merged')]);

export const IncidentSchema = Type.Object(
  {
    id: Type.String(),
    kind: IncidentKindSchema,
    scope: Type.Union([Type.Literal('site'), Type.Literal('fleet'), Type.Literal('equipment')], { description: 'site: peers of one site; fleet: peers over several sites; equipment: one gateway deviating' }),
    state: IncidentStateSchema,
    site: Type.Optional(Type.String({ description: 'the one site of a site or equipment incident' })),
    sites: Type.Array(Type.String()),
    signatures: Type.Array(Type.String(), { description: 'the points grouped: their sorted Haystack markers (or point:<name>) and unit, "markers|unit"' }),
    tags: Type.Array(Type.String(), { description: 'markers every member point carries' }),
    unit: Type.Optional(Type.String()),
    cause: Type.String({ description: 'the cause hint: which points, where, how many of their peers, the release when all members run one' }),
    release: Type.Optional(Type.String({ description: 'the software version every member gateway runs (fleet incidents)' })),
    firstSeen: Type.Integer({ minimum: 0 }),
    lastSeen: Type.Integer({ minimum: 0 }),
    gateways: Type.Integer({ minimum: 0, description: 'distinct member gateways' }),
    memberCount: Type.Integer({ minimum: 0 }),
    population: Type.Optional(Type.Integer({ minimum: 0, description: 'gateways with such a point in the scope when the incident formed' })),
    mergedInto: Type.Optional(Type.String({ description: 'a merged incident: the fleet incident that took its events' })),
    closedAt: Type.Optional(Type.Integer({ minimum: 0 })),
    updatedAt: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type IncidentView = Static<typeof IncidentSchema>;

export const IncidentMemberSchema = Type.Object(
  {
    eventId: Type.String(),
    ts: Type.Integer({ minimum: 0 }),
    site: Type.String(),
    gateway: Type.String(),
    device: Type.Optional(Type.String()),
    point: Type.Optional(Type.String()),
    signature: Type.String(),
    severity: Type.String(),
  },
  strict,
);
export type IncidentMember = Static<typeof IncidentMemberSchema>;

export const IncidentDetailSchema = Type.Intersect([IncidentSchema, Type.Object({ members: Type.Array(IncidentMemberSchema) })]);
export type IncidentDetail = IncidentView & { members: IncidentMember[] };

export interface IncidentFilter {
  readonly state?: Static<typeof IncidentStateSchema>;
  readonly kind?: Static<typeof IncidentKindSchema>;
  /** Incidents at this site (its own site, or a member event there). */
  readonly site?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** A page after this one (the last of the previous page, in the list's order). */
  readonly before?: IncidentCursor;
}

/** Where a page of incidents ends: the last one's lastSeen and id. */
export interface IncidentCursor {
  readonly lastSeen: number;
  readonly id: string;
}

/** What the service needs of the point index (hub/registry/points.ts). */
export interface PointCatalog {
  describe(gateway: string, device: string, point: string): Promise<{ unit?: string; tags: string[] } | undefined>;
  peers(like: { point: string; unit?: string; tags: readonly string[] }): Promise<Map<string, number>>;
}

export interface IncidentServiceOptions {
  readonly sql: Sql;
  readonly points: PointCatalog;
  /** A gateway's software version (the registry's record), for the release hint. */
  readonly gatewayVersion?: (gateway: string) => Promise<string | undefined>;
  /** How many gateways of the fleet run each version (the registry), to tell a rollout's alarms. */
  readonly fleetVersions?: () => Promise<ReadonlyMap<string, number>>;
  readonly correlation?: CorrelatorOptions;
  /** Close quiet incidents this often (default 60 s; 0: only when events arrive). */
  readonly sweepEveryMs?: number;
  /**
   * Whether this process groups now (the `incidents` lease, when several hub processes share the
   * store and each ingests a share of the gateways): the term of its hold on the lease (a number
   * that changes each time it takes the lease anew), undefined while it does not hold it; absent:
   * always. Only the holder groups: live events it ingests itself, and the others' from the store
   * (`catchUp`).
   */
  readonly leaseTerm?: () => number | undefined;
  /** The stored anomaly events, read back by `catchUp` (the other processes' and any missed). */
  readonly stored?: Pick<HubStore, 'eventsReceived'>;
  /** Catch up from the store this often while owning (default 30 s; 0: never). */
  readonly catchUpEveryMs?: number;
  readonly clock?: () => number;
  readonly log?: Logger;
}

const CACHE_MS = 60_000;

/** A list's size: default 100, 1 to 1000. */
function listLimit(limit: number | undefined): number {
  return Math.min(1000, Math.max(1, limit ?? 100));
}
/** Stored events read per query by catchUp. */
const CATCH_UP_PAGE = 1000;
/**
 * catchUp reads again what was stored this long before the last event it read: hub processes
 * stamp received times with their own clocks, and a write may commit after a later-stamped one.
 */
const CATCH_UP_OVERLAP_MS = 60_000;

function members(s: string): string[] {
  return s === '' ? [] : s.split(' ');
}

/** The event as the gateway sent it (without what the store added). */
function eventOf(e: StoredEvent): GatewayEvent {
  const { site, receivedAt, ...event } = e;
  void site;
  void receivedAt;
  return event;
}

/** A member's unit, from its signature ("markers|unit"). */
function unitOfSignature(signature: string): string | undefined {
  const unit = signature.slice(signature.lastIndexOf('|') + 1);
  return unit === '' ? undefined : unit;
}

function tagsOfSignature(signature: string): string[] {
  const what = signature.slice(0, signature.lastIndexOf('|'));
  return what.startsWith('point:') || what === '' ? [] : what.split(',');
}

function fromRow(row: SqlRow): IncidentView {
  const opt = (k: string): string | undefined => (row[k] === null || row[k] === undefined ? undefined : str(row, k));
  const site = opt('site');
  const unit = opt('unit');
  const release = opt('release_version');
  const mergedInto = opt('merged_into');
  const population = optNum(row, 'population');
  const closedAt = optNum(row, 'closed_at');
  return {
    id: str(row, 'id'),
    kind: str(row, 'kind') === 'fleet' ? 'fleet' : 'equipment',
    scope: str(row, 'scope') as IncidentView['scope'],
    state: str(row, 'state') as IncidentView['state'],
    ...(site === undefined ? {} : { site }),
    sites: members(str(row, 'sites')),
    signatures: str(row, 'signatures').split('\n').filter((x) => x !== ''),
    tags: members(str(row, 'tags')),
    ...(unit === undefined ? {} : { unit }),
    cause: str(row, 'cause'),
    ...(release === undefined ? {} : { release }),
    firstSeen: num(row, 'first_seen'),
    lastSeen: num(row, 'last_seen'),
    gateways: num(row, 'gateways'),
    memberCount: num(row, 'members'),
    ...(population === undefined ? {} : { population }),
    ...(mergedInto === undefined ? {} : { mergedInto }),
    ...(closedAt === undefined ? {} : { closedAt }),
    updatedAt: num(row, 'updated_at'),
  };
}

function memberFromRow(row: SqlRow): IncidentMember {
  const device = row.device === null || row.device === undefined ? undefined : str(row, 'device');
  const point = row.point === null || row.point === undefined ? undefined : str(row, 'point');
  return {
    eventId: str(row, 'event_id'),
    ts: num(row, 'ts'),
    site: str(row, 'site'),
    gateway: str(row, 'gateway'),
    ...(device === undefined ? {} : { device }),
    ...(point === undefined ? {} : { point }),
    signature: str(row, 'signature'),
    severity: str(row, 'severity'),
  };
}

export class IncidentService {
  readonly correlator: Correlator;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly listeners = new Set<(incident: IncidentView) => void>();
  private readonly cache = new Map<string, { at: number; value: unknown }>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private catchUpTimer: NodeJS.Timeout | undefined;
  /** The lease term the incidents in memory were loaded under (no lease: 0). */
  private term: number | undefined;
  /** The last stored event catchUp read in this term (undefined: none yet). */
  private caughtUp: { receivedAt: number; id: string } | undefined;
  /** Gateways warned about their clock running ahead (once each an hour). */
  private readonly aheadWarned = new Map<string, number>();
  private offs: (() => void)[] = [];

  private constructor(private readonly options: IncidentServiceOptions) {
    this.correlator = new Correlator(options.correlation);
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? createLogger('hub.incidents');
  }

  /** Restores the open incidents and starts the sweep timer. */
  static async open(options: IncidentServiceOptions): Promise<IncidentService> {
    const service = new IncidentService(options);
    await service.restore();
    service.term = service.leaseTerm();
    const every = options.sweepEveryMs ?? 60_000;
    if (every > 0) {
      service.timer = setInterval(() => {
        if (service.owning()) void service.sweep().catch((err: unknown) => service.log.error({ err: errorMessage(err) }, 'closing quiet incidents failed'));
      }, every);
      service.timer.unref();
    }
    const catchUpEvery = options.catchUpEveryMs ?? 30_000;
    if (options.stored && catchUpEvery > 0) {
      service.catchUpTimer = setInterval(() => {
        if (service.owning()) void service.catchUp().catch((err: unknown) => service.log.error({ err: errorMessage(err) }, 'incidents: catching up from the stored events failed'));
      }, catchUpEvery);
      service.catchUpTimer.unref();
    }
    return service;
  }

  /** Groups every anomaly event the hub receives (awaited by ingest: at-least-once). Returns the function that stops listening. */
  connect(events: HubEvents): () => void {
    const off = events.on('event', async ({ site, gateway, event }) => {
      if (event.kind === 'anomaly' && this.owning()) await this.record(site, gateway, event);
    });
    this.offs.push(off);
    return off;
  }

  onChange(listener: (incident: IncidentView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Groups one anomaly event and writes the incidents it changed; the incident it joined. */
  record(site: string, gateway: string, event: GatewayEvent): Promise<IncidentView | undefined> {
    return this.serial(async () => {
      // Another process holds the lease (lost since the caller looked): it groups this event.
      if (!(await this.current())) return undefined;
      if (this.correlator.knows(event.id)) {
        // Grouped; what a failed write left unwritten goes now (a redelivery retries it).
        if (this.correlator.pending) await this.write();
        return undefined;
      }
      const seen = await this.options.sql.all('SELECT incident_id FROM incident_members WHERE event_id = ?', [event.id]);
      if (seen.length > 0) return undefined;
      const point = event.device !== undefined && event.point !== undefined ? await this.describe(gateway, event.device, event.point) : undefined;
      const version = await this.version(gateway);
      const now = this.clock();
      const input = {
        eventId: event.id,
        ts: this.plausibleTime(gateway, event.ts, now),
        site,
        gateway,
        ...(event.device === undefined ? {} : { device: event.device }),
        ...(event.point === undefined ? {} : { point: event.point }),
        tags: point?.tags ?? [],
        ...(point?.unit === undefined ? {} : { unit: point.unit }),
        severity: event.severity,
        ...(version === undefined ? {} : { version }),
      };
      const population = await this.population(site, input);
      const incident = this.correlator.add(input, population, version === undefined ? undefined : await this.versionShare(version), now);
      await this.write();
      return this.view(incident);
    });
  }

  /**
   * Groups the stored anomaly events not grouped yet, in the order they were stored: those other
   * hub processes ingested (late ones too: a site's backlog after an uplink outage), and any this
   * one stored but did not group (a crash between the two). The first catch-up of a term looks
   * back quietMs; each page's events are grouped oldest first. Returns how many it grouped.
   */
  async catchUp(): Promise<number> {
    const stored = this.options.stored;
    if (!stored) return 0;
    await this.serial(() => this.current());
    const after = this.caughtUp;
    const from = after ? after.receivedAt - CATCH_UP_OVERLAP_MS : this.clock() - this.correlator.options.quietMs;
    let grouped = 0;
    for (let page: { receivedAt: number; id: string } | undefined; ; ) {
      const events = await stored.eventsReceived({ kind: 'anomaly', from, ...(page ? { after: page } : {}), limit: CATCH_UP_PAGE });
      for (const e of [...events].sort((a, b) => a.ts - b.ts)) if ((await this.record(e.site, e.gateway, eventOf(e))) !== undefined) grouped++;
      const last = events.at(-1);
      if (last) {
        page = { receivedAt: last.receivedAt, id: last.id };
        if (!this.caughtUp || last.receivedAt > this.caughtUp.receivedAt) this.caughtUp = page;
      }
      if (events.length < CATCH_UP_PAGE) break;
    }
    return grouped;
  }

  private leaseTerm(): number | undefined {
    const term = this.options.leaseTerm;
    return term ? term() : 0;
  }

  private owning(): boolean {
    return this.leaseTerm() !== undefined;
  }

  /**
   * Whether this process groups now; when it took the lease anew since its incidents were loaded,
   * reloads them first (another process grouped meanwhile) and starts catching up afresh.
   */
  private async current(): Promise<boolean> {
    const term = this.leaseTerm();
    if (term === undefined) return false;
    if (term !== this.term) {
      await this.restore();
      this.term = term;
      this.caughtUp = undefined;
    }
    return true;
  }

  /** An event's time, or the hub's when it is further ahead than a reading may be (a gateway's clock running ahead). */
  private plausibleTime(gateway: string, ts: number, now: number): number {
    if (ts <= now + DEFAULT_TIME_WINDOW.maxFutureMs) return ts;
    const warned = this.aheadWarned.get(gateway);
    if (warned === undefined || now - warned > 3_600_000) {
      this.aheadWarned.set(gateway, now);
      if (this.aheadWarned.size > 10_000) this.aheadWarned.clear();
      this.log.warn({ gateway, aheadMin: Math.round((ts - now) / 60_000) }, 'an anomaly event is stamped ahead of the hub clock: grouped at the hub\'s time (check the gateway\'s clock: NTP)');
    }
    return now;
  }

  /** Closes the incidents quiet for quietMs. */
  sweep(now = this.clock()): Promise<number> {
    return this.serial(async () => {
      if (!(await this.current())) return 0;
      const closed = this.correlator.closeQuiet(now);
      await this.write();
      return closed.length;
    });
  }

  /** Most recently active first (then by id); `before` pages on. */
  list(filter: IncidentFilter = {}): Promise<IncidentView[]> {
    return this.query(filter, listLimit(filter.limit));
  }

  /** A page of list(), and where the next starts when there are more. */
  async page(filter: IncidentFilter = {}): Promise<{ items: IncidentView[]; next?: IncidentCursor }> {
    const limit = listLimit(filter.limit);
    const rows = await this.query(filter, limit + 1);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, ...(rows.length > limit && last ? { next: { lastSeen: last.lastSeen, id: last.id } } : {}) };
  }

  private async query(filter: IncidentFilter, limit: number): Promise<IncidentView[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (filter.state !== undefined) where.push('state = ?') && args.push(filter.state);
    if (filter.kind !== undefined) where.push('kind = ?') && args.push(filter.kind);
    // A merged incident has no members left, but keeps its site.
    if (filter.site !== undefined) where.push('(site = ? OR id IN (SELECT incident_id FROM incident_members WHERE site = ?))') && args.push(filter.site, filter.site);
    if (filter.before !== undefined) where.push('(last_seen < ? OR (last_seen = ? AND id > ?))') && args.push(filter.before.lastSeen, filter.before.lastSeen, filter.before.id);
    const rows = await this.options.sql.all(`SELECT * FROM incidents${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY last_seen DESC, id LIMIT ?`, [...args, limit]);
    return rows.map(fromRow);
  }

  /** One incident with its members (oldest first); SWG_ERR_INCIDENT_UNKNOWN when there is none. */
  async get(id: string): Promise<IncidentDetail> {
    const rows = await this.options.sql.all('SELECT * FROM incidents WHERE id = ?', [id]);
    if (!rows[0]) throw new SwarmgateError('SWG_ERR_INCIDENT_UNKNOWN', `no incident "${id}"`, { details: { id } });
    const m = await this.options.sql.all('SELECT * FROM incident_members WHERE incident_id = ? ORDER BY ts, event_id', [id]);
    return { ...fromRow(rows[0]), members: m.map(memberFromRow) };
  }

  /** Waits for the queued work and stops the timer and the listeners. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    this.timer = undefined;
    this.catchUpTimer = undefined;
    for (const off of this.offs.splice(0)) off();
    await this.queue.catch(() => undefined);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.clock();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < CACHE_MS) return hit.value as T;
    const value = await load();
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { at: now, value });
    return value;
  }

  private describe(gateway: string, device: string, point: string): Promise<{ unit?: string; tags: string[] } | undefined> {
    return this.cached(`d\n${gateway}\n${device}\n${point}`, () => this.options.points.describe(gateway, device, point));
  }

  private async versionShare(version: string): Promise<number | undefined> {
    const lookup = this.options.fleetVersions;
    if (!lookup) return undefined;
    const counts = await this.cached('versions', lookup);
    let total = 0;
    for (const n of counts.values()) total += n;
    return total > 0 ? (counts.get(version) ?? 0) / total : undefined;
  }

  private version(gateway: string): Promise<string | undefined> {
    const lookup = this.options.gatewayVersion;
    return lookup ? this.cached(`v\n${gateway}`, () => lookup(gateway)) : Promise.resolve(undefined);
  }

  /** Gateways per site with a point like this one (this gateway counted even before its birth is indexed). */
  private async population(site: string, input: { point?: string; unit?: string; tags: readonly string[] }): Promise<Population> {
    if (input.point === undefined) return new Map([[site, 1]]);
    const like = { point: input.point, tags: input.tags, ...(input.unit === undefined ? {} : { unit: input.unit }) };
    const peers = await this.cached(`p\n${input.tags.join(' ')}\n${input.unit ?? ''}\n${input.tags.length === 0 ? input.point : ''}`, () => this.options.points.peers(like));
    return (peers.get(site) ?? 0) > 0 ? peers : new Map([...peers, [site, 1]]);
  }

  private async restore(): Promise<void> {
    const sql = this.options.sql;
    // Fleet incidents closed quiet lately too: their cause's later effects may still reopen them.
    const rows = await sql.all("SELECT * FROM incidents WHERE state = 'open' OR (state = 'closed' AND kind = 'fleet' AND last_seen >= ?)", [
      this.clock() - this.correlator.options.propagationMs,
    ]);
    const open: Incident[] = [];
    for (const row of rows) {
      const v = fromRow(row);
      const m = await sql.all('SELECT * FROM incident_members WHERE incident_id = ? ORDER BY ts, event_id', [v.id]);
      open.push({
        id: v.id,
        kind: v.kind,
        scope: v.scope,
        state: v.state === 'closed' ? 'closed' : 'open',
        ...(v.site === undefined ? {} : { site: v.site }),
        signatures: v.signatures,
        tags: v.tags,
        ...(v.unit === undefined ? {} : { unit: v.unit }),
        cause: v.cause,
        ...(v.release === undefined ? {} : { release: v.release }),
        firstSeen: v.firstSeen,
        lastSeen: v.lastSeen,
        // Its last write: when a member last joined, or close to it (the hub's clock).
        addedAt: v.updatedAt,
        ...(v.population === undefined ? {} : { population: v.population }),
        ...(v.closedAt === undefined ? {} : { closedAt: v.closedAt }),
        members: m.map((r): Member => {
          const x = memberFromRow(r);
          const unit = unitOfSignature(x.signature);
          const version = r.version === null || r.version === undefined ? undefined : str(r, 'version');
          return { ...x, tags: tagsOfSignature(x.signature), ...(unit === undefined ? {} : { unit }), ...(version === undefined ? {} : { version }) };
        }),
      });
    }
    this.correlator.restore(open);
    const restored = open.filter((i) => i.state === 'open').length;
    if (restored > 0) this.log.info({ open: restored, recentlyClosed: open.length - restored }, 'open incidents restored');
  }

  private view(i: Incident): IncidentView {
    return {
      id: i.id,
      kind: i.kind,
      scope: i.scope,
      state: i.state,
      ...(i.site === undefined ? {} : { site: i.site }),
      sites: [...new Set(i.members.map((m) => m.site))].sort(),
      signatures: [...i.signatures],
      tags: [...i.tags],
      ...(i.unit === undefined ? {} : { unit: i.unit }),
      cause: i.cause,
      ...(i.release === undefined ? {} : { release: i.release }),
      firstSeen: i.firstSeen,
      lastSeen: i.lastSeen,
      gateways: new Set(i.members.map((m) => m.gateway)).size,
      memberCount: i.members.length,
      ...(i.population === undefined ? {} : { population: i.population }),
      ...(i.mergedInto === undefined ? {} : { mergedInto: i.mergedInto }),
      ...(i.closedAt === undefined ? {} : { closedAt: i.closedAt }),
      updatedAt: this.clock(),
    };
  }

  /**
   * Writes what the correlator changed. What the store refuses stays to be written (by the next
   * write: a redelivery of the event, the next event, the sweep), as the correlator already has it.
   */
  private async write(): Promise<void> {
    const drained = this.correlator.drain();
    try {
      await this.writeDrained(drained);
    } catch (err) {
      this.correlator.undrain(drained);
      throw err;
    }
  }

  private async writeDrained({ incidents, members: moved }: Drained): Promise<void> {
    const sql = this.options.sql;
    for (const { member: m, incident } of moved) {
      await sql.all(
        'INSERT INTO incident_members (event_id, incident_id, ts, site, gateway, device, point, signature, severity, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET incident_id = excluded.incident_id',
        [m.eventId, incident, m.ts, m.site, m.gateway, m.device ?? null, m.point ?? null, m.signature, m.severity, m.version ?? null],
      );
    }
    const views = incidents.map((i) => this.view(i));
    for (const v of views) {
      await sql.all(
        `INSERT INTO incidents (id, kind, scope, state, site, sites, signatures, tags, unit, cause, release_version, first_seen, last_seen, gateways, members, population, merged_into, closed_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, scope = excluded.scope, state = excluded.state, site = excluded.site, sites = excluded.sites,
           signatures = excluded.signatures, tags = excluded.tags, unit = excluded.unit, cause = excluded.cause, release_version = excluded.release_version,
           first_seen = excluded.first_seen, last_seen = excluded.last_seen, gateways = excluded.gateways, members = excluded.members,
           population = excluded.population, merged_into = excluded.merged_into, closed_at = excluded.closed_at, updated_at = excluded.updated_at`,
        [v.id, v.kind, v.scope, v.state, v.site ?? null, v.sites.join(' '), v.signatures.join('\n'), v.tags.join(' '), v.unit ?? null, v.cause, v.release ?? null, v.firstSeen, v.lastSeen, v.gateways, v.memberCount, v.population ?? null, v.mergedInto ?? null, v.closedAt ?? null, v.updatedAt],
      );
    }
    for (const v of views) for (const l of this.listeners) l(v);
  }
}
