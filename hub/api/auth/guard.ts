/**
 * Authentication (session cookie or bearer token) for every request, and authorization per route
 * from the route table. Authorization runs in onRequest, before body validation, so a caller
 * without the role learns nothing about the route's schema. Every route must come from the table
 * (or a public docs prefix): an unlisted route fails at startup rather than going unguarded.
 */
import type { FastifyReply, FastifyRequest, RouteOptions, onRequestHookHandler } from 'fastify';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { Api, ApiContext } from '../context.js';
import { errorBody } from '../errors.js';
import { PUBLIC_PREFIXES, ROUTES, judge, type RouteId } from '../routes.js';

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    try {
      out.set(name, decodeURIComponent(raw));
    } catch {
      // A malformed cookie is ignored like a missing one.
    }
  }
  return out;
}

export function sessionCookie(ctx: ApiContext, request: FastifyRequest, value: string, maxAgeS: number): string {
  const mode = ctx.config.session.secureCookie;
  const secure = mode === 'always' || (mode === 'auto' && (ctx.config.tls !== undefined || request.protocol === 'https'));
  return `${ctx.config.session.cookieName}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

async function authenticate(ctx: ApiContext, request: FastifyRequest): Promise<void> {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const principal = m?.[1] ? await ctx.accounts.token(m[1]) : undefined;
    // A wrong token is an error even on routes a session could use: integrations must notice.
    if (!principal) throw new SwarmgateError('SWG_ERR_AUTH_REQUIRED', 'the bearer token is unknown, revoked or malformed');
    request.principal = principal;
    return;
  }
  const sid = parseCookies(request.headers.cookie).get(ctx.config.session.cookieName);
  if (sid) request.principal = await ctx.accounts.session(sid);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why a request riding on a session cookie that changes something comes from another site, if
 * it does. SameSite=Strict keeps the cookie from other sites, but a "site" is the registrable
 * domain without the port: a page on another port of the hub's host (a dashboard beside it) or on
 * a sibling subdomain still sends it, and could approve a review item, which commands equipment.
 * Browsers say where a request comes from (Sec-Fetch-Site, Origin); the hub's own page is
 * same-origin. Clients that send neither (curl, scripts) are not browsers and are let through.
 */
function crossSite(request: FastifyRequest): string | undefined {
  if (SAFE_METHODS.has(request.method)) return undefined;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = request.headers.origin;
  if (typeof origin !== 'string') return undefined;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  return host !== undefined && host === request.headers.host ? undefined : `Origin: ${origin.slice(0, 200)}`;
}

function authorizer(ctx: ApiContext, id: RouteId): onRequestHookHandler {
  const access = ROUTES[id].access;
  return function authorize(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    if (access === 'public') return done();
    authenticate(ctx, request).then(
      () => {
        const foreign = request.principal?.via === 'session' ? crossSite(request) : undefined;
        if (foreign !== undefined) {
          void reply.status(403).send(errorBody('SWG_ERR_AUTH_FORBIDDEN', `${id} refused: a request with the session cookie from another site (${foreign}); use the hub's own page, or an API token for integrations`));
          return;
        }
        const verdict = judge(access, request.principal);
        if (verdict === 'ok') return done();
        if (verdict === 'unauthenticated') {
          void reply.status(401).send(errorBody('SWG_ERR_AUTH_REQUIRED', 'log in or send an API token'));
          return;
        }
        // An admin's API token on a route kept for sessions (accounts, tokens): the role is right, the means is not.
        const sessionOnly = request.principal?.via === 'token' && typeof access === 'object' && access.tokens === 'none' && access.roles.includes(request.principal.role);
        const message = sessionOnly
          ? `${id} is for a logged-in session only, not an API token (account and token management); log in as an admin`
          : `role ${request.principal?.role ?? '?'}${request.principal?.via === 'token' ? ' (API token)' : ''} may not call ${id}`;
        void reply.status(403).send(errorBody('SWG_ERR_AUTH_FORBIDDEN', message, undefined, sessionOnly ? 'POST /api/v1/auth/login with an admin account, then call it with the session cookie' : undefined));
      },
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  };
}

/** Must be registered before any route: guards table routes, refuses routes missing from the table. */
export function installGuard(app: Api, ctx: ApiContext): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const id = route.config?.routeId as RouteId | undefined;
    if (id === undefined) {
      if (PUBLIC_PREFIXES.some((p) => route.url.startsWith(p))) return;
      throw new SwarmgateError('SWG_ERR_INTERNAL', `route ${route.method} ${route.url} is not in the route table (hub/api/routes.ts)`);
    }
    const spec = ROUTES[id];
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (route.url !== spec.url || !(methods.includes(spec.method) || methods.includes('HEAD'))) {
      throw new SwarmgateError('SWG_ERR_INTERNAL', `route ${id} is registered as ${methods.join(',')} ${route.url}, the table says ${spec.method} ${spec.url}`);
    }
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [authorizer(ctx, id), ...existing];
    route.schema = {
      ...route.schema,
      tags: [spec.tag],
      summary: spec.summary,
      ...(spec.access === 'public' ? {} : { security: spec.access.tokens === 'none' ? [{ session: [] }] : [{ session: [] }, { bearer: [] }] }),
    };
  });
}
