/** Request counts and latencies of the API, by route id and status class, and login failures and refusals, in the hub's registry. */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Api } from './context.js';
import type { LimitKind } from './auth/rate-limit.js';

function metric<T>(registry: Registry, name: string, make: () => T): T {
  // Several API instances may share one registry (tests, restarts): reuse what is there.
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function installApiMetrics(app: Api, registry: Registry): void {
  const requests = metric(registry, 'swarmgate_api_requests_total', () => new Counter({ name: 'swarmgate_api_requests_total', help: 'API requests by route and status class', labelNames: ['route', 'status'] as const, registers: [registry] }));
  const seconds = metric(
    registry,
    'swarmgate_api_request_seconds',
    () => new Histogram({ name: 'swarmgate_api_request_seconds', help: 'API request latency by route', labelNames: ['route'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  );
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.config.routeId ?? (request.url.startsWith('/docs') ? 'docs' : 'unmatched');
    requests.inc({ route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    seconds.observe({ route }, reply.elapsedTime / 1000);
  });
}

export interface LoginMetrics {
  /** A login with a wrong password, an unknown user name or a disabled account. */
  failed(): void;
  /** A login refused with 429 before the password was checked, by the limit that held. */
  limited(by: LimitKind): void;
}

/** Counters of failed and limited logins; nothing is counted without a registry. */
export function loginMetrics(registry: Registry | undefined): LoginMetrics {
  if (!registry) return { failed: () => undefined, limited: () => undefined };
  const failures = metric(registry, 'swarmgate_api_login_failures_total', () => new Counter({ name: 'swarmgate_api_login_failures_total', help: 'Failed logins (wrong password, unknown user, disabled account)', registers: [registry] }));
  const limited = metric(
    registry,
    'swarmgate_api_login_limited_total',
    () => new Counter({ name: 'swarmgate_api_login_limited_total', help: 'Logins refused with 429, by the limit that held (user-address, user, address)', labelNames: ['limit'] as const, registers: [registry] }),
  );
  return { failed: () => failures.inc(), limited: (by) => limited.inc({ limit: by }) };
}
