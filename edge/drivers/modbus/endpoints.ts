/**
 * How a device reaches its unit: Modbus TCP gets a connection of its own; Modbus RTU joins the
 * process-wide bus for its serial path and gets a per-unit circuit breaker.
 */
import type { Logger } from 'pino';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { CircuitBreaker } from './breaker.js';
import type { ModbusEndpoint } from './driver.js';
import { ModbusLink, tcpOpener } from './link.js';
import { acquireBus, type BusHandle } from './rtu-bus.js';
import type { ModbusTcpConnection, RtuSettings } from './schema.js';
import { UnitSession } from './session.js';

/** Reconnects are paced from at least this delay, so backoffMs 0 still never spins. */
const MIN_RECONNECT_MS = 50;

/**
 * A Modbus TCP connection is closed after this many requests in a row got no reply (ModbusLink's
 * dropAfterTimeouts): one timeout may be one slow reply, two in a row mean the device is gone or
 * the reply stream is out of step, and a new connection costs one handshake.
 */
const TCP_DROP_AFTER_TIMEOUTS = 2;

export function tcpEndpoint(settings: Required<ModbusTcpConnection>, log: Logger): ModbusEndpoint {
  const link = new ModbusLink(tcpOpener(settings.host, settings.port, settings.timeoutMs), {
    name: `tcp ${settings.host}:${settings.port}`,
    log,
    reconnectBaseMs: Math.max(MIN_RECONNECT_MS, settings.backoffMs),
    dropAfterTimeouts: TCP_DROP_AFTER_TIMEOUTS,
  });
  const session = new UnitSession(link, settings);
  return {
    bus: false,
    open: () => link.open(),
    session: () => session,
    async release(force) {
      session.stop();
      await link.close(force);
    },
  };
}

export function rtuEndpoint(settings: RtuSettings, log: Logger): ModbusEndpoint {
  const breaker = new CircuitBreaker(settings.breaker);
  let joined: { handle: BusHandle; session: UnitSession } | undefined;
  let released = false;
  // The bus is joined lazily (first open or read), so a driver that is created but never used
  // holds no port.
  const join = (): UnitSession => {
    if (released) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `unit ${settings.unitId} on ${settings.path} was released`);
    if (!joined) {
      const handle = acquireBus(settings, { log, reconnectBaseMs: Math.max(MIN_RECONNECT_MS, settings.backoffMs) });
      joined = { handle, session: new UnitSession(handle.link, settings, breaker) };
    }
    return joined.session;
  };
  return {
    bus: true,
    open: () => join().link.open(),
    session: join,
    async release(force) {
      released = true;
      joined?.session.stop();
      await joined?.handle.release(force);
    },
  };
}
