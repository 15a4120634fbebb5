import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, connectClient, endAll, waitFor } from './helpers.js';

describe('embedded broker listeners: TLS and WebSocket', () => {
  const dir = tempDir('swarmgate-hub-tls-');
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir.path}/key.pem`, '-out', `${dir.path}/cert.pem`, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, password: 'gw-1-password' }]);
    broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: `${dir.path}/cert.pem`, keyFile: `${dir.path}/key.pem` },
      ws: { port: 0 },
      credentialsFile: `${dir.path}/users.yaml`,
    });
  });

  afterAll(async () => {
    await endAll(clients);
    await broker?.close();
    dir.remove();
  });

  it('serves MQTT over TLS with the same credentials and ACL', async () => {
    const c = await connectClient(`mqtts://127.0.0.1:${broker.tlsPort}`, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1', ca: readFileSync(`${dir.path}/cert.pem`) });
    clients.push(c);
    const got: string[] = [];
    c.on('message', (t) => got.push(t));
    await c.subscribeAsync('swarmgate/v1/s/gw-1/commands', { qos: 1 });
    await c.publishAsync('swarmgate/v1/s/gw-1/commands', 'x', { qos: 1 });
    await waitFor(() => got.length === 1, 3000, 'loopback over TLS');
    await expect(connectClient(`mqtts://127.0.0.1:${broker.tlsPort}`, { username: 'gw-1', password: 'nope-nope', ca: readFileSync(`${dir.path}/cert.pem`) })).rejects.toThrow();
  });

  it('serves MQTT over WebSocket', async () => {
    const c = await connectClient(`ws://127.0.0.1:${broker.wsPort}/mqtt`, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1' });
    clients.push(c);
    const got: string[] = [];
    c.on('message', (t) => got.push(t));
    await c.subscribeAsync('swarmgate/v1/s/gw-1/#', { qos: 1 });
    await c.publishAsync('swarmgate/v1/s/gw-1/events', 'x', { qos: 1 });
    await waitFor(() => got.length === 1, 3000, 'loopback over WebSocket');
    expect(broker.connectedClients).toBeGreaterThanOrEqual(1);
  });
});
