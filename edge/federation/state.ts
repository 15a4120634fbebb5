/**
 * The gateway's small federation state document (lowdb JSON file, written atomically by
 * rename): who this data folder belongs to, the last config version applied, the ids of recently
 * applied hub commands (so a retried command is applied once) and the Sparkplug bdSeq, which
 * must keep counting across restarts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';

const strict = { additionalProperties: false } as const;

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

export interface FederationStateOptions {
  readonly path: string;
  readonly gateway: string;
  readonly site: string;
  /** How many applied command ids are remembered (oldest forgotten first). */
  readonly maxCommands?: number;
}

export class FederationState {
  private readonly applied = new Set<string>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Low<FederationStateData>,
    private readonly maxCommands: number,
  ) {
    for (const c of db.data.appliedCommands) this.applied.add(c.id);
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
    const state = new FederationState(db, options.maxCommands ?? 1000);
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

  async close(): Promise<void> {
    await this.writing;
  }
}
