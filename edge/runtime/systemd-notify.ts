/**
 * The systemd notify protocol (sd_notify(3)): newline-separated `KEY=VALUE` assignments in one
 * datagram to the AF_UNIX socket named by `$NOTIFY_SOCKET`. Node has no Unix datagram sockets, so
 * this uses the optional native `unix-dgram` package. Without `$NOTIFY_SOCKET` (not under a
 * Type=notify unit) nothing is sent; with it but no way to send, starting fails at once with the
 * reason, instead of systemd killing a gateway that never said READY=1 after TimeoutStartSec=.
 *
 * The watchdog settings come from the environment as systemd sets them: `$WATCHDOG_USEC` (the
 * unit's WatchdogSec=) and `$WATCHDOG_PID` (only that process may pet it).
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { errorMessage, SwarmgateError } from '../../shared/kit/errors.js';

export interface ServiceNotifier {
  /** Sends one state message, e.g. `{ READY: '1', STATUS: '4/4 devices up' }`. Never throws. */
  notify(state: Readonly<Record<string, string>>): void;
  close(): void;
}

export interface NotifyEnvironment {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

interface UnixDgramSocket {
  on(event: 'error', listener: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  close(): void;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

function loadUnixDgram(): UnixDgramModule | Error {
  try {
    return createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** One `KEY=VALUE` line per entry; keys and values must not hold a newline (a value would split). */
export function encodeNotifyState(state: Readonly<Record<string, string>>): Buffer {
  const lines = Object.entries(state).map(([key, value]) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new Error(`sd_notify key "${key}" is not an upper-case name`);
    return `${key}=${value.replace(/[\r\n]+/g, ' ')}`;
  });
  return Buffer.from(lines.join('\n'));
}

/**
 * The notifier for this process, or undefined when the service manager did not ask for one (no
 * `$NOTIFY_SOCKET`). Throws SWG_ERR_SERVICE_NOTIFY when it asked but cannot be answered.
 */
export function openServiceNotifier(env: NotifyEnvironment, log: Logger): ServiceNotifier | undefined {
  const path = env.NOTIFY_SOCKET;
  if (!path) return undefined;
  if (path.startsWith('@')) {
    throw new SwarmgateError('SWG_ERR_SERVICE_NOTIFY', `NOTIFY_SOCKET=${path} is an abstract socket, which unix-dgram cannot address`);
  }
  const lib = loadUnixDgram();
  if (lib instanceof Error) {
    throw new SwarmgateError('SWG_ERR_SERVICE_NOTIFY', `NOTIFY_SOCKET is set but the optional package unix-dgram does not load: ${lib.message}`);
  }
  const socket = lib.createSocket('unix_dgram');
  let lastError: string | undefined;
  const report = (err: Error): void => {
    // A service manager that restarted or a socket that vanished: say so once per distinct cause.
    if (err.message === lastError) return;
    lastError = err.message;
    log.warn({ notifySocket: path, err: errorMessage(err) }, 'service manager notification failed');
  };
  socket.on('error', report);
  let closed = false;
  return {
    notify(state) {
      if (closed) return;
      const message = encodeNotifyState(state);
      socket.send(message, 0, message.length, path, (err) => {
        if (err) report(err);
        else lastError = undefined;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

/**
 * The watchdog period systemd expects for this process, in milliseconds, or undefined when the
 * unit has no WatchdogSec= or it is meant for another process (`$WATCHDOG_PID`).
 */
export function watchdogTimeoutMs(env: NotifyEnvironment, pid = process.pid): number | undefined {
  if (!env.WATCHDOG_USEC) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  return usec / 1000;
}
