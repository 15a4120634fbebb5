/**
 * Prometheus view of on-device analytics: which TensorFlow.js backend the detectors run on, and
 * the latest calibrated anomaly score of every monitored point. Values are read at scrape time.
 */
import { Gauge, type Registry } from 'prom-client';
import { currentBackend } from './index.js';

export interface ScoreSource {
  score(device: string, point: string): number | undefined;
}

export function registerAnalyticsMetrics(registry: Registry, monitor: ScoreSource, points: readonly { device: string; point: string }[]): void {
  new Gauge({
    name: 'swarmgate_analytics_backend_info',
    help: 'TensorFlow.js backend of the anomaly detectors (1 on the backend in use)',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const backend = currentBackend();
      if (backend) this.set({ backend }, 1);
    },
  });
  new Gauge({
    name: 'swarmgate_anomaly_score',
    help: 'Latest calibrated anomaly score per monitored point (0..1)',
    labelNames: ['device', 'point'] as const,
    registers: [registry],
    collect() {
      for (const { device, point } of points) {
        const score = monitor.score(device, point);
        if (score !== undefined) this.set({ device, point }, score);
      }
    },
  });
}
