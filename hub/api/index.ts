/**
 * The hub's web API and review page. `buildApi` assembles the Fastify app without listening
 * (tests use app.inject); `startApi` listens and returns the URL. One plugin per feature; every
 * route comes from the route table (routes.ts), which decides who may call it.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import Fastify, { LogController } from 'fastify';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Value } from '@sinclair/typebox/value';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import { packageVersion } from '../../shared/kit/package-info.js';
import { ApiConfigSchema, type ApiConfig } from '../config.js';
import { Accounts } from './auth/accounts.js';
import { installGuard } from './auth/guard.js';
import { LoginLimiter } from './auth/rate-limit.js';
import { AuditLog } from './audit.js';
import type { Api, ApiContext, ApiServices } from './context.js';
import { sqlFor } from '../db/sql.js';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { errorBody, makeErrorHandler } from './errors.js';
import { installApiMetrics, loginMetrics } from './metrics.js';
import { typeboxValidator } from './validation.js';
import { adminPlugin } from './plugins/admin.js';
import { authPlugin } from './plugins/auth.js';
import { commandsPlugin } from './plugins/commands.js';
import { fleetPlugin } from './plugins/fleet.js';
import { gatewayConfigPlugin } from './plugins/gateway-config.js';
import { GatewayConfigService } from '../gateway-config/service.js';
import { WorkOrderService } from '../work-orders/service.js';
import { EnrollmentService } from '../enrollment/service.js';
import { LiveFeed } from '../live/feed.js';
import { QuarantineService } from '../quarantine/service.js';
import { PriorService } from '../priors/service.js';
import { IncidentService } from '../incidents/service.js';
import { PointIndex } from '../registry/points.js';
import { planningPlugin } from './plugins/planning.js';
import { releasesPlugin } from './plugins/releases.js';
import { DeploymentService, ReleaseService } from '../releases/index.js';
import { reviewPlugin } from './plugins/review.js';
import { workOrdersPlugin } from './plugins/work-orders.js';
import { enrollmentPlugin } from './plugins/enrollment.js';
import { quarantinePlugin } from './plugins/quarantine.js';
import { incidentsPlugin } from './plugins/incidents.js';
import { priorsPlugin } from './plugins/priors.js';
import { pointsPlugin } from './plugins/points.js';
import { streamPlugin } from './plugins/stream.js';
import { systemPlugin } from './plugins/system.js';
import { defaultWebDir, webPlugin } from './plugins/web.js';

export interface ApiDeps extends ApiServices {
  /** The api section of the hub config (defaults filled in for missing fields). */
  readonly config?: Partial<ApiConfig>;
  readonly logger?: Logger;
  /** Where the built page is (default hub/web/dist). */
  readonly webDir?: string;
  /** scrypt cost for password hashes (tests lower it). */
  readonly scryptCost?: { N: number; r: number; p: number };
  /** SSE keep-alive interval (default 15 s). */
  readonly heartbeatMs?: number;
  /** Remote gateway configuration (startHub passes one that publishes); default: read-only, PUT answers 503. */
  readonly configs?: GatewayConfigService;
  /** Maintenance work orders; default: one on the API's store. */
  readonly workOrders?: WorkOrderService;
  /** Enrollment tokens and enrolled gateways (the hub's, which may enroll; else one that only lists and makes tokens). */
  readonly enrollment?: EnrollmentService;
  /** Messages ingest refused (startHub passes the hub's); default: one on the API's store. */
  readonly quarantine?: QuarantineService;
  /** The emergence monitor's incidents (startHub passes the hub's); default: one reading the API's store. */
  readonly incidents?: IncidentService;
  /** The point index the registry fills from births (startHub passes the hub's); default: one on the API's store. */
  readonly points?: PointIndex;
  /** Releases and deployments (startHub passes the hub's, which publish); default: on the API's store, without artifacts or MQTT. */
  readonly releases?: ReleaseService;
  readonly deployments?: DeploymentService;
}

export function apiConfig(input: Partial<ApiConfig> = {}): ApiConfig {
  return Value.Default(ApiConfigSchema, structuredClone(input)) as ApiConfig;
}

