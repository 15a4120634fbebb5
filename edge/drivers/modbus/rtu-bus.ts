/**
 * Process-wide registry of serial buses. Every RTU device naming the same serial path shares one
 * ModbusLink (one port, one request queue); the port closes when its last user releases it.
 * Serial settings must agree between the users: a bus has one baud rate.
 */
import { realpathSync } from 'node:fs';
import type { Logger } from 'pino';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { ModbusLink, rtuOpener } from './link.js';
import type { SerialSettings } from './rtu-port.js';

interface BusEntry {
  readonly link: ModbusLink;
  readonly settings: SerialSettings;
  users: number;
}

const buses = new Map<string, BusEntry>();
/** Ports still closing: a new link for the same port waits, or the OS lock would refuse it. */
const closing = new Map<string, Promise<void>>();

/** Symlinks (/dev/serial/by-id/..., socat links) name the same port as their target. */
export function busKey(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function sameSerial(a: SerialSettings, b: SerialSettings): boolean {
  return a.baudRate === b.baudRate && a.parity === b.parity && a.dataBits === b.dataBits && a.stopBits === b.stopBits;
}

export interface BusHandle {
  readonly key: string;
  readonly link: ModbusLink;
  /** Gives the bus back; the last release closes the port. A second call is a no-op. */
  release(force?: boolean): Promise<void>;
}

/**
 * Joins (or creates) the bus for settings.path. Throws SWG_ERR_CONFIG_INVALID when another device
 * already uses that port with different serial settings.
 */
export function acquireBus(settings: SerialSettings, options: { log: Logger; reconnectBaseMs: number }): BusHandle {
  const key = busKey(settings.path);
  let entry = buses.get(key);
  if (entry && !sameSerial(entry.settings, settings)) {
    const s = entry.settings;
    throw new SwarmgateError(
      'SWG_ERR_CONFIG_INVALID',
      `serial port ${settings.path} is already used at ${s.baudRate} baud, ${s.dataBits}${s.parity[0]?.toUpperCase() ?? 'N'}${s.stopBits}; ` +
        'every device on one bus must use the same baudRate/parity/dataBits/stopBits',
      { details: { path: settings.path } },
    );
  }
  if (!entry) {
    const open = rtuOpener(settings);
    const opener = async () => {
      await closing.get(key);
      return open();
    };
    entry = {
      link: new ModbusLink(opener, { name: `rtu ${settings.path}`, log: options.log, reconnectBaseMs: options.reconnectBaseMs }),
      settings,
      users: 0,
    };
    buses.set(key, entry);
  }
  entry.users++;
  const joined = entry;
  let released = false;
  return {
    key,
    link: joined.link,
    async release(force = false) {
      if (released) return;
      released = true;
      joined.users--;
      if (joined.users > 0) return;
      if (buses.get(key) === joined) buses.delete(key);
      const closed = joined.link.close(force).finally(() => {
        if (closing.get(key) === closed) closing.delete(key);
      });
      closing.set(key, closed);
      await closed;
    },
  };
}

/** Paths of the buses currently in use and their user counts (diagnostics, tests). */
export function openBuses(): { path: string; users: number; open: boolean }[] {
  return [...buses.entries()].map(([path, entry]) => ({ path, users: entry.users, open: entry.link.isOpen }));
}
