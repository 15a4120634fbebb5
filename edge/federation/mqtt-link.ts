/**
 * MQTT client options from the federation config, and topic-filter matching for the small message
 * routers of the publisher and the Sparkplug node.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import type { ResolvedFederationConfig } from './schema.js';

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `federation.mqtt.tls.${what}: cannot read ${path} (${errorMessage(err)})`, { cause: err, details: { path } });
  }
}

function readSecret(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `federation.mqtt.passwordFile: cannot read ${path} (${errorMessage(err)})`, { cause: err, details: { path } });
  }
}

export function clientOptions(mqtt: ResolvedFederationConfig['mqtt'], clientId: string, extra: Partial<IClientOptions> = {}): IClientOptions {
  const options: IClientOptions = {
    clientId,
    clean: false,
    protocolVersion: 4,
    keepalive: mqtt.keepaliveS,
    reconnectPeriod: mqtt.reconnectPeriodMs,
    connectTimeout: mqtt.connectTimeoutMs,
    // QoS 0 traffic (live point values) is not worth queueing in memory through an outage.
    queueQoSZero: false,
    resubscribe: true,
    // MQTT.js gives up for good after a refused CONNACK (bad credentials, server unavailable):
    // a gateway whose user is added later, or that meets a hub still starting, must keep trying.
    reconnectOnConnackError: true,
    ...extra,
  };
  if (mqtt.username !== undefined) options.username = mqtt.username;
  if (mqtt.password !== undefined) options.password = mqtt.password;
  if (mqtt.passwordFile !== undefined) options.password = readSecret(mqtt.passwordFile);
  if (mqtt.tls) {
    if (mqtt.tls.ca) options.ca = readPem(mqtt.tls.ca, 'ca');
    if (mqtt.tls.cert) options.cert = readPem(mqtt.tls.cert, 'cert');
    if (mqtt.tls.key) options.key = readPem(mqtt.tls.key, 'key');
    options.rejectUnauthorized = mqtt.tls.rejectUnauthorized;
  }
  return options;
}

/** MQTT topic filter match ('+' one level, '#' the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return true;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}
