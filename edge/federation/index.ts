/**
 * Federation of one gateway with the hub over MQTT: outbox, publisher, commands, the state
 * document and the opt-in building-system integrations, wired to a gateway.
 *
 * startFederation never waits for the broker: the gateway keeps working offline and the outbox
 * keeps what the hub has not acknowledged yet.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import {
  EventSchema,
  ReviewRequestSchema,
  decode,
  encode,
  gatewayTopic,
  isValidId,
  type GatewayEvent,
  type GatewayHealth,
  type GatewayState,
  type ReviewRequest,
} from '../../shared/wire/index.js';
import type { PointValueType, Reading, WriteValue } from '../drivers/driver.js';
import type { Gateway } from '../runtime/gateway.js';
import { CommandHandler, type ModeFn } from './commands.js';
import { FederationMetrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { PlainTopics, isPointName } from './plain-topics.js';
import { RemoteConfig, type ConfigFileChecker } from './remote-config.js';
import { Publisher, type RefusalPolicy } from './publisher.js';
import { resolveFederationConfig, type FederationConfig } from './schema.js';
import { SparkplugNode } from './sparkplug.js';
import { FederationState } from './state.js';

export { FederationConfigSchema, resolveFederationConfig, type FederationConfig, type ResolvedFederationConfig } from './schema.js';
export { Outbox, type OutboxOptions, type OutboxRow, type MessageKind } from './outbox.js';
export { FederationState } from './state.js';
export { FederationMetrics } from './metrics.js';
export type { WriteFn, ModeFn } from './commands.js';
export { RemoteConfig, type ConfigFileChecker, type ConfigStatus, type RemoteConfigOptions } from './remote-config.js';

type DeviceState = 'starting' | 'up' | 'down' | 'stopped';

export interface FederationDevice {
  readonly id: string;
  readonly protocol: string;
  readonly points: readonly { readonly name: string; readonly unit?: string; readonly writable: boolean; readonly limits?: { readonly min?: number; readonly max?: number }; readonly valueType?: PointValueType; readonly tags?: readonly string[] }[];
}

/** Device state changes within this long are published as one state document. */
const STATE_COALESCE_MS = 1000;

/** What federation needs from the gateway (the Gateway class via federationGateway(), or a stand-in). */
export interface FederationGateway {
  readonly id: string;
  readonly site: string;
  onReport(listener: (reading: Reading) => void): () => void;
  write(device: string, point: string, value: WriteValue, origin?: string): Promise<void>;
  deviceStates(): Readonly<Record<string, { readonly state: DeviceState }>>;
  /** Device state changes: the retained state document follows them (without it, only on connect and every stateIntervalS). */
  onDeviceState?(listener: (device: string, state: DeviceState) => void): () => void;
  /** Device catalogue: Sparkplug births, units on plain topics, protocols in the state document. */
  readonly devices?: readonly FederationDevice[];
  /** Latest value of a point (Sparkplug births carry current values). */
  latest?(device: string, point: string): Reading | undefined;
  /** Applies 'mode' command actions; without it they are rejected as unsupported. */
  setMode?: ModeFn;
}

export interface StartFederationOptions {
  readonly gateway: FederationGateway;
  readonly config: FederationConfig;
  /** The gateway's data folder; federation keeps outbox.sqlite, federation.json and federation.commands.json there. */
  readonly dataDir: string;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** Software version announced in the birth message. */
  readonly version?: string;
  readonly clock?: () => number;
  /** Tests only: shorter thresholds for setting aside a row the broker keeps refusing (see publisher.ts). */
  readonly refusal?: Partial<RefusalPolicy>;
  /**
   * The config file this gateway runs from: with checkConfig, the gateway takes desired configs
   * from the hub (config/desired), checks and installs them and calls onRestart.
   */
  readonly configFile?: string;
  /** The same check as `swarmgate edge check` (checkGatewayConfigFile bound to the driver registry). */
  readonly checkConfig?: ConfigFileChecker;
  /** A new config file is in place: stop cleanly and start again (the CLI exits with 75). */
  readonly onRestart?: (version: number) => void;
  /** The health agent's verdicts for the state message (edge/health); asked at each birth/refresh. */
  readonly health?: () => Pick<GatewayHealth, 'status' | 'checks'> | undefined;
}

