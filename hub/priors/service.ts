/**
 * Fleet detector priors: the hub keeps the newest KEEP_VERSIONS priors each sharing point published
 * under its profile point key (shared/wire/detector-prior.ts: priorKey), and after each one
 * rebuilds the key's fleet prior: the newest prior of each sharing gateway (one member per gateway,
 * so one gateway cannot outvote the fleet with invented points), one of them chosen (fleet.ts:
 * compatible, typical, the medoid) with every member's reason. A new fleet version is stored only
 * when the prior served changes (another member, or a newer prior of the member served); otherwise
 * the members and their reasons are brought up to date. A prior is checked against the wire schema
 * and its size bound again on the way in (whoever hands it over), so what is served is always a
 * valid document a gateway can start a detector from.
 * Serving: a gateway that uses fleet priors asks for its keys on `prior/request`; the answer (and
 * the next version of a key it asked for, while this process runs) goes to its own
 * `…/<gateway>/prior/fleet`, inside the subtree the broker lets it read. A gateway that never asks
 * never gets one. Fleet priors are built across every site this hub serves.
 * Rebuilds and sends run in the background, never inside the ingest of the message that caused
 * them: a send waits for the broker's acknowledgement, which the ingesting client would never read
 * while it is still handling that message. close() waits for what is running (at most a few seconds).
 */
