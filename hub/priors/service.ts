/**
 * Fleet detector priors: the hub keeps every version a gateway published for a profile point key
 * (shared/wire/detector-prior.ts: priorKey) and serves the newest. A prior is checked against the
 * wire schema again on the way in (whoever hands it over), so what is served is always a valid
 * document a gateway can start a detector from.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { decode } from '../../shared/wire/codec.js';
import { DETECTOR_PRIOR_MAX_BYTES, DetectorPriorSchema, PriorKeySchema, type DetectorPrior, type PriorMessage } from '../../shared/wire/detector-prior.js';
import { num, str, type Sql, type SqlRow } from '../db/sql.js';

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
  constructor(
    private readonly sql: Sql,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Stores a new version of the key's prior; refused (field named) when it fails the schema. */
  async publish(input: PublishPrior): Promise<PriorSummary> {
    const text = typeof input.prior === 'string' || Buffer.isBuffer(input.prior) ? input.prior : JSON.stringify(input.prior);
    const checked = decode(DetectorPriorSchema, `prior ${input.key}`, text, DETECTOR_PRIOR_MAX_BYTES);
    if (!checked.ok) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', checked.error);
    const document = JSON.stringify(checked.value);
    const bytes = Buffer.byteLength(document);
    const receivedAt = this.clock();
    for (let attempt = 0; attempt < VERSION_ATTEMPTS; attempt++) {
      const rows = await this.sql.all(
        `INSERT INTO detector_priors (${COLUMNS}, document)
         SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM detector_priors WHERE prior_key = ?
         ON CONFLICT (prior_key, version) DO NOTHING RETURNING ${COLUMNS}`,
        [input.key, input.site, input.gateway, input.device, input.point, checked.value.readings, checked.value.createdAt, receivedAt, bytes, document, input.key],
      );
      const row = rows[0];
      if (row) return summaryOf(row);
    }
    throw new SwarmgateError('SWG_ERR_HUB_STORE', `prior ${input.key}: no free version after ${VERSION_ATTEMPTS} attempts`);
  }

  /** A prior a gateway published on its `prior` channel (ingest, already checked against the wire schema). */
  async recordPrior(site: string, gateway: string, message: PriorMessage): Promise<void> {
    await this.publish({ key: message.key, site, gateway, device: message.device, point: message.point, prior: message.prior });
  }

  /** The newest version of every key (or of one), by key. */
  async list(filter: { readonly key?: string } = {}): Promise<PriorSummary[]> {
    const where = filter.key === undefined ? '' : 'AND p.prior_key = ?';
    const rows = await this.sql.all(
      `SELECT ${COLUMNS.split(', ').map((c) => `p.${c}`).join(', ')} FROM detector_priors p
       WHERE p.version = (SELECT MAX(q.version) FROM detector_priors q WHERE q.prior_key = p.prior_key) ${where}
       ORDER BY p.prior_key`,
      filter.key === undefined ? [] : [filter.key],
    );
    return rows.map(summaryOf);
  }

  /** One version of a key's prior (default the newest), with the document to start a detector from. */
  async get(key: string, version?: number): Promise<{ readonly summary: PriorSummary; readonly prior: DetectorPrior }> {
    const rows = await this.sql.all(
      version === undefined
        ? `SELECT ${COLUMNS}, document FROM detector_priors WHERE prior_key = ? ORDER BY version DESC LIMIT 1`
        : `SELECT ${COLUMNS}, document FROM detector_priors WHERE prior_key = ? AND version = ?`,
      version === undefined ? [key] : [key, version],
    );
    const row = rows[0];
    if (!row) throw new SwarmgateError('SWG_ERR_PRIOR_UNKNOWN', `no prior for ${key}${version === undefined ? '' : ` version ${version}`}`);
    return { summary: summaryOf(row), prior: JSON.parse(str(row, 'document')) as DetectorPrior };
  }
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
