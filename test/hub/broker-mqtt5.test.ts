/**
 * The embedded broker (aedes 1.x) speaks MQTT 3.1.1 and 3.1 only. An MQTT 5 client is refused with
 * CONNACK 132 (unsupported protocol version), and the broker's log says why and what to do, so an
 * integrator does not take it for a credentials problem. The README says the same.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorWithReasonCode } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { capturedLog } from '../support/captured-log.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, connectClient, endAll, waitFor } from './helpers.js';

interface LogLine {
  level: number;
  msg: string;
  protocolVersion?: number;
}

describe('embedded broker and MQTT 5 clients', () => {
  const dir = tempDir('swarmgate-hub-mqtt5-');
  const credentialsFile = `${dir.path}/users.yaml`;
  const { log, lines } = capturedLog<LogLine>('warn');
  let broker: EmbeddedBroker;

  beforeAll(async () => {
    await addUsers(credentialsFile, [{ spec: { role: 'integration', username: 'scada', read: ['swarmgate/v1/#'], write: [] }, password: 'scada-password' }]);
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, logger: log });
  });

  afterAll(async () => {
    await broker.close();
    dir.remove();
  });

  it('refuses an MQTT 5 client at CONNECT (unacceptable protocol version), logs why at warn, and accepts the same user on MQTT 3.1.1', async () => {
    const refused = await connectClient(broker.url, { username: 'scada', password: 'scada-password', clientId: 'scada', protocolVersion: 5 }).then(
      () => undefined,
      (err: unknown) => err as ErrorWithReasonCode,
    );
    // aedes answers in the 3.1.1 format: return code 1; MQTT.js shows it as is, other v5 clients as 132.
    expect(refused?.code).toBe(1);
    expect(refused?.message).toContain('Unacceptable protocol version');
    const line = await waitFor(() => lines.find((l) => l.msg.includes('MQTT 5')), 5000, 'the refusal in the log');
    expect(line.level).toBe(40);
    expect(line.protocolVersion).toBe(5);
    expect(line.msg).toContain('MQTT 3.1.1');

    const v4 = await connectClient(broker.url, { username: 'scada', password: 'scada-password', clientId: 'scada', protocolVersion: 4 });
    expect(v4.connected).toBe(true);
    await endAll([v4]);
  });

  it('the README says the embedded broker speaks MQTT 3.1.1, not MQTT 5', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toMatch(/embedded broker[^\n]*MQTT 3\.1\.1[^\n]*\n?[^\n]*MQTT 5/i);
  });
});
