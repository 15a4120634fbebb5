/**
 * In-memory executed-set (the default). Bounded: the oldest keys are forgotten first, which is safe
 * because decision ids embed their trigger, and old triggers are not replayed. Persist with the
 * ExecutedSet port when restarts must not re-execute.
 */
import type { ExecutedSet } from '../ports.js';

export class MemoryExecutedSet implements ExecutedSet {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  claim(key: string): Promise<boolean> {
    if (this.keys.has(key)) return Promise.resolve(false);
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    return Promise.resolve(true);
  }

  has(key: string): Promise<boolean> {
    return Promise.resolve(this.keys.has(key));
  }
}