/** The API's certificate and key, read and loaded with errors naming the field (api.tls.certFile, api.tls.keyFile), not a bare ENOENT or OpenSSL's "no start line". */
function tlsOptions(tls: { certFile: string; keyFile: string }): { key: Buffer; cert: Buffer } {
  const readField = (field: 'certFile' | 'keyFile', what: string): Buffer => {
    try {
      return readFileSync(tls[field]);
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `api.tls.${field}: cannot read ${tls[field]} (${what}): ${errorMessage(err)}`, { cause: err });
    }
  };
  const cert = readField('certFile', 'the PEM certificate chain');
  const key = readField('keyFile', 'the PEM private key');
  try {
    createSecureContext({ key, cert });
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `api.tls: certFile ${tls.certFile} and keyFile ${tls.keyFile} do not load as a certificate chain and its private key (${errorMessage(err)}); certFile must hold the PEM certificate chain, keyFile the PEM private key`, { cause: err });
  }
  return { key, cert };
}

export async function buildApi(deps: ApiDeps): Promise<Api> {
  const config = apiConfig(deps.config);
  const log = deps.logger ?? createLogger('hub-api');
  const sql = sqlFor(deps.store);
  const closing = new AbortController();
  const https = config.tls ? tlsOptions(config.tls) : null;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    // Shutdown does not wait for idle keep-alive sockets of browsers and integrations.
    forceCloseConnections: true,
    bodyLimit: 256 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;

  const releases = deps.releases ?? new ReleaseService({ sql });
  // The stream's feed: the caller's (startHub: with the other hub processes' changes), else this process's own.
  // Without the hub's monitor (tests, tools): incidents are read from the store, nothing groups new events.
  const incidents = deps.incidents ?? (await IncidentService.open({ sql, points: deps.points ?? new PointIndex(sql), sweepEveryMs: 0 }));
  const ownFeed = deps.live ? undefined : new LiveFeed({ events: deps.events, incidents, ...(deps.review ? { review: deps.review } : {}) });
  if (ownFeed) app.addHook('onClose', async () => ownFeed.close());
  const ctx: ApiContext = {
    releases,
    deployments: deps.deployments ?? new DeploymentService({ sql, releases, gateways: () => deps.registry.list(), baseUrl: () => undefined, log, events: deps.events }),
    configs: deps.configs ?? new GatewayConfigService({ sql }),
    workOrders: deps.workOrders ?? new WorkOrderService(sql),
    enrollment: deps.enrollment ?? new EnrollmentService({ sql }),
    live: deps.live ?? (ownFeed as LiveFeed),
    quarantine: deps.quarantine ?? new QuarantineService(sql),
    incidents,
    priors: new PriorService(sql),
    points: deps.points ?? new PointIndex(sql),
    sql,
    store: deps.store,
    commands: deps.commands,
    registry: deps.registry,
    events: deps.events,
    review: deps.review,
    agents: deps.agents,
    metrics: deps.metrics,
    config,
    log,
    accounts: new Accounts(sql, { sessionTtlMs: config.session.ttlHours * 3_600_000, scryptCost: deps.scryptCost, logger: log }),
    audit: new AuditLog(sql),
    limiter: loginLimiter(config.loginRateLimit),
    enrollLimiter: loginLimiter(config.loginRateLimit),
    loginMetrics: loginMetrics(deps.metrics),
    webDir: deps.webDir ?? defaultWebDir(),
    closing: closing.signal,
  };

  await ensureInitialAdmin(ctx);
  // TypeBox validates requests (every problem reported per field, unknown fields refused).
  app.setValidatorCompiler(typeboxValidator);
  app.setErrorHandler(makeErrorHandler(log));
  app.setNotFoundHandler((request, reply) => reply.status(404).send(errorBody('SWG_ERR_API_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)));
  // preClose: open SSE streams must end before the server can finish closing.
  app.addHook('preClose', async () => closing.abort());
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  if (config.corsOrigins.length > 0) installCors(app, config.corsOrigins);
  if (deps.metrics) installApiMetrics(app, deps.metrics);

  // JSON responses (review lists, history) gzip for technicians on cellular links; the page's own
  // assets come pre-compressed and SSE streams are hijacked, so neither goes through this.
  await app.register(compress, { encodings: ['gzip', 'deflate'], threshold: 1024 });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Swarmgate hub API', version: packageVersion(), description: 'Gateways, telemetry, commands, the technicians\' review queue, planning and agents. Errors: { error: { code, message, hint, fields? } }.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: config.session.cookieName, description: 'set by POST /api/v1/auth/login' },
          bearer: { type: 'http', scheme: 'bearer', description: 'API token from POST /api/v1/tokens' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
  installGuard(app, ctx);

  // One line per feature: each is a Fastify plugin (encapsulated scope) reading services from app.hub.
  app.decorate('hub', ctx);
  await app.register(systemPlugin);
  await app.register(authPlugin);
  await app.register(fleetPlugin);
  await app.register(commandsPlugin);
  await app.register(gatewayConfigPlugin);
  await app.register(releasesPlugin);
  await app.register(reviewPlugin);
  await app.register(workOrdersPlugin);
  await app.register(enrollmentPlugin);
  await app.register(quarantinePlugin);
  await app.register(incidentsPlugin);
  await app.register(priorsPlugin);
  await app.register(pointsPlugin);
  await app.register(planningPlugin);
  await app.register(adminPlugin);
  await app.register(streamPlugin, { heartbeatMs: deps.heartbeatMs });
  await app.register(webPlugin);
  await app.ready();
  return app;
}

export interface RunningApi {
  readonly app: Api;
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startApi(deps: ApiDeps): Promise<RunningApi> {
  const app = await buildApi(deps);
  const config = apiConfig(deps.config);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  app.log.info({ url }, 'web API listening');
  return { app, url, port, close: () => app.close() };
}

function loginLimiter(c: ApiConfig['loginRateLimit']): LoginLimiter {
  return new LoginLimiter({
    userAddress: { max: c.max, windowMs: c.windowS * 1000 },
    user: { max: c.perUser.max, windowMs: c.perUser.windowS * 1000 },
    address: { max: c.perAddress.max, windowMs: c.perAddress.windowS * 1000 },
    trustMs: c.trustDays * 86_400_000,
  });
}

/** With no users at all, creates the first admin from the configured environment variable. */
async function ensureInitialAdmin(ctx: ApiContext): Promise<void> {
  const { username, passwordEnv } = ctx.config.initialAdmin;
  if ((await ctx.accounts.userCount()) > 0) return;
  const password = process.env[passwordEnv];
  if (!password) {
    ctx.log.warn({ env: passwordEnv }, `the web API has no users; set ${passwordEnv} to create the first admin "${username}"`);
    return;
  }
  if (password.length < 10) {
    ctx.log.error({ env: passwordEnv }, `${passwordEnv} is shorter than 10 characters; no admin was created`);
    return;
  }
  try {
    await ctx.accounts.createUser(username, 'admin', password);
  } catch (err) {
    // Hub processes started together on one empty database: another one created it first.
    if (isSwarmgateError(err, 'SWG_ERR_USER_EXISTS') && (await ctx.accounts.getUser(username))?.role === 'admin') {
      ctx.log.info({ username }, 'initial admin created by another hub process');
      return;
    }
    throw err;
  }
  await ctx.audit.write({ name: 'system', via: 'config' }, 'user.create', username, { role: 'admin', from: passwordEnv });
  ctx.log.info({ username }, 'initial admin created');
}

/** CORS for the configured origins only (off by default); credentials allowed for those. */
function installCors(app: Api, origins: readonly string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (!origin || !origins.includes(origin)) return;
    void reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true').header('vary', 'origin');
    if (request.method === 'OPTIONS') {
      void reply
        .header('access-control-allow-methods', 'GET, POST, PATCH, DELETE')
        .header('access-control-allow-headers', 'content-type, authorization')
        .status(204)
        .send();
    }
  });
}

export { ROUTES, judge, type RouteId, type RouteSpec, type Access } from './routes.js';
export { ROLES, type Role, type Principal, Accounts } from './auth/accounts.js';
export type { AgentsView, ApiContext, ApiServices, Api } from './context.js';
export type { ReviewPort, ReviewItemView, ReviewState, ReviewFilter } from './review-port.js';
export { API_MIGRATIONS } from './migrations.js';