import { Type, type Static } from '@sinclair/typebox';
import { errorMessage, SwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { decode } from '../../shared/wire/codec.js';
import {
  DETECTOR_PRIOR_MAX_BYTES,
  DetectorPriorSchema,
  PriorKeySchema,
  priorSizeProblem,
  type DetectorPrior,
  type FleetPriorMessage,
  type PriorMessage,
  type PriorRequest,
} from '../../shared/wire/detector-prior.js';
import { num, str, type Sql, type SqlRow, type SqlValue } from '../db/sql.js';
import { chooseFleetPrior, type FleetMember } from './fleet.js';

const strict = { additionalProperties: false } as const;

export const PriorSummarySchema = Type.Object(
  {
    key: PriorKeySchema,
    version: Type.Integer({ minimum: 1, description: 'Increases by one with each prior published for this key' }),
    site: Type.String(),
    gateway: Type.String(),
    device: Type.String(),
    point: Type.String(),
    readings: Type.Integer({ minimum: 0, description: 'Readings the prior was learned from' }),
    createdAt: Type.Integer({ description: 'When the gateway made it, ms since epoch' }),
    receivedAt: Type.Integer({ description: 'When the hub stored it, ms since epoch' }),
    bytes: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type PriorSummary = Static<typeof PriorSummarySchema>;

export const MemberVerdictSchema = Type.Object(
  {
    ref: Type.String({ description: 'site/gateway/device/point@version of the published prior' }),
    role: Type.Union([Type.Literal('chosen'), Type.Literal('kept'), Type.Literal('excluded')]),
    reason: Type.String(),
  },
  strict,
);

export const FleetPriorSummarySchema = Type.Object(
  {
    key: PriorKeySchema,
    version: Type.Integer({ minimum: 1, description: 'Increases by one each time the prior served for the key changes' }),
    builtAt: Type.Integer({ description: 'When this version was chosen, ms since epoch' }),
    source: Type.String({ description: 'site/gateway/device/point of the member chosen' }),
    sourceVersion: Type.Integer({ minimum: 1, description: 'Version of the published prior chosen' }),
    members: Type.Integer({ minimum: 1, description: 'Published priors (one per sharing point, the newest) of the latest rebuild' }),
    verdicts: Type.Array(MemberVerdictSchema, { description: 'Every member: chosen, kept, or excluded and why' }),
    bytes: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type FleetPriorSummary = Static<typeof FleetPriorSummarySchema>;

/** Sends a fleet prior to one gateway (hub/index.ts: an MQTT publish on its prior/fleet). */
export type SendFleetPrior = (site: string, gateway: string, message: FleetPriorMessage) => Promise<void>;

/** Published priors of a key considered for its fleet prior: the newest of each gateway, newest first. */
const MAX_MEMBERS = 64;
/** (key, gateway) pairs remembered for pushing the next version (this process only; gateways ask again anyway). */
const MAX_WAITING = 100_000;
/** Versions kept of each sharing point's published prior, and of each key's fleet prior. */
const KEEP_VERSIONS = 5;

export interface PublishPrior {
  readonly key: string;
  readonly site: string;
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  /** The prior as published (JSON bytes or text, or the decoded document). */
  readonly prior: DetectorPrior | Buffer | string;
}

const COLUMNS = 'prior_key, version, site, gateway, device, point, readings, created_at, received_at, bytes';
/** Two gateways publishing for the same key at once: the loser takes the next version. */
const VERSION_ATTEMPTS = 5;

export class PriorService {
  /** key -> 'site/gateway' that asked for it and got no version yet (sent the next one, then forgotten). */
  private readonly waiting = new Map<string, Set<string>>();
  private waitingCount = 0;
  /** One rebuild of a key at a time in this process (a rebuild that read fewer members must not write last), and at most one waiting. */
  private readonly rebuilding = new Map<string, { running: Promise<unknown>; queued?: Promise<FleetPriorSummary | undefined> }>();
  /** Background work (rebuilds, answers), awaited by idle() and close(). */
  private readonly background = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly clock: () => number = Date.now,
    private readonly send?: SendFleetPrior,
    private readonly log?: Logger,
  ) {}

  /** Stores a new version of the key's prior; refused (field named) when it fails the schema. */
  async publish(input: PublishPrior): Promise<PriorSummary> {
    const text = typeof input.prior === 'string' || Buffer.isBuffer(input.prior) ? input.prior : JSON.stringify(input.prior);
    const checked = decode(DetectorPriorSchema, `prior ${input.key}`, text, DETECTOR_PRIOR_MAX_BYTES);
    if (!checked.ok) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', checked.error);
    const tooBig = priorSizeProblem(checked.value);
    if (tooBig) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', `prior ${input.key}${tooBig}`);
    const document = JSON.stringify(checked.value);
    const bytes = Buffer.byteLength(document);
    const receivedAt = this.clock();
    const row = await insertNextVersion(this.sql, PUBLISHED, input.key, [input.site, input.gateway, input.device, input.point, checked.value.readings, checked.value.createdAt, receivedAt, bytes, document]);
    // Stored: the fleet prior is chosen again in the background (a failure is logged; the key keeps
    // the fleet prior it had and the next publish rebuilds it).
    this.inBackground(`rebuild of ${input.key}`, async () => {
      const point = [input.key, input.site, input.gateway, input.device, input.point];
      const same = 'prior_key = ? AND site = ? AND gateway = ? AND device = ? AND point = ?';
      await this.sql.all(`DELETE FROM detector_priors WHERE ${same} AND version NOT IN (SELECT version FROM detector_priors WHERE ${same} ORDER BY version DESC LIMIT ${KEEP_VERSIONS})`, [...point, ...point]);
      await this.rebuild(input.key);
    });
    return summaryOf(row);
  }

  /** Runs work after the caller has returned; failures are logged. */
  private inBackground(what: string, work: () => Promise<unknown>): void {
    if (this.closed) return;
    const running = work().catch((err: unknown) => this.log?.error({ err: errorMessage(err) }, `${what} failed`));
    this.background.add(running);
    void running.finally(() => this.background.delete(running));
  }

  /** Resolves once no rebuild or answer is running (tests, benches). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /**
   * Takes no new background work and waits for what runs (before the store closes), at most
   * `waitMs`: a send waiting for a broker that went away must not hold up the hub's shutdown (the
   * gateways ask again).
   */
  async close(waitMs = 5000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), waitMs);
      timer.unref();
    });
    const late = await Promise.race([this.idle().then(() => false), gaveUp]);
    clearTimeout(timer);
    if (late) this.log?.warn({ running: this.background.size, waitMs }, 'fleet prior work still running at stop; left behind');
  }

  /** A prior a gateway published on its `prior` channel (ingest, already checked against the wire schema). */
  async recordPrior(site: string, gateway: string, message: PriorMessage): Promise<void> {
    await this.publish({ key: message.key, site, gateway, device: message.device, point: message.point, prior: message.prior });
  }

  /**
   * Chooses the key's fleet prior again from the newest published prior of each of its points;
   * stores (and pushes to the gateways waiting for it) a new version when the prior served changed.
   */
  rebuild(key: string): Promise<FleetPriorSummary | undefined> {
    // At most one running and one waiting per key: a fleet publishing at once costs two rebuilds of
    // the key, not one each (the waiting one reads every prior stored before it starts).
    const state = this.rebuilding.get(key);
    if (state?.queued) return state.queued;
    let next: Promise<FleetPriorSummary | undefined>;
    if (state) {
      // Queued behind the running one; when it starts, it is the running one and the next call queues behind it.
      next = state.running
        .catch(() => undefined)
        .then(() => {
          state.running = next;
          delete state.queued;
          return this.rebuildNow(key);
        });
      state.queued = next;
    } else {
      next = this.rebuildNow(key);
      this.rebuilding.set(key, { running: next });
    }
    const entry = this.rebuilding.get(key);
    void next
      .finally(() => {
        if (entry && entry.running === next && !entry.queued && this.rebuilding.get(key) === entry) this.rebuilding.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  private async rebuildNow(key: string): Promise<FleetPriorSummary | undefined> {
    const rows = await this.sql.all(
      `SELECT p.site, p.gateway, p.device, p.point, p.version, p.document FROM detector_priors p
       WHERE p.prior_key = ? AND p.version = (SELECT MAX(q.version) FROM detector_priors q
         WHERE q.prior_key = p.prior_key AND q.site = p.site AND q.gateway = p.gateway)
       ORDER BY p.version DESC LIMIT ${MAX_MEMBERS}`,
      [key],
    );
    const members: Array<FleetMember & { readonly version: number; readonly source: string }> = rows.map((r) => {
      const source = `${str(r, 'site')}/${str(r, 'gateway')}/${str(r, 'device')}/${str(r, 'point')}`;
      return { ref: `${source}@${num(r, 'version')}`, source, version: num(r, 'version'), prior: JSON.parse(str(r, 'document')) as DetectorPrior };
    });
    const choice = chooseFleetPrior(members);
    const chosen = choice.chosen === undefined ? undefined : members[choice.chosen];
    if (!chosen) return undefined;
    // The newest published version this choice saw. Hub processes sharing a store rebuild a key at
    // once; the one that read fewer members must not write last: every write below is refused once
    // a choice from a newer basis is stored.
    const basis = Math.max(...members.map((m) => m.version));
    const current = await this.fleetSummary(key);
    if (current && current.source === chosen.source && current.sourceVersion === chosen.version) {
      // The same prior served: the version stays, the members and their reasons are brought up to date.
      const verdicts = JSON.stringify(choice.verdicts);
      await this.sql.all('UPDATE fleet_priors SET members = ?, verdicts = ?, basis = ? WHERE prior_key = ? AND version = ? AND basis <= ?', [members.length, verdicts, basis, key, current.version, basis]);
      return { ...current, members: members.length, verdicts: [...choice.verdicts] };
    }
    const document = JSON.stringify(chosen.prior);
    const row = await insertNextVersion(this.sql, FLEET, key, [this.clock(), chosen.source, chosen.version, members.length, JSON.stringify(choice.verdicts), Buffer.byteLength(document), basis, document], { column: 'basis', below: basis });
    if (!row) return this.fleetSummary(key); // a newer choice is stored already
    const summary = fleetSummaryOf(row);
    await this.sql.all('DELETE FROM fleet_priors WHERE prior_key = ? AND version <= ?', [key, summary.version - KEEP_VERSIONS]);
    await this.pushToWaiting({ v: 1, key, version: summary.version, members: summary.members, prior: chosen.prior });
    return summary;
  }

  /** The newest fleet prior of every key (or of one). */
  listFleet(filter: { readonly key?: string } = {}): Promise<FleetPriorSummary[]> {
    return newestPerKey(this.sql, FLEET, filter.key);
  }

  /** One version of a key's fleet prior (default the newest), with its document. */
  getFleet(key: string, version?: number): Promise<{ readonly summary: FleetPriorSummary; readonly prior: DetectorPrior }> {
    return oneVersion(this.sql, FLEET, key, version);
  }

  private async fleetSummary(key: string): Promise<FleetPriorSummary | undefined> {
    return (await this.listFleet({ key }))[0];
  }

  /**
   * A gateway asks for the fleet priors of its waiting points (ingest, `prior/request`): each key
   * that has one is sent at once; every key is remembered so a later version goes out too.
   */
  async requested(site: string, gateway: string, request: PriorRequest): Promise<void> {
    const who = `${site}/${gateway}`;
    for (const key of request.keys) {
      const set = this.waiting.get(key);
      if (set?.has(who) || this.waitingCount >= MAX_WAITING) continue;
      if (set) set.add(who);
      else this.waiting.set(key, new Set([who]));
      this.waitingCount++;
    }
    const send = this.send;
    if (!send) return;
    const has = new Map((request.have ?? []).map((h) => [h.key, h.version]));
    this.inBackground(`answer to ${who}`, async () => {
      for (const key of request.keys) {
        const newest = await findVersion(this.sql, FLEET, key);
        if (!newest || newest.summary.version <= (has.get(key) ?? 0)) continue;
        const { summary, prior } = newest;
        // Not delivered (the hub's broker link is down): the gateway asks again every requestEveryS.
        if (await this.deliver(send, site, gateway, { v: 1, key, version: summary.version, members: summary.members, prior })) this.forget(key, who);
      }
    });
  }

  /** Sends one fleet prior; false (logged) when it could not. */
  private async deliver(send: SendFleetPrior, site: string, gateway: string, message: FleetPriorMessage): Promise<boolean> {
    try {
      await send(site, gateway, message);
      return true;
    } catch (err) {
      this.log?.warn({ site, gateway, key: message.key, err: errorMessage(err) }, 'fleet prior not sent; the gateway asks again');
      return false;
    }
  }

  private forget(key: string, who: string): void {
    const set = this.waiting.get(key);
    if (!set?.delete(who)) return;
    this.waitingCount--;
    if (set.size === 0) this.waiting.delete(key);
  }

  private async pushToWaiting(message: FleetPriorMessage): Promise<void> {
    const send = this.send;
    if (!send) return;
    for (const who of [...(this.waiting.get(message.key) ?? [])]) {
      const [site = '', gateway = ''] = who.split('/');
      if (await this.deliver(send, site, gateway, message)) this.forget(message.key, who);
    }
  }

  /** The newest version of every key (or of one), by key. */
  list(filter: { readonly key?: string } = {}): Promise<PriorSummary[]> {
    return newestPerKey(this.sql, PUBLISHED, filter.key);
  }

  /** One version of a key's prior (default the newest), with the document to start a detector from. */
  get(key: string, version?: number): Promise<{ readonly summary: PriorSummary; readonly prior: DetectorPrior }> {
    return oneVersion(this.sql, PUBLISHED, key, version);
  }
}

/** A table of versioned prior documents (published priors, fleet priors), read alike. */
interface VersionedTable<S> {
  readonly table: 'detector_priors' | 'fleet_priors';
  readonly columns: string;
  readonly what: string;
  readonly summary: (row: SqlRow) => S;
}

/**
 * Stores `values` (the table's columns after prior_key and version, then the document) as the key's
 * next version. With `unless`, nothing is stored (undefined) once a version whose `column` is at
 * least `below` exists.
 */
async function insertNextVersion<S>(sql: Sql, t: VersionedTable<S>, key: string, values: readonly SqlValue[]): Promise<SqlRow>;
async function insertNextVersion<S>(sql: Sql, t: VersionedTable<S>, key: string, values: readonly SqlValue[], unless: { readonly column: 'basis'; readonly below: number }): Promise<SqlRow | undefined>;
async function insertNextVersion<S>(sql: Sql, t: VersionedTable<S>, key: string, values: readonly SqlValue[], unless?: { readonly column: 'basis'; readonly below: number }): Promise<SqlRow | undefined> {
  const guard = unless ? `HAVING COALESCE(MAX(${unless.column}), 0) < ?` : '';
  for (let attempt = 0; attempt < VERSION_ATTEMPTS; attempt++) {
    // Two writers of the same key at once: the loser's INSERT conflicts and it takes the next version.
    const rows = await sql.all(
      `INSERT INTO ${t.table} (${t.columns}, document)
       SELECT ?, COALESCE(MAX(version), 0) + 1, ${values.map(() => '?').join(', ')} FROM ${t.table} WHERE prior_key = ? ${guard}
       ON CONFLICT (prior_key, version) DO NOTHING RETURNING ${t.columns}`,
      [key, ...values, key, ...(unless ? [unless.below] : [])],
    );
    if (rows[0]) return rows[0];
    if (unless) {
      const [newest] = await sql.all(`SELECT COALESCE(MAX(${unless.column}), 0) AS n FROM ${t.table} WHERE prior_key = ?`, [key]);
      if (newest && num(newest, 'n') >= unless.below) return undefined;
    }
  }
  throw new SwarmgateError('SWG_ERR_HUB_STORE', `${t.what} ${key}: no free version after ${VERSION_ATTEMPTS} attempts`);
}

async function newestPerKey<S>(sql: Sql, t: VersionedTable<S>, key?: string): Promise<S[]> {
  const rows = await sql.all(
    `SELECT ${t.columns.split(', ').map((c) => `p.${c}`).join(', ')} FROM ${t.table} p
     WHERE p.version = (SELECT MAX(q.version) FROM ${t.table} q WHERE q.prior_key = p.prior_key) ${key === undefined ? '' : 'AND p.prior_key = ?'}
     ORDER BY p.prior_key`,
    key === undefined ? [] : [key],
  );
  return rows.map(t.summary);
}

async function oneVersion<S>(sql: Sql, t: VersionedTable<S>, key: string, version?: number): Promise<{ readonly summary: S; readonly prior: DetectorPrior }> {
  const found = await findVersion(sql, t, key, version);
  if (!found) throw new SwarmgateError('SWG_ERR_PRIOR_UNKNOWN', `no ${t.what} for ${key}${version === undefined ? '' : ` version ${version}`}`);
  return found;
}

/** One version of a key (default the newest) with its document; undefined when there is none. */
async function findVersion<S>(sql: Sql, t: VersionedTable<S>, key: string, version?: number): Promise<{ readonly summary: S; readonly prior: DetectorPrior } | undefined> {
  const rows = await sql.all(
    version === undefined
      ? `SELECT ${t.columns}, document FROM ${t.table} WHERE prior_key = ? ORDER BY version DESC LIMIT 1`
      : `SELECT ${t.columns}, document FROM ${t.table} WHERE prior_key = ? AND version = ?`,
    version === undefined ? [key] : [key, version],
  );
  const row = rows[0];
  return row && { summary: t.summary(row), prior: JSON.parse(str(row, 'document')) as DetectorPrior };
}

const FLEET_COLUMNS = 'prior_key, version, built_at, source, source_version, members, verdicts, bytes, basis';

function fleetSummaryOf(row: SqlRow): FleetPriorSummary {
  return {
    key: str(row, 'prior_key'),
    version: num(row, 'version'),
    builtAt: num(row, 'built_at'),
    source: str(row, 'source'),
    sourceVersion: num(row, 'source_version'),
    members: num(row, 'members'),
    verdicts: JSON.parse(str(row, 'verdicts')) as FleetPriorSummary['verdicts'],
    bytes: num(row, 'bytes'),
  };
}

function summaryOf(row: SqlRow): PriorSummary {
  return {
    key: str(row, 'prior_key'),
    version: num(row, 'version'),
    site: str(row, 'site'),
    gateway: str(row, 'gateway'),
    device: str(row, 'device'),
    point: str(row, 'point'),
    readings: num(row, 'readings'),
    createdAt: num(row, 'created_at'),
    receivedAt: num(row, 'received_at'),
    bytes: num(row, 'bytes'),
  };
}

const PUBLISHED: VersionedTable<PriorSummary> = { table: 'detector_priors', columns: COLUMNS, what: 'prior', summary: summaryOf };
const FLEET: VersionedTable<FleetPriorSummary> = { table: 'fleet_priors', columns: FLEET_COLUMNS, what: 'fleet prior', summary: fleetSummaryOf };
