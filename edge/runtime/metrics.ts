/**
 * The gateway's Prometheus metrics. One registry per gateway instance (not prom-client's global
 * one) so several gateways can live in one test process.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly readings = new Counter({ name: 'swarmgate_readings_total', help: 'Readings taken, by device and quality', labelNames: ['device', 'quality'] as const, registers: [this.registry] });
  readonly reported = new Counter({ name: 'swarmgate_readings_reported_total', help: 'Readings passed on after report-by-exception', labelNames: ['device'] as const, registers: [this.registry] });
  readonly pollDuration = new Histogram({ name: 'swarmgate_poll_duration_seconds', help: 'Duration of one poll of a point group', labelNames: ['device'] as const, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly pollsSkipped = new Counter({ name: 'swarmgate_polls_skipped_total', help: 'Polls skipped because the previous poll of the same group was still running', labelNames: ['device'] as const, registers: [this.registry] });
  readonly deviceUp = new Gauge({ name: 'swarmgate_device_up', help: '1 when the driver is connected and the last poll had a good reading', labelNames: ['device'] as const, registers: [this.registry] });
  readonly writes = new Counter({ name: 'swarmgate_writes_total', help: 'Point writes, by device and outcome', labelNames: ['device', 'outcome'] as const, registers: [this.registry] });

  constructor(defaultMetrics = true) {
    // prom-client names its process metrics process_* and nodejs_*: swarmgate_process_cpu_seconds_total, swarmgate_nodejs_heap_size_used_bytes, ...
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'swarmgate_' });
  }

  /** Serves GET /metrics; resolves with the bound port. */
  async serve(host: string, port: number): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        this.registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(body);
          },
          (err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return { server, port: typeof address === 'object' && address ? address.port : port };
  }
}
