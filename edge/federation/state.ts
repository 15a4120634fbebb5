/**
 * The gateway's small federation state document (lowdb JSON file, written atomically by
 * rename): who this data folder belongs to, the last config version applied, the ids of recently
 * applied hub commands (so a retried command is applied once) and the Sparkplug bdSeq, which
 * must keep counting across restarts.
 *
 * Beside it, the command outcomes file (`<name>.commands.json`, next to `<name>.json`): the
 * recently REJECTED command ids with their code and reason (a redelivered copy of a rejected
 * command is answered with that rejection, never judged again and written), and final acks that
 * could not be queued (the outbox was closed by a shutdown while the write ran), sent at the next
 * start. It is a file of its own so that federation.json keeps exactly the shape the previous
 * release validates (a strict schema, `v: 1`): a gateway rolled back reads federation.json as
 * before and ignores the outcomes file. The outcomes file is read leniently (unknown fields
 * ignored; an unreadable one is set aside with a logged error, never fatal): a later release may
 * add fields to it, and an incompatible change must take a new file name.
 */
import { renameSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';

const strict = { additionalProperties: false } as const;

/** The previous release validates federation.json with exactly this schema: never add to it (see the outcomes file). */
const StateSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Type.String(),
    site: Type.String(),
    configVersion: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    appliedCommands: Type.Array(Type.Object({ id: Type.String(), at: Type.Integer() }, strict)),
    sparkplugBdSeq: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
  },
  strict,
);

export type FederationStateData = Static<typeof StateSchema>;

/** Lenient on purpose (no additionalProperties: false): a later release may add fields. */
const RejectedSchema = Type.Object({ id: Type.String(), at: Type.Integer(), code: Type.String(), reason: Type.String() });
const UnackedSchema = Type.Object({
  id: Type.String(),
  at: Type.Integer(),
  status: Type.Union([Type.Literal('applied'), Type.Literal('rejected')]),
  code: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});
const OutcomesSchema = Type.Object({
  v: Type.Literal(1),
  gateway: Type.String(),
  rejectedCommands: Type.Array(RejectedSchema),
  unackedCommands: Type.Array(UnackedSchema),
});

type OutcomesData = Static<typeof OutcomesSchema>;

/** The final outcome of a hub command id, as this gateway decided it. */
export type CommandOutcome = { readonly status: 'applied' } | { readonly status: 'rejected'; readonly code: string; readonly reason: string };

/** A final ack that could not be queued when the command finished; sent at the next start. */
export interface UnackedOutcome {
  readonly id: string;
  /** When the outcome was decided (ms since epoch, this gateway's clock): the ack's ts. */
  readonly at: number;
  readonly status: 'applied' | 'rejected';
  readonly code?: string;
  readonly reason?: string;
}

/** Longest reason kept for a rejected id (the ack's own limit). */
const MAX_REASON = 1000;

export interface FederationStateOptions {
  readonly path: string;
  readonly gateway: string;
  readonly site: string;
  /** How many applied command ids are remembered (oldest forgotten first); as many rejected ones, and unacked outcomes. */
  readonly maxCommands?: number;
  /** The command outcomes file; default next to `path`: `<name>.commands.json`. */
  readonly outcomesPath?: string;
  /** Where a set-aside outcomes file is told about. */
  readonly log?: Logger;
}

