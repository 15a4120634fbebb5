/**
 * The versioned MQTT topic scheme. Every gateway owns the subtree swarmgate/v1/<site>/<gateway>/;
 * the broker ACL confines it there. Ids are restricted to [A-Za-z0-9_-] so they can never carry
 * MQTT wildcards or separators.
 */
export const TOPIC_ROOT = 'swarmgate';
export const WIRE_VERSION = 'v1';

export type GatewayChannel =
  | 'telemetry'
  | 'gaps'
  | 'state'
  | 'events'
  | 'reviews'
  | 'commands'
  | 'commands/ack'
  | 'config/desired'
  | 'config/reported'
  | 'stored'
  | 'update/desired'
  | 'update/status'
  /** Gateway to hub: a detector prior (shared/wire/detector-prior.ts). */
  | 'prior'
  /** Gateway to hub: the fleet keys whose prior the gateway's new points wait for (analytics.fleetLearning.use). */
  | 'prior/request'
  /** Hub to gateway: the fleet prior of one key, answering prior/request (and each new version of a key it asked for). */
  | 'prior/fleet';

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isValidId(id: string): boolean {
  return ID.test(id);
}

export function gatewayPrefix(site: string, gateway: string): string {
  if (!isValidId(site) || !isValidId(gateway)) throw new Error(`invalid site/gateway id "${site}/${gateway}"`);
  return `${TOPIC_ROOT}/${WIRE_VERSION}/${site}/${gateway}`;
}

export function gatewayTopic(site: string, gateway: string, channel: GatewayChannel): string {
  return `${gatewayPrefix(site, gateway)}/${channel}`;
}

/** Plain per-point topic for building systems: retained {v, ts, q, unit}. */
export function pointTopic(site: string, gateway: string, device: string, point: string): string {
  return `${gatewayPrefix(site, gateway)}/points/${device}/${point}`;
}

export function pointSetTopic(site: string, gateway: string, device: string, point: string): string {
  return `${pointTopic(site, gateway, device, point)}/set`;
}

/** Subscription filter over every gateway for one channel (hub side). */
export function allGatewaysFilter(channel: GatewayChannel): string {
  return `${TOPIC_ROOT}/${WIRE_VERSION}/+/+/${channel}`;
}

export interface ParsedTopic {
  readonly site: string;
  readonly gateway: string;
  /** What follows the gateway prefix, e.g. 'telemetry' or 'points/ahu1/fan_speed/set'. */
  readonly rest: string;
}

/** Splits a topic of the scheme; undefined when it is not one. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts.length < 5 || parts[0] !== TOPIC_ROOT || parts[1] !== WIRE_VERSION) return undefined;
  const [, , site, gateway, ...rest] = parts;
  if (!site || !gateway || !isValidId(site) || !isValidId(gateway)) return undefined;
  return { site, gateway, rest: rest.join('/') };
}
