/**
 * Deployments: one release to a site, a list of gateways or a percentage of the fleet, canary
 * first. The canary wave (the first N gateways) is told to update (a retained UpdateDesired on each
 * gateway's update/desired topic, with its own download token); once every canary has an outcome
 * and failures stay within maxFailures, the rest follow. More failures than maxFailures (failed or
 * rolled back) halts the deployment: gateways not told yet never are. Progress per gateway comes
 * back on update/status (ingest calls recordStatus).
 *
 * A gateway has one retained update/desired topic, so a newer deployment to it replaces whatever an
 * earlier one told it: creating a deployment marks the earlier deployments' unfinished rows of its
 * gateways `superseded` (naming the new deployment), so those deployments can still finish.
 * Revoked gateways are not told: they are recorded as `skipped` with the reason. Cancelling a
 * deployment cancels its gateways not told yet or told and not heard from (their retained desired
 * update is cleared); gateways already updating finish on their own. After a restart of a hub
 * whose embedded broker lost its retained messages, gateways told and not heard from are told again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { UpdateDesiredSchema, encode, gatewayTopic, type UpdateDesired, type UpdateStatus } from '../../shared/wire/index.js';
import { num, str, type Sql, type SqlRow } from '../db/sql.js';
import type { HubEvents } from '../events.js';
import type { GatewayRecord } from '../store/types.js';
import { sha256Hex, type ReleaseService } from './service.js';

export type DeploymentTarget = { readonly site: string } | { readonly gateways: readonly string[] } | { readonly percent: number };
export type DeploymentState = 'canary' | 'rolling' | 'done' | 'halted' | 'cancelled';
/** waiting: not told yet; sent: told, nothing heard; then what the gateway reports. */
export type GatewayUpdateState = 'waiting' | 'sent' | UpdateStatus['state'] | 'superseded' | 'skipped' | 'cancelled';

/** Outcomes: nothing more is told or heard for the row. superseded, skipped and cancelled are the hub's own. */
const FINAL: ReadonlySet<string> = new Set(['healthy', 'rolled-back', 'failed', 'superseded', 'skipped', 'cancelled']);
const FINAL_LIST = [...FINAL];
const FAILED: ReadonlySet<string> = new Set(['rolled-back', 'failed']);

export interface CreateDeployment {
  readonly version: string;
  readonly target: DeploymentTarget;
  /** Gateways in the canary wave (default 1); canaryPercent instead takes a share of the targets. */
  readonly canary?: number;
  readonly canaryPercent?: number;
  /** Failures tolerated before the deployment halts (default 0: the first failure halts). */
  readonly maxFailures?: number;
  /** Going back to an older release than gateways run, on purpose (they refuse one otherwise). */
  readonly allowDowngrade?: boolean;
  readonly user: string;
}

export interface DeploymentGatewayView {
  readonly gateway: string;
  readonly site: string;
  readonly wave: 'canary' | 'rest';
  readonly state: GatewayUpdateState;
  readonly from?: string;
  readonly code?: string;
  readonly reason?: string;
  /** The later deployment that took this gateway over (state superseded). */
  readonly supersededBy?: string;
  readonly updatedAt: number;
}

export interface DeploymentView {
  readonly id: string;
  readonly version: string;
  readonly target: DeploymentTarget;
  readonly canary: number;
  readonly maxFailures: number;
  /** It may go back to an older release than a gateway runs. */
  readonly allowDowngrade: boolean;
  readonly state: DeploymentState;
  readonly reason?: string;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly gateways: readonly DeploymentGatewayView[];
}

