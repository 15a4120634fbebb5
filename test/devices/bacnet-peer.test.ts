/**
 * The simulated BACnet building answered by the bacnet-stack reference client tools: bacwi finds
 * the devices, bacrp/bacrpm read, bacwp commands at priority 8 and relinquishes with NULL,
 * bacscov receives confirmed and unconfirmed COV notifications.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBacnetBuilding, type BacnetBuilding } from '../../devices/bacnet/building.js';
import { bacnetStackPeer, freeUdpPort, runTool, startTool } from '../support/bacnet-stack.js';
import { peerOrSkip } from '../support/peers.js';
import { waitFor } from './support.js';

const run = peerOrSkip(bacnetStackPeer());

describe.skipIf(!run)('BACnet building against the bacnet-stack tools', () => {
  let building: BacnetBuilding;
  let clientPort: number;
  const mac = (instance: number): string[] => ['--mac', building.endpoints[instance] ?? '', '--dnet', '0'];
  const portOf = (instance: number): number => Number((building.endpoints[instance] ?? '').split(':')[1]);

  beforeAll(async () => {
    // Frozen clock: values change only when the test steps the model or writes.
    building = await startBacnetBuilding({ speed: 0 });
    // Monday 10:00: occupied, so the VAV controllers hold their dampers open.
    building.model.step(10 * 3600);
    clientPort = await freeUdpPort();
  });
  afterAll(async () => {
    await building?.stop();
  });

  it('bacwi finds each device by unicast Who-Is, and by broadcast Who-Is to its port', async () => {
    for (const instance of [1001, 1002, 2001]) {
      const r = await runTool('bacwi', ['--mac', building.endpoints[instance] ?? '', '--timeout', '1000'], { port: clientPort });
      expect(r.stdout).toMatch(new RegExp(`^\\s+${instance}\\s+7F:00:00:01:\\S+\\s+0\\s+00\\s+1476`, 'm'));
    }
    const broadcast = await runTool('bacwi', ['--timeout', '1000'], { port: clientPort, broadcastPort: portOf(2001) });
    expect(broadcast.stdout).toMatch(/^\s+2001\s/m);
    expect(broadcast.stdout).toContain('Total Devices: 1');
  });

  it('bacrp and bacrpm read values, names, units and descriptions', async () => {
    const zone = await runTool('bacrp', [...mac(1001), '1001', 'analog-input', '1', 'present-value'], { port: clientPort });
    expect(zone.code).toBe(0);
    expect(Number(zone.stdout.trim())).toBeCloseTo(building.plant.vavs['VAV-1'].zoneC, 3);

    const list = await runTool('bacrp', [...mac(2001), '2001', 'device', '2001', 'object-list'], { port: clientPort });
    expect(list.stdout.trim()).toBe('{(device, 2001),(analog-input, 1),(analog-input, 2),(analog-input, 3),(analog-value, 1),(analog-value, 2),(binary-output, 1),(binary-input, 1),(binary-input, 2)}');

    const rpm = await runTool('bacrpm', [...mac(1002), '1002', 'analog-value', '1', 'object-name,units,description,relinquish-default'], { port: clientPort });
    expect(rpm.stdout).toContain('object-name: "VAV-2 Zone Setpoint"');
    expect(rpm.stdout).toContain('units: degrees-celsius');
    expect(rpm.stdout).toContain('description: "Zone 2 air temperature cooling setpoint"');
    expect(rpm.stdout).toContain('relinquish-default: 22.000000');

    const flow = await runTool('bacrpm', [...mac(1001), '1001', 'analog-input', '2', 'object-name,units'], { port: clientPort });
    expect(flow.stdout).toContain('"VAV-1 Airflow"');
    expect(flow.stdout).toContain('units: liters-per-second');
  });

  it('bacwp at priority 8 wins over the controller (16); NULL at 8 hands control back', async () => {
    const damper = building.points(1001).find((p) => p.name === 'VAV-1 Damper');
    const controllerValue = damper?.priorityArray[15];
    expect(controllerValue).toBeGreaterThan(0);
    const write = await runTool('bacwp', [...mac(1001), '1001', 'analog-output', '1', 'present-value', '8', '-1', '4', '100'], { port: clientPort });
    expect(write.stdout).toContain('WriteProperty Acknowledged!');
    const pa = await runTool('bacrp', [...mac(1001), '1001', 'analog-output', '1', 'priority-array'], { port: clientPort });
    expect(pa.stdout).toMatch(/^\{Null,Null,Null,Null,Null,Null,Null,100\.000000,Null,Null,Null,Null,Null,Null,Null,[\d.]+\}/);
    const pv = await runTool('bacrp', [...mac(1001), '1001', 'analog-output', '1', 'present-value'], { port: clientPort });
    expect(Number(pv.stdout.trim())).toBe(100);
    // The physics follows the command in effect.
    building.model.step(120);
    expect(building.plant.vavs['VAV-1'].damperPct).toBeGreaterThan(95);

    const relinquish = await runTool('bacwp', [...mac(1001), '1001', 'analog-output', '1', 'present-value', '8', '-1', '0', '0'], { port: clientPort });
    expect(relinquish.stdout).toContain('WriteProperty Acknowledged!');
    const back = await runTool('bacrp', [...mac(1001), '1001', 'analog-output', '1', 'present-value'], { port: clientPort });
    expect(Number(back.stdout.trim())).toBeCloseTo(damper?.priorityArray[15] ?? Number.NaN, 4);
    expect(Number(back.stdout.trim())).not.toBe(100);

    // The setpoint has no controller command: relinquish returns to the relinquish default.
    await runTool('bacwp', [...mac(1001), '1001', 'analog-value', '1', 'present-value', '8', '-1', '4', '19.5'], { port: clientPort });
    expect(Number((await runTool('bacrp', [...mac(1001), '1001', 'analog-value', '1', 'present-value'], { port: clientPort })).stdout.trim())).toBe(19.5);
    await runTool('bacwp', [...mac(1001), '1001', 'analog-value', '1', 'present-value', '8', '-1', '0', '0'], { port: clientPort });
    expect(Number((await runTool('bacrp', [...mac(1001), '1001', 'analog-value', '1', 'present-value'], { port: clientPort })).stdout.trim())).toBe(22);

    const reserved = await runTool('bacwp', [...mac(1001), '1001', 'analog-value', '1', 'present-value', '6', '-1', '4', '1'], { port: clientPort });
    expect(reserved.stdout + reserved.stderr).toContain('write-access-denied');
    const input = await runTool('bacwp', [...mac(1001), '1001', 'analog-input', '1', 'present-value', '8', '-1', '4', '1'], { port: clientPort });
    expect(input.stdout + input.stderr).toContain('write-access-denied');
  });

  it('bacscov receives unconfirmed and confirmed COV notifications (initial, then on change)', async () => {
    const [p1, p2, writer] = await Promise.all([freeUdpPort(), freeUdpPort(), freeUdpPort()]);
    // bacscov has no --mac: it finds the device by broadcasting Who-Is to the device's port.
    const unconfirmed = startTool('bacscov', ['1002', 'analog-value', '1', '7', 'unconfirmed', '30'], { port: p1, broadcastPort: portOf(1002) });
    const confirmed = startTool('bacscov', ['2001', 'analog-value', '1', '8', 'confirmed', '30'], { port: p2, broadcastPort: portOf(2001) });
    try {
      await waitFor(() => unconfirmed.output().includes('UCOV: Received Notification!') && confirmed.output().includes('CCOV: Received Notification!'), 10_000);
      await runTool('bacwp', [...mac(1002), '1002', 'analog-value', '1', 'present-value', '8', '-1', '4', '24'], { port: writer });
      await runTool('bacwp', [...mac(2001), '2001', 'analog-value', '1', 'present-value', '8', '-1', '4', '5.5'], { port: writer });
      const count = (text: string, line: string): number => text.split(line).length - 1;
      await waitFor(() => count(unconfirmed.output(), 'UCOV: Received Notification!') >= 2 && count(confirmed.output(), 'CCOV: Received Notification!') >= 2, 10_000);
      expect(unconfirmed.output()).toContain('instance=1002 analog-value 1');
      expect(confirmed.output()).toContain('CCOV: Sending Simple Ack!');
      expect(building.devices.find((d) => d.instance === 2001)?.cov.size).toBe(1);
    } finally {
      for (const t of [unconfirmed, confirmed]) {
        t.child.kill('SIGTERM');
        await t.exited;
      }
      await runTool('bacwp', [...mac(1002), '1002', 'analog-value', '1', 'present-value', '8', '-1', '0', '0'], { port: writer });
      await runTool('bacwp', [...mac(2001), '2001', 'analog-value', '1', 'present-value', '8', '-1', '0', '0'], { port: writer });
    }
  });
});
