/**
 * The OPC UA driver: one client connection per device, subscriptions kept alive across outages
 * by SubscriptionKeeper, read() for polling, typed writes, and address-space browsing.
 */
import { join } from 'node:path';
import { AttributeIds, resolveNodeId, type DataType, type NodeId } from 'node-opcua-client';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import type {
  BrowsableDriver,
  BrowseOptions,
  DeviceSpec,
  DiscoveredPoint,
  DriverContext,
  PointSpec,
  PointValue,
  Reading,
  SubscribableDriver,
  Subscription,
} from '../driver.js';
import { browseLimits, browseVariables } from './browse.js';
import { OpcuaLink } from './connection.js';
import { withDeadline } from './deadline.js';
import { SubscriptionKeeper } from './keeper.js';
import { resolveConnection, type OpcuaAddress, type OpcuaConnection, type ResolvedOpcuaConnection } from './settings.js';
import { badReading, dataValueToReading, toWriteVariant } from './values.js';

export class OpcuaDriver implements SubscribableDriver, BrowsableDriver {
  readonly settings: ResolvedOpcuaConnection;
  readonly #device: DeviceSpec<OpcuaConnection, OpcuaAddress>;
  readonly #log: Logger;
  readonly #link: OpcuaLink;
  readonly #keepers = new Set<SubscriptionKeeper>();
  /** Built-in DataType per node id, read once for writes; cleared when the server may have changed. */
  readonly #dataTypes = new Map<string, DataType>();

  constructor(device: DeviceSpec<OpcuaConnection, OpcuaAddress>, context: DriverContext) {
    this.#device = device;
    this.#log = context.log.child({ protocol: 'opcua' });
    this.settings = resolveConnection(device.connection, join(context.dataDir, 'pki', 'opcua'));
    this.#link = new OpcuaLink(this.settings, this.#log, device.id);
    this.#link.on('restored', () => this.#dataTypes.clear());
  }

  /** 'connected' | 'reconnecting' | ... (for health reporting). */
  get state(): OpcuaLink['state'] {
    return this.#link.state;
  }

  async initialize(): Promise<void> {
    await this.#link.open();
  }

  async read(points: readonly PointSpec[]): Promise<Reading[]> {
    const device = this.#device.id;
    const resolved = points.map((p) => ({ point: p as PointSpec<OpcuaAddress>, nodeId: nodeIdOf(p) }));
    const out: (Reading | undefined)[] = resolved.map(({ point, nodeId }) =>
      nodeId ? undefined : badReading(device, point.name, 'invalid OPC UA node id (SWG_ERR_CONFIG_INVALID)'),
    );
    const wanted = resolved.flatMap((r, i) => (r.nodeId ? [{ ...r, nodeId: r.nodeId, index: i }] : []));
    if (wanted.length === 0) return out as Reading[];
    if (this.#link.state !== 'connected') {
      const cause = `not connected (${this.#link.state}) (SWG_ERR_DEVICE_NOT_CONNECTED)`;
      for (const w of wanted) out[w.index] = badReading(device, w.point.name, cause);
      return out as Reading[];
    }
    try {
      const values = await this.#bounded(
        this.#link.session.read(
          wanted.map((w) => ({ nodeId: w.nodeId, attributeId: AttributeIds.Value })),
          0,
        ),
        'read',
      );
      wanted.forEach((w, i) => {
        const dv = values[i];
        out[w.index] = dv ? dataValueToReading(device, w.point, dv) : badReading(device, w.point.name, 'no value returned');
      });
    } catch (err) {
      const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : `read failed: ${errorMessage(err).split('\n')[0]}`;
      for (const w of wanted) out[w.index] = badReading(device, w.point.name, cause);
    }
    return out as Reading[];
  }

  #bounded<T>(request: Promise<T>, what: string): Promise<T> {
    return withDeadline(request, this.settings.requestTimeoutMs + 500, what);
  }

  async write(point: PointSpec, value: PointValue): Promise<void> {
    const nodeId = nodeIdOf(point);
    if (!nodeId) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `point ${point.name} has no valid OPC UA node id`);
    const session = this.#link.session;
    const key = nodeId.toString();
    let dataType = this.#dataTypes.get(key);
    if (dataType === undefined) {
      try {
        dataType = await session.getBuiltInDataType(nodeId);
      } catch (err) {
        throw new SwarmgateError('SWG_ERR_DEVICE_EXCEPTION', `cannot read the data type of ${key} for point ${point.name}: ${errorMessage(err).split('\n')[0]}`, {
          cause: err,
          details: { point: point.name, nodeId: key },
        });
      }
      this.#dataTypes.set(key, dataType);
    }
    const variant = toWriteVariant(point, value, dataType);
    let status;
    try {
      status = await this.#bounded(session.write({ nodeId, attributeId: AttributeIds.Value, value: { value: variant } }), 'write');
    } catch (err) {
      if (isSwarmgateError(err)) throw err;
      const timedOut = /timeout|timed out/i.test(errorMessage(err));
      throw new SwarmgateError(timedOut ? 'SWG_ERR_DEVICE_TIMEOUT' : 'SWG_ERR_DEVICE_NOT_CONNECTED', `write of ${point.name} failed: ${errorMessage(err).split('\n')[0]}`, {
        cause: err,
        details: { point: point.name, nodeId: key },
      });
    }
    if (!status.isGood()) {
      if (status.name === 'BadTypeMismatch') this.#dataTypes.delete(key);
      throw new SwarmgateError('SWG_ERR_DEVICE_EXCEPTION', `OPC UA server refused the write of ${point.name} (${key}): ${status.name}`, {
        details: { point: point.name, nodeId: key, status: status.name },
      });
    }
  }

  async subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription> {
    const valid: PointSpec<OpcuaAddress>[] = [];
    for (const p of points) {
      if (nodeIdOf(p)) valid.push(p as PointSpec<OpcuaAddress>);
      else onReading(badReading(this.#device.id, p.name, 'invalid OPC UA node id (SWG_ERR_CONFIG_INVALID)'));
    }
    const keeper = new SubscriptionKeeper(this.#link, valid, onReading, {
      device: this.#device.id,
      publishingIntervalMs: this.settings.publishingIntervalMs,
      sessionTimeoutMs: this.settings.sessionTimeoutMs,
      requestTimeoutMs: this.settings.requestTimeoutMs,
      keepAliveMs: this.settings.subscriptionKeepAliveMs,
      log: this.#log,
    });
    this.#keepers.add(keeper);
    await keeper.start();
    return {
      close: async () => {
        this.#keepers.delete(keeper);
        await keeper.close();
      },
    };
  }

  async browse(options: BrowseOptions): Promise<DiscoveredPoint[]> {
    return browseVariables(this.#link.session, browseLimits(options));
  }

  async stop(force = false): Promise<void> {
    const keepers = [...this.#keepers];
    this.#keepers.clear();
    // force: do not spend a round trip deleting subscriptions; the session close drops them anyway.
    if (force) void Promise.all(keepers.map((k) => k.close()));
    else await Promise.all(keepers.map((k) => k.close()));
    await this.#link.close();
  }
}

function nodeIdOf(point: PointSpec): NodeId | undefined {
  const address = point.address as Partial<OpcuaAddress> | null | undefined;
  if (typeof address?.nodeId !== 'string') return undefined;
  try {
    const nodeId = resolveNodeId(address.nodeId);
    return nodeId.isEmpty() ? undefined : nodeId;
  } catch {
    return undefined;
  }
}
