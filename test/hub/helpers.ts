/** Shared helpers for the hub tests: MQTT clients, credentials, telemetry batches, polling. */
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { upsertUser, type UserSpec } from '../../hub/broker/credentials.js';
import { StoredReceiptSchema, decode, gatewayTopic, type StoredReceipt, type TelemetryBatch, type WireReading } from '../../shared/wire/index.js';

export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, clientId: `t-${randomUUID().slice(0, 8)}`, ...options });
}

/** Resolves once the client's connection is closed (e.g. by the broker refusing a publish). */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function endAll(clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => (c ? c.endAsync(true).catch(() => undefined) : undefined)));
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function addUsers(file: string, users: { spec: UserSpec; password: string }[]): Promise<void> {
  for (const u of users) await upsertUser(file, u.spec, u.password, { mosquittoIterations: 101 });
}

export function reading(device: string, point: string, value: number | boolean | string | null, ts: number, q: WireReading['q'] = 'good'): WireReading {
  return { d: device, p: point, v: value, q, ts };
}

export function batch(gateway: string, bootId: string, seq: number, readings: WireReading[], historical = false): TelemetryBatch {
  return { v: 1, gateway, bootId, seq, sentAt: Date.now(), historical, readings };
}

/** A short unique id usable as a site or gateway id, so runs against a shared broker never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** The QoS the broker granted one subscription (128 = refused; MQTT.js turns that into an error). */
export async function grantedQos(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    return granted[0]?.qos ?? -1;
  } catch (err) {
    const packet = (err as { packet?: { granted?: (number | { qos: number })[] } }).packet;
    const first = packet?.granted?.[0];
    if (first === undefined) throw err;
    return typeof first === 'number' ? first : first.qos;
  }
}

/**
 * Subscribes `client` (playing gateway `gateway` of `site`) to its stored receipts; they collect in
 * the returned array. `receipted(bootId, seq)` counts the receipts naming that batch.
 */
export async function storedReceipts(client: MqttClient, site: string, gateway: string): Promise<{ receipts: StoredReceipt[]; receipted: (bootId: string, seq: number) => number }> {
  const receipts: StoredReceipt[] = [];
  const storedTopic = gatewayTopic(site, gateway, 'stored');
  client.on('message', (topic, payload) => {
    if (topic !== storedTopic) return;
    const r = decode(StoredReceiptSchema, topic, payload);
    if (r.ok) receipts.push(r.value);
  });
  await client.subscribeAsync(storedTopic, { qos: 1 });
  return { receipts, receipted: (bootId, seq) => receipts.filter((r) => r.batches.some((x) => x.bootId === bootId && x.from <= seq && seq <= x.to)).length };
}