export interface Federation {
  readonly bootId: string;
  readonly outbox: Outbox;
  readonly state: FederationState;
  readonly publisher: Publisher;
  readonly commands: CommandHandler;
  readonly plainTopics?: PlainTopics;
  readonly sparkplug?: SparkplugNode;
  /** Present when startFederation got configFile and checkConfig. */
  readonly remoteConfig?: RemoteConfig;
  /** Queues an event for the hub (durable); throws when it does not match EventSchema. */
  enqueueEvent(event: GatewayEvent): void;
  /** Queues a review request for the hub (durable); throws when it does not match ReviewRequestSchema. */
  enqueueReview(review: ReviewRequest): void;
  stop(): Promise<void>;
}

/** Adapts the runtime Gateway to what federation needs. */
export function federationGateway(gateway: Gateway): FederationGateway {
  const loaded = gateway.config;
  return {
    id: gateway.id,
    site: loaded.config.gateway.site,
    onReport: (listener) => gateway.onReport(listener),
    write: (device, point, value, origin) => gateway.write(device, point, value, origin),
    deviceStates: () => gateway.deviceStates(),
    onDeviceState: (listener) => gateway.onDeviceState(listener),
    devices: loaded.devices.map((d) => ({
      id: d.id,
      protocol: d.protocol,
      points: d.points.map((p) => ({
        name: p.name,
        writable: p.writable,
        ...(p.limits !== undefined ? { limits: p.limits } : {}),
        ...(p.unit !== undefined ? { unit: p.unit } : {}),
        ...(p.valueType !== undefined ? { valueType: p.valueType } : {}),
        ...(p.tags !== undefined && p.tags.length > 0 ? { tags: p.tags } : {}),
      })),
    })),
    latest: (device, point) => gateway.latest(device, point),
  };
}

const UNITS_IN_BIRTH = 4000;
/** Points whose tags the birth carries (about 60 bytes each). */
const TAGGED_IN_BIRTH = 4000;
/** Writable points whose limits the birth carries (about 40 bytes each). */
const WRITABLE_IN_BIRTH = 4000;

/** A point's write limits as the birth states them (finite bounds only). */
function writeLimits(limits: { readonly min?: number; readonly max?: number } | undefined): { min?: number; max?: number } {
  const out: { min?: number; max?: number } = {};
  if (limits?.min !== undefined && Number.isFinite(limits.min)) out.min = limits.min;
  if (limits?.max !== undefined && Number.isFinite(limits.max)) out.max = limits.max;
  return out;
}

