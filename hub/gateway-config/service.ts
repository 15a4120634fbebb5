/**
 * Remote gateway configuration, hub side: keeps the desired and the last reported ConfigDocument
 * per gateway and publishes a new desired document retained (QoS 1) on the gateway's
 * config/desired topic, so a gateway that is offline gets it on its next connect.
 * Versions count up per gateway: each push is numbered above both the last desired version and
 * the last version the gateway reported (a hub whose store was rebuilt or restored must not number
 * from 1 again: the gateway applies only a version newer than its own and refuses older ones).
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import { MAX_PAYLOAD_BYTES } from '../../shared/wire/codec.js';
import type { DesiredGatewayConfig } from '../../shared/wire/desired-config.js';
import { ConfigDocumentSchema, encode, gatewayTopic, type ConfigDocument } from '../../shared/wire/index.js';
import { num, str, type Sql } from '../db/sql.js';

export type ConfigPublish = (topic: string, payload: Buffer) => Promise<void>;

export interface GatewayConfigView {
  readonly desired?: ConfigDocument;
  readonly reported?: ConfigDocument;
}

export interface GatewayConfigServiceOptions {
  readonly sql: Sql;
  /** Publishes retained, QoS 1; rejects when the hub is not connected. */
  readonly publish?: ConfigPublish;
  readonly clock?: () => number;
}

type Kind = 'desired' | 'reported';

function invalid(message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_API_VALIDATION', message);
}

export class GatewayConfigService {
  private readonly clock: () => number;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: GatewayConfigServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async get(gateway: string): Promise<GatewayConfigView> {
    const rows = await this.options.sql.all('SELECT kind, doc FROM gateway_config WHERE gateway = ?', [gateway]);
    const view: { desired?: ConfigDocument; reported?: ConfigDocument } = {};
    for (const row of rows) {
      const kind = str(row, 'kind');
      if (kind === 'desired' || kind === 'reported') view[kind] = JSON.parse(str(row, 'doc')) as ConfigDocument;
    }
    return view;
  }

  /**
   * Stores the next desired version and publishes it. Calls are serialised so two concurrent
   * PUTs get distinct versions. The row is written before the publish: a failed publish leaves
   * the desired document stored, and the next PUT supersedes it.
   */
  setDesired(site: string, gateway: string, config: DesiredGatewayConfig): Promise<ConfigDocument> {
    const run = this.writing.then(async () => {
      const publish = this.options.publish;
      if (!publish) throw new SwarmgateError('SWG_ERR_HUB_BROKER', 'this hub has no MQTT connection to publish gateway configs; start the API through startHub');
      // The gateway would refuse these: say so now rather than store and publish them.
      if (config.gateway.id !== gateway) throw invalid(`config.gateway.id is "${config.gateway.id}" but this is gateway "${gateway}"; a gateway's id cannot be changed remotely`);
      if (config.gateway.site !== site) throw invalid(`config.gateway.site is "${config.gateway.site}" but gateway "${gateway}" is at site "${site}"; a gateway's site cannot be changed remotely`);
      const doc: ConfigDocument = { v: 1, version: (await this.lastVersion(gateway)) + 1, ts: this.clock(), config };
      const payload = encode(ConfigDocumentSchema, doc);
      // A larger document would be refused by every gateway's decoder and never be reported on.
      if (payload.byteLength > MAX_PAYLOAD_BYTES) throw invalid(`the config document is ${payload.byteLength} bytes and exceeds the ${MAX_PAYLOAD_BYTES / 1024} KiB limit of one MQTT message`);
      await this.upsert(site, gateway, 'desired', doc);
      await publish(gatewayTopic(site, gateway, 'config/desired'), payload);
      return doc;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Stores what a gateway reported (ingest calls this for 'config/reported'). */
  async recordReported(site: string, gateway: string, doc: ConfigDocument): Promise<void> {
    await this.upsert(site, gateway, 'reported', doc);
  }

  /**
   * The highest version known for a gateway: the last desired one, the last reported one, and the
   * version the gateway says it runs when it refused an older push (`applied` in its report).
   */
  private async lastVersion(gateway: string): Promise<number> {
    const rows = await this.options.sql.all('SELECT kind, version, doc FROM gateway_config WHERE gateway = ?', [gateway]);
    let last = 0;
    for (const row of rows) {
      const kind = str(row, 'kind');
      if (kind !== 'desired' && kind !== 'reported') continue;
      last = Math.max(last, num(row, 'version'));
      if (kind === 'reported') last = Math.max(last, reportedApplied(str(row, 'doc')));
    }
    return last;
  }

  private async upsert(site: string, gateway: string, kind: Kind, doc: ConfigDocument): Promise<void> {
    await this.options.sql.all(
      'INSERT INTO gateway_config (gateway, kind, site, version, doc, updated_at) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (gateway, kind) DO UPDATE SET site = excluded.site, version = excluded.version, doc = excluded.doc, updated_at = excluded.updated_at',
      [gateway, kind, site, doc.version, JSON.stringify(doc), this.clock()],
    );
  }
}

/** The `applied` version a reported document carries (a refusal of an older push), else 0. */
function reportedApplied(doc: string): number {
  try {
    const applied: unknown = (JSON.parse(doc) as { config?: { applied?: unknown } }).config?.applied;
    return typeof applied === 'number' && Number.isSafeInteger(applied) && applied > 0 ? applied : 0;
  } catch {
    return 0;
  }
}
