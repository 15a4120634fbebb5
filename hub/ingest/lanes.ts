/**
 * Ordered lanes: work keyed by a lane (a gateway) runs one at a time per lane, in the order it was
 * submitted, while different lanes overlap, at most `window` pieces of work at once overall.
 * The embedded broker's hold runs held publishes through it: a gateway's batches are stored (and
 * acknowledged) in the order it sent them, and one gateway waiting on a slow store write does not
 * hold back the others. Work past the window waits its turn in submission order.
 */

/** Default most pieces of work running at once across lanes. */
export const DEFAULT_LANE_WINDOW = 64;

interface Job<T> {
  readonly lane: string;
  readonly run: () => Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (err: unknown) => void;
}

export class OrderedLanes {
  /** lane -> its jobs not started yet (the one running is not in here); present while the lane is busy. */
  private readonly lanes = new Map<string, Job<unknown>[]>();
  /** Lanes with a job waiting only for a free slot of the window, oldest first. */
  private readonly ready: string[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly window: number = DEFAULT_LANE_WINDOW) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`lane window must be a positive integer, got ${window}`);
  }

  /** Pieces of work running now. */
  get running(): number {
    return this.active;
  }

  /** Submitted and not finished (running or waiting), for metrics and tests. */
  get pending(): number {
    let n = this.active;
    for (const q of this.lanes.values()) n += q.length;
    return n;
  }

  /** Runs `run` once every earlier job of `lane` has finished and a slot of the window is free. */
  submit<T>(lane: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = { lane, run, resolve, reject } as Job<unknown>;
      const queue = this.lanes.get(lane);
      if (queue) {
        queue.push(job);
        return;
      }
      // The lane is idle: it is busy from now on with this job.
      this.lanes.set(lane, [job]);
      this.ready.push(lane);
      this.pump();
    });
  }

  /** Resolves once nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.lanes.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < this.window && this.ready.length > 0) {
      const lane = this.ready.shift()!;
      const job = this.lanes.get(lane)!.shift()!;
      this.start(job);
    }
  }

  private start(job: Job<unknown>): void {
    this.active++;
    let result: Promise<unknown>;
    try {
      result = job.run();
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(job.resolve, job.reject).finally(() => {
      this.active--;
      const queue = this.lanes.get(job.lane)!;
      // The lane's next job goes to the back of the ready line: a gateway with a long backlog
      // takes turns with the others instead of keeping its slot.
      if (queue.length > 0) this.ready.push(job.lane);
      else this.lanes.delete(job.lane);
      this.pump();
      if (this.lanes.size === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }
}
