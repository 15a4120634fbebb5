/**
 * Live changes between hub processes sharing a PostgreSQL store: each process NOTIFYs its own
 * changes on one channel per schema and LISTENs for the others', so a browser connected to any
 * hub process sees what every process saw. NOTIFY payloads are limited to 8000 bytes: a review
 * item too large for one goes by reference and is read from the shared store by the receiver.
 * A lost LISTEN connection is opened again; changes relayed meanwhile are missed (the page reloads
 * its view when its stream reconnects).
 */
import pg from 'pg';
import { errorMessage } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import type { ReviewItem } from '../review/types.js';
import { LIVE_TOPICS, type GatewayBurst, type LiveFeed, type LiveTopic } from './feed.js';

const MAX_PAYLOAD = 7900;

interface Envelope {
  readonly o: string;
  readonly t: LiveTopic;
  readonly d?: unknown;
  /** A review item's id, when the item is too large for a notification. */
  readonly ref?: string;
}

export interface PgRelayOptions {
  readonly url: string;
  readonly schema: string;
  /** This process (its own notifications are ignored). */
  readonly origin: string;
  readonly feed: LiveFeed;
  /** NOTIFY through the store's pool. */
  readonly notify: (channel: string, payload: string) => Promise<void>;
  readonly review?: { get(id: string): Promise<ReviewItem | undefined> };
  readonly log: Logger;
}

export interface PgRelay {
  close(): Promise<void>;
}

function isEnvelope(v: unknown): v is Envelope {
  return typeof v === 'object' && v !== null && typeof (v as Envelope).o === 'string' && (LIVE_TOPICS as readonly string[]).includes((v as Envelope).t);
}

export async function startPgRelay(options: PgRelayOptions): Promise<PgRelay> {
  const { feed, log, origin } = options;
  const channel = `swarmgate_live_${options.schema}`;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const receive = async (payload: string | undefined): Promise<void> => {
    let msg: unknown;
    try {
      msg = JSON.parse(payload ?? '');
    } catch {
      return;
    }
    if (!isEnvelope(msg) || msg.o === origin) return;
    if (msg.ref !== undefined) {
      const item = await options.review?.get(msg.ref);
      if (item) feed.deliverRemote('review', item);
      return;
    }
    feed.deliverRemote(msg.t, msg.d);
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.url });
    c.on('notification', (n) => void receive(n.payload).catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'live relay: a relayed change could not be delivered')));
    c.on('error', (err) => {
      log.warn({ err: err.message }, 'live relay: LISTEN connection lost; reconnecting');
      c.end().catch(() => undefined);
      if (client === c) client = undefined;
      if (!closed) retry = setTimeout(() => void connect().catch(() => undefined), 1000);
    });
    await c.connect();
    await c.query(`LISTEN ${channel}`);
    client = c;
  };
  await connect();

  const offLocal = feed.onLocal((topic, data) => {
    let payload = JSON.stringify({ o: origin, t: topic, d: data } satisfies Envelope);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD && topic === 'gateways') {
      // A burst's summary with long ids or many sites: its totals still go (the page reloads its view).
      const { changes, byStatus, windowMs } = data as GatewayBurst;
      payload = JSON.stringify({ o: origin, t: topic, d: { changes, byStatus, sites: {}, gateways: [], windowMs } satisfies GatewayBurst } satisfies Envelope);
    }
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
      if (topic !== 'review') return log.debug({ topic, bytes: Buffer.byteLength(payload) }, 'live relay: change too large to relay');
      payload = JSON.stringify({ o: origin, t: topic, ref: (data as ReviewItem).id } satisfies Envelope);
    }
    options.notify(channel, payload).catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'live relay: NOTIFY failed'));
  });
  log.info({ channel }, 'live relay: changes shared with the other hub processes');

  return {
    close: async () => {
      closed = true;
      if (retry) clearTimeout(retry);
      offLocal();
      await client?.end().catch(() => undefined);
    },
  };
}