export class FederationState {
  private readonly applied = new Set<string>();
  private readonly rejected = new Map<string, { readonly code: string; readonly reason: string }>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Low<FederationStateData>,
    private readonly outcomes: Low<OutcomesData>,
    private readonly maxCommands: number,
  ) {
    for (const c of db.data.appliedCommands) this.applied.add(c.id);
    for (const c of outcomes.data.rejectedCommands) if (!this.applied.has(c.id)) this.rejected.set(c.id, { code: c.code, reason: c.reason });
  }

  static async open(options: FederationStateOptions): Promise<FederationState> {
    const fresh: FederationStateData = { v: 1, gateway: options.gateway, site: options.site, configVersion: null, appliedCommands: [], sparkplugBdSeq: null };
    const db = new Low<FederationStateData>(new JSONFile<FederationStateData>(options.path), fresh);
    try {
      await db.read();
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `federation state ${options.path} is unreadable (${errorMessage(err)}); move it away to start with a fresh state`, { cause: err });
    }
    if (!Value.Check(StateSchema, db.data)) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `federation state ${options.path} is not a swarmgate state document; move it away to start with a fresh state`);
    }
    if (db.data.gateway !== options.gateway) {
      throw new SwarmgateError(
        'SWG_ERR_CONFIG_INVALID',
        `data folder of ${options.path} belongs to gateway "${db.data.gateway}", not "${options.gateway}"; give each gateway its own dataDir`,
        { details: { path: options.path, expected: options.gateway, found: db.data.gateway } },
      );
    }
    db.data.site = options.site;
    const maxCommands = options.maxCommands ?? 1000;
    const outcomes = await openOutcomes(options.outcomesPath ?? outcomesPathOf(options.path), options.gateway, maxCommands, options.log);
    const state = new FederationState(db, outcomes, maxCommands);
    await state.save();
    return state;
  }

  get data(): Readonly<FederationStateData> {
    return this.db.data;
  }

  get configVersion(): number | null {
    return this.db.data.configVersion;
  }

  async setConfigVersion(version: number): Promise<void> {
    this.db.data.configVersion = version;
    await this.save();
  }

  hasApplied(commandId: string): boolean {
    return this.applied.has(commandId);
  }

  /** What this gateway decided for the id, when it still remembers it (applied wins over rejected). */
  outcome(commandId: string): CommandOutcome | undefined {
    if (this.applied.has(commandId)) return { status: 'applied' };
    const r = this.rejected.get(commandId);
    return r ? { status: 'rejected', code: r.code, reason: r.reason } : undefined;
  }

  async recordApplied(commandId: string, at: number): Promise<void> {
    if (this.applied.has(commandId)) return;
    this.applied.add(commandId);
    const list = this.db.data.appliedCommands;
    list.push({ id: commandId, at });
    while (list.length > this.maxCommands) {
      const old = list.shift();
      if (old) this.applied.delete(old.id);
    }
    await this.save();
  }

  /** Keeps a rejected id with its code and reason (in memory at once; the outcomes file follows). */
  async recordRejected(commandId: string, at: number, code: string, reason: string): Promise<void> {
    if (this.applied.has(commandId) || this.rejected.has(commandId)) return;
    const kept = { code: code.slice(0, 64), reason: reason.slice(0, MAX_REASON) };
    this.rejected.set(commandId, kept);
    const list = this.outcomes.data.rejectedCommands;
    list.push({ id: commandId, at, ...kept });
    while (list.length > this.maxCommands) {
      const old = list.shift();
      if (old) this.rejected.delete(old.id);
    }
    await this.saveOutcomes();
  }

  /** Final acks not queued yet, oldest first. */
  unacked(): readonly UnackedOutcome[] {
    return this.outcomes.data.unackedCommands;
  }

  /** Keeps a final ack the outbox could not take, to be sent at the next start (bounded: the oldest goes first). */
  async recordUnacked(outcome: UnackedOutcome): Promise<void> {
    const list = this.outcomes.data.unackedCommands.filter((u) => u.id !== outcome.id);
    list.push({ id: outcome.id, at: outcome.at, status: outcome.status, ...(outcome.code !== undefined ? { code: outcome.code.slice(0, 64) } : {}), ...(outcome.reason !== undefined ? { reason: outcome.reason.slice(0, MAX_REASON) } : {}) });
    while (list.length > this.maxCommands) list.shift();
    this.outcomes.data.unackedCommands = list;
    await this.saveOutcomes();
  }

  /** These acks are in the outbox now. */
  async clearUnacked(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    this.outcomes.data.unackedCommands = this.outcomes.data.unackedCommands.filter((u) => !gone.has(u.id));
    await this.saveOutcomes();
  }

  /**
   * The bdSeq for the next Sparkplug connect: previous + 1, wrapping 255 -> 0, 0 on a first boot.
   * Kept in memory at once (the MQTT CONNECT goes out synchronously); the file follows.
   */
  nextBdSeq(): number {
    const prev = this.db.data.sparkplugBdSeq;
    const next = prev === null ? 0 : (prev + 1) % 256;
    this.db.data.sparkplugBdSeq = next;
    void this.save().catch(() => undefined);
    return next;
  }

  /** Writes are serialised; resolves when everything asked so far is on disk. */
  save(): Promise<void> {
    const run = this.writing.then(() => this.db.write());
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Writes the outcomes file, serialised with save(). */
  saveOutcomes(): Promise<void> {
    const run = this.writing.then(() => this.outcomes.write());
    this.writing = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.writing;
  }
}

/** `federation.json` -> `federation.commands.json`. */
function outcomesPathOf(statePath: string): string {
  return statePath.endsWith('.json') ? `${statePath.slice(0, -'.json'.length)}.commands.json` : `${statePath}.commands.json`;
}

/**
 * Reads the outcomes file. It is a memory of decisions, not the gateway's identity: an unreadable
 * or foreign one is set aside (renamed `.unreadable`, for a look) and the gateway starts with an
 * empty one rather than not at all. Kept to the bound, whatever a file holds.
 */
async function openOutcomes(path: string, gateway: string, maxCommands: number, log: Logger | undefined): Promise<Low<OutcomesData>> {
  const fresh = (): OutcomesData => ({ v: 1, gateway, rejectedCommands: [], unackedCommands: [] });
  const db = new Low<OutcomesData>(new JSONFile<OutcomesData>(path), fresh());
  let problem: string | undefined;
  try {
    await db.read();
    if (!Value.Check(OutcomesSchema, db.data)) problem = 'it is not a swarmgate command outcomes document';
    else if (db.data.gateway !== gateway) problem = `it belongs to gateway "${db.data.gateway}", not "${gateway}"`;
  } catch (err) {
    problem = `it is unreadable (${errorMessage(err)})`;
  }
  if (problem !== undefined) {
    let setAside: string | undefined = `${path}.unreadable`;
    try {
      renameSync(path, setAside);
    } catch {
      setAside = undefined;
    }
    log?.error({ path, setAside, problem }, 'command outcomes file set aside; starting with none (redelivered rejected commands are judged again)');
    db.data = fresh();
    return db;
  }
  // Only the fields this release knows, within the bound.
  db.data = {
    v: 1,
    gateway,
    rejectedCommands: db.data.rejectedCommands.slice(-maxCommands).map((r) => ({ id: r.id, at: r.at, code: r.code, reason: r.reason })),
    unackedCommands: db.data.unackedCommands.slice(-maxCommands).map((u) => ({ id: u.id, at: u.at, status: u.status, ...(u.code !== undefined ? { code: u.code } : {}), ...(u.reason !== undefined ? { reason: u.reason } : {}) })),
  };
  return db;
}
