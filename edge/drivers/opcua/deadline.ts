import { SwarmgateError } from '../../../shared/kit/errors.js';

/**
 * node-opcua parks requests issued while the channel is down until its repair finishes, however
 * long that takes; our callers (polls, subscription repair) must get an answer within a bound.
 */
export async function withDeadline<T>(request: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `OPC UA ${what} got no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
