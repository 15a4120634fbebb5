/** Small polling helpers shared by the driver tests. */

/** Polls probe until it returns a value; rejects after timeoutMs naming what it waited for. */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string, stepMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
