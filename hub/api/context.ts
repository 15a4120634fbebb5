/**
 * What every API plugin reaches through `fastify.hub` (decorated once by buildApi): the hub's
 * services plus the API's own accounts, audit and guard. A plugin is `async (fastify, opts)`.
 */
import type { FastifyInstance, FastifyPluginOptions, FastifyReply, FastifyRequest, FastifyBaseLogger, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression } from 'fastify';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import type { ApiConfig } from '../config.js';
import type { CommandService } from '../commands/service.js';
import type { HubEvents } from '../events.js';
import type { GatewayRegistry } from '../registry/registry.js';
import type { GatewayRecord, HubStore } from '../store/types.js';
import type { FacilityIndex } from '../agents/facility.js';
import type { TrackRecordBook } from '../agents/learning/track-record.js';
import type { Domain } from '../agents/types.js';
import type { Sql } from '../db/sql.js';
import type { GatewayConfigService } from '../gateway-config/service.js';
import type { QuarantineService } from '../quarantine/service.js';
import type { IncidentService } from '../incidents/service.js';
import type { PriorService } from '../priors/service.js';
import type { PointIndex } from '../registry/points.js';
import type { WorkOrderService } from '../work-orders/service.js';
import type { EnrollmentService } from '../enrollment/service.js';
import type { LiveFeed } from '../live/feed.js';
import type { DeploymentService, ReleaseService } from '../releases/index.js';
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import type { Accounts, Principal } from './auth/accounts.js';
import type { LoginLimiter } from './auth/rate-limit.js';
import type { AuditLog } from './audit.js';
import type { LoginMetrics } from './metrics.js';
import type { ReviewPort } from './review-port.js';
import { ROUTES, type RouteId } from './routes.js';

/** What the API shows about the decision agents; any part may be missing. */
export interface AgentsView {
  readonly trackRecords?: TrackRecordBook;
  /** The registered agents (AgentRoster.all() fits). */
  readonly agents?: () => readonly { readonly id: string; readonly domain: Domain; readonly vetoAuthority: boolean }[];
  /** Needed to plan objectives. */
  readonly facility?: FacilityIndex;
}

/** The hub services the API serves; buildApi's deps and every plugin's context both carry them. */
export interface ApiServices {
  readonly store: HubStore;
  readonly commands: CommandService;
  readonly registry: GatewayRegistry;
  readonly events: HubEvents;
  readonly review?: ReviewPort;
  readonly agents?: AgentsView;
  /** The hub's Prometheus registry, served at /metrics. */
  readonly metrics?: Registry;
  /** What the live stream sends (with other hub processes' changes when they share a store); default: this process's. */
  readonly live?: LiveFeed;
}

export interface ApiContext extends ApiServices {
  readonly live: LiveFeed;
  readonly config: ApiConfig;
  readonly log: Logger;
  readonly accounts: Accounts;
  readonly audit: AuditLog;
  readonly limiter: LoginLimiter;
  /** Failed enrollments (per token and address), apart from the logins'. */
  readonly enrollLimiter: LoginLimiter;
  readonly loginMetrics: LoginMetrics;
  readonly webDir: string;
  /** SSE connections end when the API closes. */
  readonly closing: AbortSignal;
  /** Remote gateway configuration. */
  readonly configs: GatewayConfigService;
  /** Maintenance work orders. */
  readonly workOrders: WorkOrderService;
  /** Enrollment tokens and enrolled gateways. */
  readonly enrollment: EnrollmentService;
  /** Messages ingest refused. */
  readonly quarantine: QuarantineService;
  /** Anomaly events grouped into fleet and equipment incidents (the emergence monitor). */
  readonly incidents: IncidentService;
  /** Fleet detector priors per profile point key. */
  readonly priors: PriorService;
  /** Points by unit and Haystack tags, from the gateways' births. */
  readonly points: PointIndex;
  /** The store's SQL, for the API's own tables (plans). */
  readonly sql: Sql;
  /** Software releases and their deployments. */
  readonly releases: ReleaseService;
  readonly deployments: DeploymentService;
}

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** One API feature: a Fastify plugin `(fastify, opts)`; services come from `fastify.hub`. */
export type ApiPlugin<Options extends FastifyPluginOptions = Record<never, never>> = FastifyPluginAsyncTypebox<Options>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The hub's services and the API's own, decorated once on the root instance by buildApi. */
    readonly hub: ApiContext;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    routeId?: string;
  }
}

/** Method, url and route id of a table entry: `app.route({ ...at('reviews.list'), schema, handler })`. */
export function at<const K extends RouteId>(id: K): { method: (typeof ROUTES)[K]['method']; url: (typeof ROUTES)[K]['url']; config: { routeId: K } } {
  const spec = ROUTES[id];
  return { method: spec.method, url: spec.url, config: { routeId: id } };
}

/** The caller (the guard has run, so present on every non-public route). */
export function who(request: FastifyRequest): Principal {
  const p = request.principal;
  if (!p) throw new Error('route without a principal: the guard did not run');
  return p;
}

/** The gateway's record, or the coded 404 for a gateway this hub has never heard of. */
export async function knownGateway(ctx: ApiContext, gateway: string): Promise<GatewayRecord> {
  const g = await ctx.registry.get(gateway);
  if (!g) throw new SwarmgateError('SWG_ERR_GATEWAY_UNKNOWN', `gateway "${gateway}" is not known to this hub`, { details: { gateway } });
  return g;
}

/** Gateways as the API shows them: with `revoked` when their enrollment was revoked (not just offline). */
export async function withRevocations<G extends { gateway: string }>(ctx: ApiContext, gateways: readonly G[]): Promise<(G & { revoked?: { at: number; by: string } })[]> {
  const revoked = new Map<string, { at: number; by: string }>();
  for (const e of await ctx.enrollment.listGateways()) {
    if (e.revokedAt !== undefined) revoked.set(e.gateway, { at: e.revokedAt, by: e.revokedBy ?? 'unknown' });
  }
  return gateways.map((g) => {
    const r = revoked.get(g.gateway);
    return r ? { ...g, revoked: r } : g;
  });
}

/** Writes an audit record for the caller; audit failures are logged, never fail the request. */
export async function audited(ctx: ApiContext, request: FastifyRequest, action: string, target?: string, detail?: Record<string, unknown>): Promise<void> {
  const p = request.principal ?? { name: 'anonymous', via: 'none' };
  await ctx.audit.write(p, action, target, detail, request.ip).catch((err: unknown) => ctx.log.error({ err, action }, 'audit write failed'));
}

export type { FastifyReply };