export async function startFederation(options: StartFederationOptions): Promise<Federation> {
  const { gateway, dataDir } = options;
  const config = resolveFederationConfig(options.config);
  const log = options.log ?? createLogger(`edge:${gateway.id}:federation`);
  const clock = options.clock ?? Date.now;
  const metrics = new FederationMetrics(options.registry ?? new Registry());
  const devices = gateway.devices ?? [];
  const write = (device: string, point: string, value: WriteValue, origin: string): Promise<void> => gateway.write(device, point, value, origin);
  mkdirSync(dataDir, { recursive: true });

  const state = await FederationState.open({ path: join(dataDir, 'federation.json'), gateway: gateway.id, site: gateway.site, log: log.child({ component: 'state' }) });
  const outbox = new Outbox({ path: join(dataDir, 'outbox.sqlite'), site: gateway.site, gateway: gateway.id, ...config.outbox, encoding: config.telemetryEncoding, clock, metrics, log: log.child({ component: 'outbox' }) });
  const startedAt = clock();

  const birth = (): GatewayState => {
    const stats = outbox.stats();
    // Only when there are some: a hub older than the field refuses a state document that has it.
    const dead = outbox.deadLetterSummary();
    const deadLetters = dead.count > 0 && dead.oldestSetAsideAt !== undefined ? { deadLetters: { count: dead.count, bytes: dead.bytes, oldestSetAsideAt: dead.oldestSetAsideAt } } : {};
    const states = gateway.deviceStates();
    // Units let the hub's page show "21.5 °C", not a bare number (telemetry carries none); at most
    // UNITS_IN_BIRTH of them keep the birth far below the payload limit.
    let unitBudget = UNITS_IN_BIRTH;
    // Tags let the hub find "every discharge air temp" across vendors' names (its point index).
    let tagBudget = TAGGED_IN_BIRTH;
    // Writable points and their limits let the hub refuse, when a technician types it, a write
    // the gateway would refuse (review modify, operator commands).
    let writableBudget = WRITABLE_IN_BIRTH;
    const list = Object.entries(states)
      .filter(([id]) => isValidId(id))
      .slice(0, 1000)
      .map(([id, s]) => {
        const device = devices.find((d) => d.id === id);
        const withUnit = (device?.points ?? []).filter((p) => p.unit).slice(0, Math.max(0, unitBudget));
        unitBudget -= withUnit.length;
        const units = Object.fromEntries(withUnit.map((p) => [p.name, (p.unit ?? '').slice(0, 32)]));
        const tagged = (device?.points ?? []).filter((p) => p.tags && p.tags.length > 0).slice(0, Math.max(0, tagBudget));
        tagBudget -= tagged.length;
        const tags = Object.fromEntries(tagged.map((p) => [p.name, [...(p.tags ?? [])].slice(0, 16)]));
        // All of a device's writable points or none (past the budget: the hub knows nothing of them,
        // rather than taking the points left out for read-only).
        const writablePoints = (device?.points ?? []).filter((p) => p.writable);
        const withWritable = device !== undefined && writablePoints.length <= writableBudget;
        if (withWritable) writableBudget -= writablePoints.length;
        const writable = withWritable ? { writable: Object.fromEntries(writablePoints.map((p) => [p.name, writeLimits(p.limits)])) } : {};
        return { id, protocol: device?.protocol ?? 'unknown', state: s.state, ...(Object.keys(units).length ? { units } : {}), ...(Object.keys(tags).length ? { tags } : {}), ...writable };
      });
    return {
      v: 1,
      gateway: gateway.id,
      site: gateway.site,
      status: 'online',
      ts: clock(),
      bootId: outbox.bootId,
      ...(options.version !== undefined ? { version: options.version.slice(0, 64) } : {}),
      devices: list,
      health: { outboxDepth: stats.messages, outboxBytes: stats.bytes, rssBytes: process.memoryUsage().rss, uptimeS: Math.max(0, (clock() - startedAt) / 1000), ...deadLetters, ...options.health?.() },
    };
  };

  const untilStored = config.outbox.deleteOn === 'stored' ? { timeoutMs: config.outbox.storedTimeoutS * 1000, window: config.outbox.receiptWindow } : undefined;
  const publisher = new Publisher({ mqtt: config.mqtt, site: gateway.site, gateway: gateway.id, outbox, metrics, log: log.child({ component: 'publisher' }), birth, stateIntervalS: config.stateIntervalS, clock, untilStored, ...(options.refusal ? { refusal: options.refusal } : {}) });
  const commands = new CommandHandler({ site: gateway.site, gateway: gateway.id, outbox, state, write, ...(gateway.setMode ? { setMode: gateway.setMode } : {}), metrics, log: log.child({ component: 'commands' }), clock, hubClock: () => publisher.hubNow() });
  // Final acks of commands that finished after the last run's outbox closed (a shutdown during a long write).
  await commands.resendUnacked();
  publisher.subscribe(commands.topic, 1, (_topic, payload) => void commands.handle(payload));

  const remoteConfig =
    options.configFile !== undefined && options.checkConfig
      ? new RemoteConfig({
          site: gateway.site,
          gateway: gateway.id,
          configFile: options.configFile,
          check: options.checkConfig,
          outbox,
          state,
          onRestart: options.onRestart ?? ((version) => log.warn({ version }, 'new config installed; restart the gateway to apply it')),
          log: log.child({ component: 'remote-config' }),
          clock,
        })
      : undefined;
  if (remoteConfig) {
    publisher.onConnect(() => void remoteConfig.reportRunning());
    publisher.subscribe(remoteConfig.topic, 1, (_topic, payload) => void remoteConfig.handle(payload));
  }

  const eventsTopic = gatewayTopic(gateway.site, gateway.id, 'events');
  const reviewsTopic = gatewayTopic(gateway.site, gateway.id, 'reviews');
  const enqueueEvent = (event: GatewayEvent): void => {
    const payload = encode(EventSchema, event);
    const check = decode(EventSchema, eventsTopic, payload);
    if (!check.ok) throw new SwarmgateError('SWG_ERR_INTERNAL', `event does not match the wire schema: ${check.error}`);
    outbox.enqueue(eventsTopic, 'event', payload);
  };
  const enqueueReview = (review: ReviewRequest): void => {
    const payload = encode(ReviewRequestSchema, review);
    const check = decode(ReviewRequestSchema, reviewsTopic, payload);
    if (!check.ok) throw new SwarmgateError('SWG_ERR_INTERNAL', `review request does not match the wire schema: ${check.error}`);
    outbox.enqueue(reviewsTopic, 'review', payload);
  };

  const plainTopics = config.plainTopics
    ? new PlainTopics({
        site: gateway.site,
        gateway: gateway.id,
        writable: config.plainTopics.writable,
        unitOf: (device, point) => devices.find((d) => d.id === device)?.points.find((p) => p.name === point)?.unit,
        write,
        publisher,
        outbox,
        metrics,
        log: log.child({ component: 'plain-topics' }),
        clock,
      })
    : undefined;

  const sparkplug = config.sparkplug
    ? new SparkplugNode({
        mqtt: config.mqtt,
        clientId: `${config.mqtt.clientId ?? gateway.id}-spb`,
        groupId: config.sparkplug.groupId,
        edgeNodeId: config.sparkplug.edgeNodeId ?? gateway.id,
        ...(config.sparkplug.primaryHostId ? { primaryHostId: config.sparkplug.primaryHostId } : {}),
        aliases: config.sparkplug.aliases ?? false,
        devices: () => devices,
        latest: (device, point) => gateway.latest?.(device, point),
        deviceState: (device) => gateway.deviceStates()[device]?.state,
        write,
        state,
        onRefused: (device, point, code, message) =>
          enqueueEvent({
            v: 1,
            id: randomUUID(),
            gateway: gateway.id,
            ts: clock(),
            kind: 'local-action',
            severity: 'warning',
            message: `Sparkplug DCMD write to ${device}/${point} refused: ${message}`.slice(0, 2000),
            data: { code, source: 'sparkplug' },
            ...(isValidId(device) ? { device } : {}),
            ...(isPointName(point) ? { point } : {}),
          }),
        metrics,
        log: log.child({ component: 'sparkplug' }),
        clock,
      })
    : undefined;

  const unsubscribe = gateway.onReport((reading) => {
    outbox.addReading(reading);
    plainTopics?.onReading(reading);
    sparkplug?.onReading(reading);
  });

  // A device coming up or going down reaches the hub's fleet view within a second, not at the
  // next periodic state (up to stateIntervalS later); changes in one second go as one document.
  let stateTimer: NodeJS.Timeout | undefined;
  const unwatchStates =
    gateway.onDeviceState?.(() => {
      stateTimer ??= setTimeout(() => {
        stateTimer = undefined;
        publisher.publishState();
      }, STATE_COALESCE_MS).unref();
    }) ?? ((): void => undefined);

  if (config.enabled) {
    publisher.start();
    sparkplug?.start();
  } else {
    log.warn('federation is disabled in the config: readings are kept in the outbox, nothing is sent');
  }

  let stopped = false;
  return {
    bootId: outbox.bootId,
    outbox,
    state,
    publisher,
    commands,
    ...(plainTopics ? { plainTopics } : {}),
    ...(sparkplug ? { sparkplug } : {}),
    ...(remoteConfig ? { remoteConfig } : {}),
    enqueueEvent,
    enqueueReview,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      unwatchStates();
      clearTimeout(stateTimer);
      await Promise.race([Promise.all([commands.idle(), remoteConfig?.idle()]), new Promise((r) => setTimeout(r, 2000).unref())]);
      await sparkplug?.stop();
      outbox.flush();
      await publisher.stop();
      outbox.close();
      await state.close();
    },
  };
}
