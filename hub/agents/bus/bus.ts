/**
 * In-process agent bus: typed messages routed direct (one agent), multicast (a named group or a
 * list) or broadcast (everyone but the sender). Every message is validated and recorded for audit
 * with its actual recipients; a failing handler never stops delivery to the others.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage, SwarmgateError } from '../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import type { AuditSink } from './audit.js';
import { busMessageCheck, type BusMessage, type BusMessageOf, type BusMessageType, type PayloadOf, type Route } from './messages.js';

export type BusHandler = (message: BusMessage) => void | Promise<void>;

export interface Delivery {
  readonly message: BusMessage;
  readonly recipients: readonly string[];
  readonly failures: ReadonlyArray<{ readonly agent: string; readonly error: string }>;
}

export interface AgentBusOptions {
  readonly audit?: AuditSink;
  readonly clock?: () => number;
  readonly log?: Logger;
}

interface Subscription {
  readonly handler: BusHandler;
  readonly types?: ReadonlySet<BusMessageType>;
}

export class AgentBus {
  private readonly subscribers = new Map<string, Subscription>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly audit: AuditSink | undefined;
  private readonly clock: () => number;
  private readonly log: Logger;
  private seq = 0;

  constructor(options: AgentBusOptions = {}) {
    this.audit = options.audit;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? createLogger('hub.agents.bus');
  }

  /** One handler per agent; `types` limits what it receives (undefined: everything routed to it). */
  subscribe(agent: string, handler: BusHandler, types?: readonly BusMessageType[]): () => void {
    if (this.subscribers.has(agent)) {
      throw new SwarmgateError('SWG_ERR_INTERNAL', `agent "${agent}" is already subscribed to the bus; unsubscribe first`);
    }
    this.subscribers.set(agent, { handler, ...(types ? { types: new Set(types) } : {}) });
    return () => {
      this.subscribers.delete(agent);
      for (const members of this.groups.values()) members.delete(agent);
    };
  }

  join(group: string, agent: string): void {
    const members = this.groups.get(group) ?? new Set<string>();
    members.add(agent);
    this.groups.set(group, members);
  }

  leave(group: string, agent: string): void {
    this.groups.get(group)?.delete(agent);
  }

  members(group: string): string[] {
    return [...(this.groups.get(group) ?? [])];
  }

  /** Builds, validates, routes and audits a message. */
  send<K extends BusMessageType>(
    type: K,
    from: string,
    route: Route,
    payload: PayloadOf<K>,
    extra: { readonly correlationId?: string; readonly id?: string } = {},
  ): Promise<Delivery> {
    const message = {
      id: extra.id ?? randomUUID(),
      type,
      from,
      route,
      ts: this.clock(),
      ...(extra.correlationId === undefined ? {} : { correlationId: extra.correlationId }),
      payload,
    } as unknown as BusMessageOf<K>;
    return this.publish(message);
  }

  direct<K extends BusMessageType>(type: K, from: string, to: string, payload: PayloadOf<K>, correlationId?: string): Promise<Delivery> {
    return this.send(type, from, { mode: 'direct', to }, payload, correlationId === undefined ? {} : { correlationId });
  }

  multicast<K extends BusMessageType>(
    type: K,
    from: string,
    target: { readonly group?: string; readonly to?: readonly string[] },
    payload: PayloadOf<K>,
    correlationId?: string,
  ): Promise<Delivery> {
    const route: Route = { mode: 'multicast', ...(target.group === undefined ? {} : { group: target.group }), ...(target.to === undefined ? {} : { to: [...target.to] }) };
    return this.send(type, from, route, payload, correlationId === undefined ? {} : { correlationId });
  }

  broadcast<K extends BusMessageType>(type: K, from: string, payload: PayloadOf<K>, correlationId?: string): Promise<Delivery> {
    return this.send(type, from, { mode: 'broadcast' }, payload, correlationId === undefined ? {} : { correlationId });
  }

  /** Routes an already built message (validated first: a malformed message is a programming error). */
  async publish(message: BusMessage): Promise<Delivery> {
    if (!busMessageCheck.Check(message)) {
      const first = [...busMessageCheck.Errors(message)][0];
      throw new SwarmgateError('SWG_ERR_INTERNAL', `invalid bus message: ${first ? `${first.path || '/'} ${first.message}` : 'schema mismatch'}`);
    }
    const recipients = this.resolve(message);
    const failures: Array<{ agent: string; error: string }> = [];
    const pending: Array<Promise<void>> = [];
    for (const agent of recipients) {
      const sub = this.subscribers.get(agent);
      if (!sub) continue;
      try {
        const r = sub.handler(message);
        if (r) pending.push(r.catch((err: unknown) => void failures.push({ agent, error: errorMessage(err) })));
      } catch (err) {
        failures.push({ agent, error: errorMessage(err) });
      }
    }
    if (pending.length > 0) await Promise.all(pending);
    for (const f of failures) this.log.warn({ agent: f.agent, type: message.type, id: message.id, err: f.error }, 'bus handler failed');
    if (recipients.length === 0) this.log.debug({ type: message.type, id: message.id, route: message.route }, 'bus message had no recipient');
    this.seq += 1;
    this.audit?.record({ seq: this.seq, message, recipients, failures, recordedAt: this.clock() });
    return { message, recipients, failures };
  }

  private resolve(message: BusMessage): string[] {
    const route = message.route;
    let candidates: Iterable<string>;
    if (route.mode === 'direct') candidates = [route.to];
    else if (route.mode === 'broadcast') candidates = this.subscribers.keys();
    else candidates = new Set([...(route.group ? (this.groups.get(route.group) ?? []) : []), ...(route.to ?? [])]);
    const out: string[] = [];
    for (const agent of candidates) {
      if (agent === message.from && route.mode !== 'direct') continue;
      const sub = this.subscribers.get(agent);
      if (!sub || (sub.types && !sub.types.has(message.type))) continue;
      out.push(agent);
    }
    return out;
  }
}
