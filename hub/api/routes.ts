/**
 * The route table: every route of the API with the roles allowed to call it. It is the single
 * source of truth for authorization: plugins register routes by id (`at(id)`), the guard reads
 * the access rule from here, and the role-matrix test iterates it.
 *
 * tokens: 'role' = an API token is judged by its role like a user; 'any' = any valid token
 * (e.g. a Prometheus scraper); 'none' = sessions only (account management, the live stream of
 * the page is fine for tokens).
 */
import type { Role } from './auth/accounts.js';

export type Access = { readonly roles: readonly Role[]; readonly tokens: 'role' | 'any' | 'none' } | 'public';

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly access: Access;
  readonly tag: string;
  readonly summary: string;
}

const ALL: readonly Role[] = ['viewer', 'technician', 'admin'];
const ACT: readonly Role[] = ['technician', 'admin'];
const ADMIN: readonly Role[] = ['admin'];
const read = { roles: ALL, tokens: 'role' } as const;
const act = { roles: ACT, tokens: 'role' } as const;
const admin = { roles: ADMIN, tokens: 'none' } as const;
/** Operating the hub (not account management): admins, by session or an admin API token. */
const operate = { roles: ADMIN, tokens: 'role' } as const;

export const ROUTES = {
  'web.page': { method: 'GET', url: '/', access: 'public', tag: 'web', summary: 'The review page' },
  'web.asset': { method: 'GET', url: '/assets/:file', access: 'public', tag: 'web', summary: 'Assets of the review page' },
  'health': { method: 'GET', url: '/api/v1/health', access: 'public', tag: 'system', summary: 'Liveness of the API' },
  'metrics': { method: 'GET', url: '/metrics', access: { roles: ADMIN, tokens: 'any' }, tag: 'system', summary: 'Prometheus metrics of the hub' },

  'auth.login': { method: 'POST', url: '/api/v1/auth/login', access: 'public', tag: 'auth', summary: 'Log in; sets the session cookie' },
  'auth.logout': { method: 'POST', url: '/api/v1/auth/logout', access: { roles: ALL, tokens: 'none' }, tag: 'auth', summary: 'End the session' },
  'auth.me': { method: 'GET', url: '/api/v1/auth/me', access: read, tag: 'auth', summary: 'Who is calling, with which role' },

  'gateways.list': { method: 'GET', url: '/api/v1/gateways', access: read, tag: 'fleet', summary: 'Gateways with status, health and last seen' },
  'gateways.get': { method: 'GET', url: '/api/v1/gateways/:gateway', access: read, tag: 'fleet', summary: 'One gateway: status, health, devices' },
  'gateways.gaps': { method: 'GET', url: '/api/v1/gateways/:gateway/gaps', access: read, tag: 'fleet', summary: "Where a gateway's outbox had to drop telemetry (full, or older than its limit during a long outage): batch seqs, readings dropped, time span, reason; newest first" },
  'gateways.config.get': { method: 'GET', url: '/api/v1/gateways/:gateway/config', access: read, tag: 'fleet', summary: "A gateway's desired and reported config documents" },
  'gateways.config.put': { method: 'PUT', url: '/api/v1/gateways/:gateway/config', access: { roles: ADMIN, tokens: 'role' }, tag: 'fleet', summary: 'Set the desired config of a gateway (published retained; the gateway validates, applies and restarts)' },
  'points.latest': { method: 'GET', url: '/api/v1/gateways/:gateway/points', access: read, tag: 'fleet', summary: 'Latest value of every point of a gateway' },
  'points.history': { method: 'GET', url: '/api/v1/gateways/:gateway/points/:device/:point/history', access: read, tag: 'fleet', summary: "A point's history, raw or downsampled by time bucket" },
  'points.find': { method: 'GET', url: '/api/v1/points', access: read, tag: 'fleet', summary: 'Points of every gateway carrying all the given Project Haystack markers (e.g. tags=discharge,air,temp), with unit and tags, paginated' },
  'events.list': { method: 'GET', url: '/api/v1/events', access: read, tag: 'fleet', summary: 'Gateway events, newest first' },

  'commands.list': { method: 'GET', url: '/api/v1/commands', access: read, tag: 'commands', summary: 'Commands, newest first' },
  'commands.create': { method: 'POST', url: '/api/v1/commands', access: act, tag: 'commands', summary: 'Send a command to a gateway' },
  'commands.get': { method: 'GET', url: '/api/v1/commands/:id', access: read, tag: 'commands', summary: 'A command and its status' },

  'reviews.list': { method: 'GET', url: '/api/v1/reviews', access: read, tag: 'review', summary: 'The review queue, highest priority first' },
  'reviews.get': { method: 'GET', url: '/api/v1/reviews/:id', access: read, tag: 'review', summary: 'A review item with its evidence' },
  'reviews.approve': { method: 'POST', url: '/api/v1/reviews/:id/approve', access: act, tag: 'review', summary: 'Approve: the action is sent to the gateway' },
  'reviews.reject': { method: 'POST', url: '/api/v1/reviews/:id/reject', access: act, tag: 'review', summary: 'Reject with a reason' },
  'reviews.modify': { method: 'POST', url: '/api/v1/reviews/:id/modify', access: act, tag: 'review', summary: 'Approve a modified action (e.g. another setpoint)' },
  'reviews.audit': { method: 'GET', url: '/api/v1/reviews/:id/audit', access: read, tag: 'review', summary: 'What happened to a review item' },

  'workOrders.list': { method: 'GET', url: '/api/v1/work-orders', access: read, tag: 'review', summary: 'Maintenance work orders from the agents, most urgent first (open by default)' },
  'workOrders.close': { method: 'POST', url: '/api/v1/work-orders/:id/close', access: act, tag: 'review', summary: 'Close a work order with a note of what was done' },

  'quarantine.list': { method: 'GET', url: '/api/v1/quarantine', access: operate, tag: 'quarantine', summary: 'Messages ingest refused and kept for inspection (invalid, implausible timestamps, refused by the store every time), newest first; one entry per gateway and message, with how often it was received' },
  'quarantine.summary': { method: 'GET', url: '/api/v1/quarantine/summary', access: operate, tag: 'quarantine', summary: 'How many messages are quarantined and how often they were received, with the receivedAt of the oldest and newest and the latest lastSeenAt' },
  'quarantine.get': { method: 'GET', url: '/api/v1/quarantine/:id', access: operate, tag: 'quarantine', summary: 'One quarantined message: payload as received and the error naming the field' },
  'quarantine.discard': { method: 'DELETE', url: '/api/v1/quarantine/:id', access: operate, tag: 'quarantine', summary: 'Discard an inspected quarantined message (audited)' },

  'incidents.list': { method: 'GET', url: '/api/v1/incidents', access: read, tag: 'incidents', summary: 'Incidents of the emergence monitor: anomaly events grouped as one fleet incident (many gateways, one cause: weather, grid, release) or one equipment incident (one gateway deviating from its peers), most recently active first; filter by state, kind, site' },
  'priors.list': { method: 'GET', url: '/api/v1/priors', access: read, tag: 'priors', summary: 'Detector priors gateways published: the newest version per profile point key, or of one key' },
  'priors.get': { method: 'GET', url: '/api/v1/priors/document', access: read, tag: 'priors', summary: 'One published detector prior (the newest of the key, or the version asked for): its summary and the document (shared/wire/detector-prior.ts)' },
  'priors.fleet': { method: 'GET', url: '/api/v1/priors/fleet', access: read, tag: 'priors', summary: 'Fleet priors: per key the prior served to gateways that use them (what a new point\'s detector starts from), chosen from the published ones, with each member\'s reason' },
  'priors.fleetDocument': { method: 'GET', url: '/api/v1/priors/fleet/document', access: read, tag: 'priors', summary: 'One fleet prior (the newest of the key, or the version asked for): its summary and the document' },
  'incidents.get': { method: 'GET', url: '/api/v1/incidents/:id', access: read, tag: 'incidents', summary: 'One incident with its cause hint and its member events (gateway, device, point, event id)' },

  'objectives.create': { method: 'POST', url: '/api/v1/objectives', access: act, tag: 'planning', summary: 'Plan an objective (e.g. cut energy 10% at a site)' },
  'plans.list': { method: 'GET', url: '/api/v1/plans', access: read, tag: 'planning', summary: 'Plans, newest first' },
  'plans.get': { method: 'GET', url: '/api/v1/plans/:id', access: read, tag: 'planning', summary: 'A plan with steps, timeline and risks' },
  'plans.status': { method: 'POST', url: '/api/v1/plans/:id/status', access: { roles: ADMIN, tokens: 'role' }, tag: 'planning', summary: 'Approve or cancel a plan' },

  'agents.list': { method: 'GET', url: '/api/v1/agents', access: read, tag: 'agents', summary: 'Decision agents with track records and consensus weights' },

  'enroll': { method: 'POST', url: '/api/v1/enroll', access: 'public', tag: 'enrollment', summary: 'A gateway enrolls with a one-time token and its public key; answers its identity, broker credentials and first config (the token is the credential; failures are rate-limited per address)' },
  'enrollment.tokens.list': { method: 'GET', url: '/api/v1/enrollment/tokens', access: operate, tag: 'enrollment', summary: 'Enrollment tokens with their state (active, used, expired, revoked), never their secrets' },
  'enrollment.tokens.create': { method: 'POST', url: '/api/v1/enrollment/tokens', access: operate, tag: 'enrollment', summary: 'Create one-time enrollment tokens for a site (optionally one bound gateway id); each token is shown once, with its claim URI and QR code' },
  'enrollment.tokens.revoke': { method: 'DELETE', url: '/api/v1/enrollment/tokens/:id', access: operate, tag: 'enrollment', summary: 'Revoke an unused enrollment token' },
  'enrollment.gateways.list': { method: 'GET', url: '/api/v1/enrollment/gateways', access: operate, tag: 'enrollment', summary: 'Enrolled gateways with their key fingerprint and whether they are revoked' },
  'enrollment.gateways.revoke': { method: 'POST', url: '/api/v1/enrollment/gateways/:gateway/revoke', access: operate, tag: 'enrollment', summary: "Revoke a gateway: its broker user is removed and its connection ends at once" },

  'users.list': { method: 'GET', url: '/api/v1/users', access: admin, tag: 'admin', summary: 'Users' },
  'users.create': { method: 'POST', url: '/api/v1/users', access: admin, tag: 'admin', summary: 'Add a user' },
  'users.update': { method: 'PATCH', url: '/api/v1/users/:username', access: admin, tag: 'admin', summary: 'Change role, password or disable' },
  'users.delete': { method: 'DELETE', url: '/api/v1/users/:username', access: admin, tag: 'admin', summary: 'Remove a user' },
  'tokens.list': { method: 'GET', url: '/api/v1/tokens', access: admin, tag: 'admin', summary: 'API tokens (without secrets)' },
  'tokens.create': { method: 'POST', url: '/api/v1/tokens', access: admin, tag: 'admin', summary: 'Create an API token; the secret is shown once' },
  'tokens.revoke': { method: 'DELETE', url: '/api/v1/tokens/:id', access: admin, tag: 'admin', summary: 'Revoke an API token' },
  'logins.limits': { method: 'GET', url: '/api/v1/login-limits', access: admin, tag: 'admin', summary: 'Login limits holding now (user name, address, or both) with their failures and wait' },
  'logins.unlock': { method: 'POST', url: '/api/v1/login-limits/unlock', access: admin, tag: 'admin', summary: 'Lift the login limits of a user name and/or an address' },
  'audit.list': { method: 'GET', url: '/api/v1/audit', access: operate, tag: 'admin', summary: 'Who did what, newest first (admins, by session or an admin API token: a SIEM export)' },

  'releases.list': { method: 'GET', url: '/api/v1/releases', access: read, tag: 'releases', summary: 'Software releases this hub holds, newest first' },
  'releases.create': { method: 'POST', url: '/api/v1/releases', access: operate, tag: 'releases', summary: 'Add a release by its signed manifest (verified with the fleet key); then upload its artifact' },
  'releases.upload': { method: 'PUT', url: '/api/v1/releases/:version/artifact', access: operate, tag: 'releases', summary: "Upload a release's tarball (application/octet-stream); kept only when size and sha256 match the manifest" },
  'releases.download': { method: 'GET', url: '/api/v1/releases/:version/artifact', access: 'public', tag: 'releases', summary: "A release's tarball for a gateway (Bearer: the download token its deployment gave it); Range supported" },
  'deployments.list': { method: 'GET', url: '/api/v1/deployments', access: read, tag: 'releases', summary: 'Deployments with per-gateway progress, newest first' },
  'deployments.create': { method: 'POST', url: '/api/v1/deployments', access: operate, tag: 'releases', summary: 'Deploy a release to a site, a list of gateways or a percentage of the fleet, canary first, halting on failures' },
  'deployments.get': { method: 'GET', url: '/api/v1/deployments/:id', access: read, tag: 'releases', summary: "A deployment and each gateway's update progress" },
  'deployments.cancel': { method: 'POST', url: '/api/v1/deployments/:id/cancel', access: operate, tag: 'releases', summary: 'Cancel the gateways of a deployment not updating yet (their retained desired update is cleared); gateways already updating finish' },

  'stream': { method: 'GET', url: '/api/v1/stream', access: read, tag: 'live', summary: 'Server-Sent Events: review changes, gateway status, events, commands, incidents' },
} as const satisfies Record<string, RouteSpec>;

export type RouteId = keyof typeof ROUTES;

/** Routes registered by plugins we do not own (interactive docs); they are public. */
export const PUBLIC_PREFIXES = ['/docs'] as const;

export type Verdict = 'ok' | 'unauthenticated' | 'forbidden';

export function judge(access: Access, principal: { via: 'session' | 'token'; role: Role } | undefined): Verdict {
  if (access === 'public') return 'ok';
  if (!principal) return 'unauthenticated';
  if (principal.via === 'token') {
    if (access.tokens === 'any') return 'ok';
    if (access.tokens === 'none') return 'forbidden';
  }
  return access.roles.includes(principal.role) ? 'ok' : 'forbidden';
}
