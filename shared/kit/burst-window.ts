/**
 * A burst window: the first item after a quiet spell goes out at once, on its own; what follows
 * within the window is folded into one summary sent at the window's end. A site's network dropping
 * takes thousands of gateways with it within a second: one line, one live event or one
 * notification each would be noise that costs the most exactly when the hub is busiest. Memory is
 * the summary's, whatever the burst's size.
 */
export interface BurstWindowOptions<T, S> {
  readonly windowMs: number;
  /** The first item of a quiet spell. */
  readonly single: (item: T) => void;
  /** A new, empty summary. */
  readonly start: () => S;
  /** Folds one more item of the window into its summary. */
  readonly add: (summary: S, item: T) => void;
  /** The window's summary, when it folded at least one item. */
  readonly summary: (summary: S, items: number) => void;
}

export class BurstWindow<T, S> {
  private timer: NodeJS.Timeout | undefined;
  private folded: S | undefined;
  private items = 0;

  constructor(private readonly options: BurstWindowOptions<T, S>) {
    if (!(options.windowMs > 0)) throw new RangeError(`burst window must be a positive number of ms, got ${options.windowMs}`);
  }

  push(item: T): void {
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.options.windowMs);
      this.timer.unref();
      this.options.single(item);
      return;
    }
    this.folded ??= this.options.start();
    this.options.add(this.folded, item);
    this.items++;
  }

  /** Sends the window's summary now (when there is one) and starts a quiet spell. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const folded = this.folded;
    const items = this.items;
    this.folded = undefined;
    this.items = 0;
    if (folded !== undefined && items > 0) this.options.summary(folded, items);
  }
}
