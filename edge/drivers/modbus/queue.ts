/**
 * One request at a time: Modbus RTU is half-duplex, and many Modbus TCP devices (and TCP-to-RTU
 * gateways) mishandle pipelined requests, so each connection runs its jobs strictly in order.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Jobs queued or running. */
  get size(): number {
    return this.waiting;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(job, job);
    // The chain must survive a failed job, and must not hold results longer than needed.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.waiting--;
    });
  }

  /** Resolves once every job queued so far has settled. */
  async drain(): Promise<void> {
    await this.run(async () => undefined);
  }
}
