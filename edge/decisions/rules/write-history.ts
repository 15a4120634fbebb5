/**
 * When each rate-limited output was last written, kept across restarts in a small JSON file in
 * the gateway's data folder: a gateway that restarts (a crash loop, a power blip, an update) must
 * not let a rule switch a compressor more often than its rate limit allows. Written atomically
 * (temp file, then rename) on every recorded write, which the rate limit keeps rare. An unreadable
 * or malformed file is logged and started afresh: the limit then counts from the start, as before.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { errorMessage } from '../../../shared/kit/errors.js';
import type { Logger } from '../../../shared/kit/log.js';

const HistorySchema = Type.Object({
  v: Type.Literal(1),
  /** Output ref (device/point) → times of its writes, ms since the epoch, oldest first. */
  outputs: Type.Record(Type.String(), Type.Array(Type.Number(), { maxItems: 10_000 })),
});
type History = Static<typeof HistorySchema>;

export class WriteHistory {
  private readonly outputs = new Map<string, number[]>();

  /** Without a file, the history lives in memory only. */
  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
  ) {
    if (file) this.load(file);
  }

  /** Writes of `ref` in the last `periodMs` before `now` (times in the future, after a clock step back, count as now). */
  recent(ref: string, periodMs: number, now: number): number[] {
    const kept = (this.outputs.get(ref) ?? []).map((t) => Math.min(t, now)).filter((t) => t > now - periodMs);
    this.outputs.set(ref, kept);
    return kept;
  }

  record(ref: string, ts: number): void {
    this.outputs.set(ref, [...(this.outputs.get(ref) ?? []), ts]);
    if (this.file) this.save(this.file);
  }

  /** Takes back a write recorded at `ts` that never reached the equipment (refused before it was sent). */
  forget(ref: string, ts: number): void {
    const times = this.outputs.get(ref) ?? [];
    const at = times.lastIndexOf(ts);
    if (at < 0) return;
    this.outputs.set(ref, [...times.slice(0, at), ...times.slice(at + 1)]);
    if (this.file) this.save(this.file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file, err: errorMessage(err) }, 'rule write history unreadable; rate limits count from now');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this.log.warn({ file, err: errorMessage(err) }, 'rule write history is not JSON; rate limits count from now');
      return;
    }
    if (!Value.Check(HistorySchema, parsed)) {
      const first = [...Value.Errors(HistorySchema, parsed)][0];
      this.log.warn({ file, field: first?.path, err: first?.message }, 'rule write history malformed; rate limits count from now');
      return;
    }
    for (const [ref, times] of Object.entries(parsed.outputs)) this.outputs.set(ref, times.filter((t) => Number.isFinite(t)));
  }

  private save(file: string): void {
    const doc: History = { v: 1, outputs: Object.fromEntries(this.outputs) };
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(tmp, JSON.stringify(doc));
      renameSync(tmp, file);
    } catch (err) {
      // The write itself went ahead; only a restart's memory of it is at stake.
      this.log.warn({ file, err: errorMessage(err) }, 'could not save the rule write history');
    }
  }
}
