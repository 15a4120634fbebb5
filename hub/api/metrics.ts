/** Request counts and latencies of the API, by route id and status class, in the hub's registry. */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Api } from './context.js';

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
