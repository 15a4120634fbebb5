/**
 * One request at a time: Modbus RTU is half-duplex, and many Modbus TCP devices (and TCP-to-RTU
 * gateways) mishandle pipelined requests, so each connection runs its jobs strictly in order.
 *
 * An idle queue starts a job at once and hands back the job's own promise, so a poll loop pays no
 * extra promise hops for the queue; only jobs that really wait get a wrapper.
 */
export class SerialQueue {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private count = 0;

  /** Jobs queued or running. */
  get size(): number {
    return this.count;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    this.count++;
    if (!this.busy) {
      this.busy = true;
      return this.start(job);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        this.start(job).then(resolve, reject);
      });
    });
  }

  /** Resolves once every job queued so far has settled. */
  async drain(): Promise<void> {
    await this.run(async () => undefined);
  }

  private start<T>(job: () => Promise<T>): Promise<T> {
    let result: Promise<T>;
    try {
      result = job();
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // The queue moves on whether the job succeeded or failed; the caller handles the outcome.
    result.then(this.next, this.next);
    return result;
  }

  private readonly next = (): void => {
    this.count--;
    const following = this.waiting.shift();
    if (following) following();
    else this.busy = false;
  };
}
