/**
 * The whole gateway process as `swarmgate edge` starts it: analytics on, exposed for Prometheus
 * (backend in use, anomaly score per point), and interlocks applied to every write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { writeAhuGateway } from '../support/ahu-gateway.js';
import { tempDir } from '../support/tmp.js';


describe('edge app: analytics metrics and interlocks', () => {
  const dir = tempDir('swarmgate-app-');
  let facility: Facility;
  let app: EdgeApp;

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 5 });
    const file = writeAhuGateway(dir.path, facility, {
      id: 'gw-app',
      intervalMs: 100,
      // learningHours 0: a point still learning has no score (AnomalyMonitor.score), so no gauge.
      extra: `analytics:
  learningHours: 0
  points:
    - { point: ahu1/supply_air_temp, intervalMs: 100 }
rules:
  interlocks:
    - name: min-fan-speed-while-running
      point: ahu1/fan_speed_setpoint
      when: { kind: equals, point: ahu1/fan_command, value: true }
      min: 20
      message: fan below 20 % while running
`,
    });
    app = await startEdgeApp(loadConfig(file, builtinDrivers()), builtinDrivers());
  });

  afterAll(async () => {
    await app?.stop(true);
    await facility?.stop();
    dir.remove();
  });

  it('exposes the TensorFlow.js backend and the anomaly score per point to Prometheus', async () => {
    const deadline = Date.now() + 20_000;
    let text = '';
    while (Date.now() < deadline) {
      text = await app.gateway.metrics.registry.metrics();
      if (/swarmgate_anomaly_score\{device="ahu1",point="supply_air_temp"\} [0-9.e-]+/.test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(text).toMatch(/swarmgate_analytics_backend_info\{backend="wasm"\} 1/);
    expect(text).toMatch(/swarmgate_anomaly_score\{device="ahu1",point="supply_air_temp"\} [0-9.e-]+/);
  });

  it('refuses a write that an interlock forbids, whoever asks', async () => {
    await app.gateway.write('ahu1', 'fan_command', true);
    await new Promise((r) => setTimeout(r, 400));
    const code = await app.gateway.write('ahu1', 'fan_speed_setpoint', 10, 'hub').then(
      () => 'applied',
      (err: unknown) => (isSwarmgateError(err) ? err.code : String(err)),
    );
    expect(code).toBe('SWG_ERR_INTERLOCK');
    await app.gateway.write('ahu1', 'fan_speed_setpoint', 40, 'hub');
  });
});
