/**
 * Turns what modbus-serial throws (exception replies, its own timeout and port errors, socket
 * errors) into SwarmgateErrors, and says which failures are the device's (link-level: count for
 * the circuit breaker, worth a retry) and which are the point's (an exception reply: the device is
 * alive, only that register range is refused).
 */
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';

/** Exception codes of the Modbus application protocol spec, section 7. */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ILLEGAL FUNCTION',
  2: 'ILLEGAL DATA ADDRESS',
  3: 'ILLEGAL DATA VALUE',
  4: 'SERVER DEVICE FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SERVER DEVICE BUSY',
  8: 'MEMORY PARITY ERROR',
  10: 'GATEWAY PATH UNAVAILABLE',
  11: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
};

/** 'ILLEGAL DATA ADDRESS (2)' */
export function exceptionLabel(code: number): string {
  return `${EXCEPTION_NAMES[code] ?? 'UNKNOWN EXCEPTION'} (${code})`;
}

interface LibraryError {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly errno?: unknown;
  readonly code?: unknown;
  readonly modbusCode?: unknown;
}

/**
 * The text of what the library threw. Its own errors (PortNotOpenError, TransactionTimedOutError,
 * ...) are plain objects with a message and a name, not Errors: String() of one is "[object Object]".
 */
function libraryMessage(err: unknown, e: LibraryError): string {
  if (err instanceof Error) return err.message;
  if (typeof e.message === 'string' && e.message !== '') return e.message;
  if (typeof e.name === 'string' && e.name !== '') return e.name;
  return errorMessage(err);
}

/** `what` names the request, e.g. 'reading holding 0+12 of unit 1 at 127.0.0.1:502'. */
export function toModbusError(err: unknown, what: string): SwarmgateError {
  if (isSwarmgateError(err)) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as LibraryError;
  if (typeof e.modbusCode === 'number') {
    return new SwarmgateError('SWG_ERR_DEVICE_EXCEPTION', `${exceptionLabel(e.modbusCode)} ${what}`, {
      cause: err,
      details: { exceptionCode: e.modbusCode },
    });
  }
  const message = libraryMessage(err, e);
  if (e.errno === 'ETIMEDOUT' || message === 'Timed out') {
    return new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `no reply ${what}`, { cause: err });
  }
  if (message === 'Port Not Open') {
    return new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `not connected ${what}`, { cause: err });
  }
  // CRC/length/unexpected-address errors: something answered, but garbled (baud rate, parity,
  // wiring, a second master on the bus). Retryable and counted like an unreachable device.
  return new SwarmgateError('SWG_ERR_DEVICE_UNREACHABLE', `${message} ${what}`, { cause: err });
}

function exceptionCode(err: SwarmgateError): number | undefined {
  const code = err.details.exceptionCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The device answered and refused this register range (illegal function/address/value, device
 * failure). Retrying the same request is pointless; a narrower request may succeed.
 */
export function isPointFailure(err: SwarmgateError): boolean {
  if (err.code !== 'SWG_ERR_DEVICE_EXCEPTION') return false;
  const code = exceptionCode(err);
  return code !== 5 && code !== 6 && code !== 10 && code !== 11;
}

/** Worth another attempt after a backoff: no reply, a dropped link, a busy device or gateway. */
export function isRetryable(err: SwarmgateError): boolean {
  if (err.details.paced === true) return false;
  if (err.code === 'SWG_ERR_DEVICE_EXCEPTION') return !isPointFailure(err) && exceptionCode(err) !== 10;
  return err.code === 'SWG_ERR_DEVICE_TIMEOUT' || err.code === 'SWG_ERR_DEVICE_UNREACHABLE' || err.code === 'SWG_ERR_DEVICE_NOT_CONNECTED';
}

/** The unit did not answer usefully: counts for the circuit breaker and ends a read batch early. */
export function isLinkFailure(err: SwarmgateError): boolean {
  return !isPointFailure(err) && err.code !== 'SWG_ERR_POINT_TYPE' && err.code !== 'SWG_ERR_INTERNAL';
}

/** The `cause` text of a bad reading: code and message. */
export function readingCause(err: SwarmgateError): string {
  return `${err.code}: ${err.message}`;
}