export interface DeploymentServiceOptions {
  readonly sql: Sql;
  readonly releases: ReleaseService;
  readonly gateways: () => Promise<readonly GatewayRecord[]>;
  /** Gateways that must not be told (revoked), each with the reason recorded; none when absent. */
  readonly revoked?: () => Promise<ReadonlyMap<string, string>>;
  /** Publishes QoS 1 (retained as asked); rejects when the hub is not connected. */
  readonly publish?: (topic: string, payload: Buffer, retain: boolean) => Promise<void>;
  /** Base URL gateways download from (releases.publicUrl, else the API's own URL). */
  readonly baseUrl: () => string | undefined;
  readonly log: Logger;
  /** Where deployment changes are announced (the page's live stream). */
  readonly events?: HubEvents;
  readonly clock?: () => number;
}

const invalid = (message: string): SwarmgateError => new SwarmgateError('SWG_ERR_DEPLOYMENT_INVALID', message);

export class DeploymentService {
  private readonly clock: () => number;
  private serial: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DeploymentServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** One change at a time: statuses from many gateways and new deployments never interleave. */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn);
    this.serial = next.catch(() => undefined);
    return next;
  }

  create(input: CreateDeployment): Promise<DeploymentView> {
    return this.run(async () => {
      if (!this.options.publish) throw new SwarmgateError('SWG_ERR_HUB_BROKER', 'this hub has no MQTT connection to tell gateways; start the API through startHub');
      if (!this.options.baseUrl()) throw new SwarmgateError('SWG_ERR_API_UNAVAILABLE', 'gateways need a URL to download from: set releases.publicUrl or run the hub API');
      const release = await this.options.releases.get(input.version);
      if (release.state !== 'ready') throw invalid(`release ${input.version} has no uploaded artifact yet`);
      // Gateways download from whichever hub process answers: this one must hold the file too.
      this.options.releases.readyArtifact(release.version);
      const resolved = await this.resolve(input.target);
      if (resolved.length === 0) throw invalid('the target names no gateway this hub knows');
      const revoked = (await this.options.revoked?.()) ?? new Map<string, string>();
      const targets = resolved.filter((g) => !revoked.has(g.gateway));
      const skipped = resolved.filter((g) => revoked.has(g.gateway));
      if (targets.length === 0) throw invalid(`every gateway of the target is revoked: ${skipped.map((g) => `${g.gateway} (${revoked.get(g.gateway) ?? 'revoked'})`).join(', ')}`);
      const canary = Math.max(1, Math.min(targets.length, input.canaryPercent !== undefined ? Math.ceil((targets.length * input.canaryPercent) / 100) : (input.canary ?? 1)));
      const id = `dep-${randomBytes(6).toString('hex')}`;
      const now = this.clock();
      const sql = this.options.sql;
      await sql.all('INSERT INTO deployments (id, version, target, canary, max_failures, state, reason, created_by, created_at, updated_at, allow_downgrade) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)', [
        id,
        input.version,
        JSON.stringify(input.target),
        canary,
        input.maxFailures ?? 0,
        canary >= targets.length ? 'rolling' : 'canary',
        input.user,
        now,
        now,
        input.allowDowngrade === true ? 1 : 0,
      ]);
      const addRow = (g: GatewayRecord, wave: 0 | 1, state: 'waiting' | 'skipped', reason: string | null): Promise<unknown> =>
        sql.all('INSERT INTO deployment_gateways (deployment, gateway, site, wave, state, token_hash, from_version, code, reason, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?)', [
          id,
          g.gateway,
          g.site,
          wave,
          state,
          g.version ?? null,
          reason,
          now,
        ]);
      for (const [i, g] of targets.entries()) await addRow(g, i < canary ? 0 : 1, 'waiting', null);
      for (const g of skipped) await addRow(g, 1, 'skipped', revoked.get(g.gateway) ?? 'revoked');
      this.options.log.info({ deployment: id, version: input.version, gateways: targets.length, skipped: skipped.length, canary }, 'deployment created');
      await this.supersede(id, targets, new Set(targets.slice(0, canary).map((g) => g.gateway)));
      await this.sendWave(id, 0);
      if (canary >= targets.length) await this.sendWave(id, 1);
      const view = await this.get(id);
      await this.announce({ id, version: view.version, state: view.state });
      return view;
    });
  }

  async list(limit = 50): Promise<DeploymentView[]> {
    const rows = await this.options.sql.all('SELECT id FROM deployments ORDER BY created_at DESC LIMIT ?', [limit]);
    return Promise.all(rows.map((r) => this.get(str(r, 'id'))));
  }

  async get(id: string): Promise<DeploymentView> {
    const sql = this.options.sql;
    const d = (await sql.all('SELECT * FROM deployments WHERE id = ?', [id]))[0];
    if (!d) throw new SwarmgateError('SWG_ERR_DEPLOYMENT_UNKNOWN', `no deployment "${id}"`, { details: { id } });
    const gateways = (await sql.all('SELECT * FROM deployment_gateways WHERE deployment = ? ORDER BY wave, gateway', [id])).map(gatewayView);
    const counts: Record<string, number> = {};
    for (const g of gateways) counts[g.state] = (counts[g.state] ?? 0) + 1;
    const reason = d.reason === null ? undefined : str(d, 'reason');
    return {
      id,
      version: str(d, 'version'),
      target: JSON.parse(str(d, 'target')) as DeploymentTarget,
      canary: num(d, 'canary'),
      maxFailures: num(d, 'max_failures'),
      allowDowngrade: num(d, 'allow_downgrade') === 1,
      state: str(d, 'state') as DeploymentState,
      ...(reason ? { reason } : {}),
      createdBy: str(d, 'created_by'),
      createdAt: num(d, 'created_at'),
      updatedAt: num(d, 'updated_at'),
      counts,
      gateways,
    };
  }

  /** A gateway's update/status (from ingest): its row moves on, and the deployment with it. */
  recordStatus(site: string, gateway: string, status: UpdateStatus): Promise<void> {
    return this.run(async () => {
      const sql = this.options.sql;
      const row = (await sql.all('SELECT state FROM deployment_gateways WHERE deployment = ? AND gateway = ? AND site = ?', [status.deployment, gateway, site]))[0];
      if (!row) {
        this.options.log.warn({ gateway, deployment: status.deployment }, 'update status for a deployment this gateway is not in; ignored');
        return;
      }
      // Outcomes are final: a late progress message does not undo one.
      if (FINAL.has(str(row, 'state'))) return;
      await sql.all('UPDATE deployment_gateways SET state = ?, from_version = COALESCE(?, from_version), code = ?, reason = ?, updated_at = ? WHERE deployment = ? AND gateway = ?', [
        status.state,
        status.from ?? null,
        status.code ?? null,
        status.reason ?? null,
        this.clock(),
        status.deployment,
        gateway,
      ]);
      if (FINAL.has(status.state)) {
        this.options.log.info({ deployment: status.deployment, gateway, state: status.state, code: status.code, reason: status.reason }, 'gateway update finished');
        // Nothing left to tell this gateway: the retained desired update is cleared.
        await this.options.publish?.(gatewayTopic(site, gateway, 'update/desired'), Buffer.alloc(0), true).catch(() => undefined);
      }
      await this.advance(status.deployment);
      const d = await this.get(status.deployment);
      await this.announce({ id: d.id, version: d.version, state: d.state, gateway, gatewayState: status.state });
    });
  }

  /**
   * Marks the unfinished rows of these gateways in other deployments superseded by `id` (the new
   * deployment's desired update replaces theirs on the retained topic), then lets each of those
   * deployments move on: one whose rows are now all outcomes is done.
   */
  private async supersede(id: string, targets: readonly GatewayRecord[], toldNow: ReadonlySet<string>): Promise<void> {
    const sql = this.options.sql;
    const now = this.clock();
    const touched = new Set<string>();
    const marks = FINAL_LIST.map(() => '?').join(', ');
    for (const g of targets) {
      const rows = await sql.all(`UPDATE deployment_gateways SET state = ?, superseded_by = ?, reason = ?, updated_at = ? WHERE gateway = ? AND site = ? AND deployment <> ? AND state NOT IN (${marks}) RETURNING deployment, token_hash`, [
        'superseded',
        id,
        `superseded by deployment ${id}`,
        now,
        g.gateway,
        g.site,
        id,
        ...FINAL_LIST,
      ]);
      for (const r of rows) touched.add(str(r, 'deployment'));
      // Told by an earlier deployment but not by this one yet (its later wave, which may never
      // come if it halts): the earlier desired update must not wait on the retained topic.
      if (!toldNow.has(g.gateway) && rows.some((r) => r.token_hash !== null && r.token_hash !== undefined)) {
        await this.options.publish?.(gatewayTopic(g.site, g.gateway, 'update/desired'), Buffer.alloc(0), true).catch(() => undefined);
      }
    }
    for (const earlier of touched) {
      this.options.log.info({ deployment: earlier, by: id }, 'gateways of an earlier deployment superseded');
      await this.advance(earlier);
      const d = await this.get(earlier);
      await this.announce({ id: d.id, version: d.version, state: d.state });
    }
  }

  /**
   * Cancels what is not under way yet: waiting gateways, and gateways told but not heard from (their
   * retained desired update is cleared). Gateways already downloading or installing finish on their
   * own and their outcomes are still recorded.
   */
  cancel(id: string, user: string): Promise<DeploymentView> {
    return this.run(async () => {
      const d = await this.get(id);
      if (d.state === 'done' || d.state === 'halted' || d.state === 'cancelled') throw new SwarmgateError('SWG_ERR_DEPLOYMENT_STATE', `deployment ${id} is ${d.state} already: nothing to cancel`, { details: { id } });
      const sql = this.options.sql;
      const now = this.clock();
      const rows = await this.withdraw(id, `cancelled by ${user}`, now);
      const busy = d.gateways.filter((g) => !FINAL.has(g.state) && g.state !== 'waiting' && g.state !== 'sent').length;
      const reason = `cancelled by ${user}: ${rows.length} gateway(s) not updated${busy ? `; ${busy} already updating finish on their own` : ''}`;
      await sql.all('UPDATE deployments SET state = ?, reason = ?, updated_at = ? WHERE id = ?', ['cancelled', reason, now, id]);
      this.options.log.warn({ deployment: id, user, cancelled: rows.length, busy }, 'deployment cancelled');
      const view = await this.get(id);
      await this.announce({ id, version: view.version, state: view.state });
      return view;
    });
  }

  /**
   * The gateways of a deployment in these states (waiting, and told but not heard from: sent)
   * are cancelled with `reason`; the retained desired update of the told ones is cleared, so a
   * gateway that is offline, slow or restarting does not find it later. Returns the rows cancelled.
   */
  private async withdraw(id: string, reason: string, now: number, states: readonly ('waiting' | 'sent')[] = ['waiting', 'sent']): Promise<SqlRow[]> {
    const rows = await this.options.sql.all(
      `UPDATE deployment_gateways SET state = ?, reason = ?, updated_at = ? WHERE deployment = ? AND state IN (${states.map(() => '?').join(', ')}) RETURNING gateway, site, token_hash`,
      ['cancelled', reason, now, id, ...states],
    );
    for (const r of rows) {
      // Told ones (a token was given) hold this deployment on their retained topic: cleared.
      if (r.token_hash !== null && r.token_hash !== undefined) await this.options.publish?.(gatewayTopic(str(r, 'site'), str(r, 'gateway'), 'update/desired'), Buffer.alloc(0), true).catch(() => undefined);
    }
    return rows;
  }

  /**
   * Tells again every gateway told and not heard from (state sent) of a deployment still going
   * (canary or rolling), each with a new download token: the embedded broker keeps retained
   * messages in memory, so a hub restart loses them. Returns how many.
   */
  republish(): Promise<number> {
    return this.run(async () => {
      if (!this.options.publish || !this.options.baseUrl()) return 0;
      const rows = await this.options.sql.all(
        'SELECT g.deployment, g.gateway, g.site FROM deployment_gateways g JOIN deployments d ON d.id = g.deployment WHERE g.state = ? AND d.state IN (?, ?) ORDER BY g.deployment, g.gateway',
        ['sent', 'canary', 'rolling'],
      );
      let told = 0;
      for (const r of rows) if (await this.tell(str(r, 'deployment'), str(r, 'gateway'), str(r, 'site'), 'sent')) told++;
      if (told > 0) this.options.log.info({ gateways: told }, 'in-flight desired updates published again');
      return told;
    });
  }

  private async announce(change: { id: string; version: string; state: string; gateway?: string; gatewayState?: string }): Promise<void> {
    await this.options.events?.emit('deployment', change);
  }

  private async advance(id: string): Promise<void> {
    const d = await this.get(id);
    if (d.state === 'done' || d.state === 'halted' || d.state === 'cancelled') return;
    const failures = d.gateways.filter((g) => FAILED.has(g.state)).length;
    const now = this.clock();
    const sql = this.options.sql;
    if (failures > d.maxFailures) {
      // What was told and not acted on yet is taken back (the retained desired update cleared):
      // the rest of a wave told at once must not install a release its first gateways rolled back.
      const withdrawn = await this.withdraw(id, `deployment halted: ${failures} gateway(s) failed or rolled back`, now, ['sent']);
      const reason = `${failures} gateway(s) failed or rolled back (${d.maxFailures} tolerated); gateways not told yet stay on their release${withdrawn.length > 0 ? `, and ${withdrawn.length} told but not updating yet were cancelled` : ''}; gateways already updating finish on their own`;
      await sql.all('UPDATE deployments SET state = ?, reason = ?, updated_at = ? WHERE id = ?', ['halted', reason, now, id]);
      this.options.log.error({ deployment: id, version: d.version, failures, withdrawn: withdrawn.length }, 'deployment halted');
      return;
    }
    if (d.gateways.every((g) => FINAL.has(g.state))) {
      await sql.all('UPDATE deployments SET state = ?, updated_at = ? WHERE id = ?', ['done', now, id]);
      return;
    }
    const canaries = d.gateways.filter((g) => g.wave === 'canary');
    if (d.state === 'canary' && canaries.every((g) => FINAL.has(g.state))) {
      // The rest is told only after a canary proved the release healthy. Canaries that ended
      // without proving anything (superseded by a later deployment, skipped, cancelled) are
      // replaced from the waiting rest, which then waits for them.
      if (!canaries.some((g) => g.state === 'healthy')) {
        const stand = await sql.all('SELECT gateway FROM deployment_gateways WHERE deployment = ? AND wave = 1 AND state = ? ORDER BY gateway LIMIT ?', [id, 'waiting', Math.max(1, d.canary)]);
        for (const r of stand) await sql.all('UPDATE deployment_gateways SET wave = 0, updated_at = ? WHERE deployment = ? AND gateway = ?', [now, id, str(r, 'gateway')]);
        this.options.log.warn({ deployment: id, version: d.version, canaries: stand.map((r) => str(r, 'gateway')) }, 'no canary proved the release (superseded, skipped or cancelled); new canaries');
        await this.sendWave(id, 0);
        return;
      }
      await sql.all('UPDATE deployments SET state = ?, updated_at = ? WHERE id = ?', ['rolling', now, id]);
      this.options.log.info({ deployment: id, version: d.version }, 'canary wave healthy; updating the rest');
      await this.sendWave(id, 1);
    }
  }

  /** Tells every waiting gateway of the wave, each with its own download token. */
  private async sendWave(id: string, wave: 0 | 1): Promise<void> {
    const rows = await this.options.sql.all('SELECT gateway, site FROM deployment_gateways WHERE deployment = ? AND wave = ? AND state = ?', [id, wave, 'waiting']);
    for (const r of rows) await this.tell(id, str(r, 'gateway'), str(r, 'site'), 'waiting');
  }

  /** Publishes one gateway's desired update with a new download token if its row is still in state `from`; false when it was not. */
  private async tell(id: string, gateway: string, site: string, from: 'waiting' | 'sent'): Promise<boolean> {
    const sql = this.options.sql;
    const d = (await sql.all('SELECT version, allow_downgrade FROM deployments WHERE id = ?', [id]))[0];
    if (!d) return false;
    const release = await this.options.releases.get(str(d, 'version'));
    const base = (this.options.baseUrl() ?? '').replace(/\/+$/, '');
    const token = randomBytes(24).toString('base64url');
    const desired: UpdateDesired = {
      v: 1,
      deployment: id,
      ts: this.clock(),
      manifest: release.manifest,
      url: `${base}/api/v1/releases/${encodeURIComponent(release.version)}/artifact`,
      token,
      ...(num(d, 'allow_downgrade') === 1 ? { downgrade: true as const } : {}),
    };
    // Claimed in one statement: with several hub processes on one store, one of them tells each gateway.
    const claimed = await sql.all('UPDATE deployment_gateways SET state = ?, token_hash = ?, updated_at = ? WHERE deployment = ? AND gateway = ? AND state = ? RETURNING gateway', ['sent', sha256Hex(token), this.clock(), id, gateway, from]);
    if (claimed.length === 0) return false;
    const topic = gatewayTopic(site, gateway, 'update/desired');
    await this.options.publish?.(topic, encode(UpdateDesiredSchema, desired), true);
    // Another hub process may have cancelled or superseded the row between the claim and the
    // publish: then this retained update must not stay for the gateway to find.
    const after = (await sql.all('SELECT state FROM deployment_gateways WHERE deployment = ? AND gateway = ?', [id, gateway]))[0];
    if (after && str(after, 'state') === 'cancelled') {
      await this.options.publish?.(topic, Buffer.alloc(0), true).catch(() => undefined);
      return false;
    }
    return true;
  }

  private async resolve(target: DeploymentTarget): Promise<GatewayRecord[]> {
    const all = [...(await this.options.gateways())];
    if ('site' in target) return all.filter((g) => g.site === target.site).sort((a, b) => a.gateway.localeCompare(b.gateway));
    if ('gateways' in target) {
      const out: GatewayRecord[] = [];
      for (const id of new Set(target.gateways)) {
        const g = all.find((x) => x.gateway === id);
        if (!g) throw new SwarmgateError('SWG_ERR_GATEWAY_UNKNOWN', `gateway "${id}" is not known to this hub`, { details: { gateway: id } });
        out.push(g);
      }
      return out;
    }
    if (!(target.percent > 0 && target.percent <= 100)) throw invalid('percent must be in (0, 100]');
    // A stable spread over the fleet: ordered by a hash of the id, not by name or age.
    const order = (g: GatewayRecord): string => createHash('sha256').update(g.gateway).digest('hex');
    return all.sort((a, b) => order(a).localeCompare(order(b))).slice(0, Math.ceil((all.length * target.percent) / 100));
  }
}

function gatewayView(row: SqlRow): DeploymentGatewayView {
  const opt = (k: string): string | undefined => (row[k] === null || row[k] === undefined ? undefined : str(row, k));
  const from = opt('from_version');
  const code = opt('code');
  const reason = opt('reason');
  const supersededBy = opt('superseded_by');
  return {
    gateway: str(row, 'gateway'),
    site: str(row, 'site'),
    wave: num(row, 'wave') === 0 ? 'canary' : 'rest',
    state: str(row, 'state') as GatewayUpdateState,
    ...(from ? { from } : {}),
    ...(code ? { code } : {}),
    ...(reason ? { reason } : {}),
    ...(supersededBy ? { supersededBy } : {}),
    updatedAt: num(row, 'updated_at'),
  };
}
