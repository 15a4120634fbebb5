/**
 * The SQLite store's ingest journal: telemetry payloads appended to numbered segment files before
 * the message is acknowledged, and materialised into SQLite chunks in batches (group commit). A
 * write is one writev of a framed record, about 10 us for an 8 kB batch where an SQLite commit of
 * the same bytes costs about 100 us. Like SQLite's WAL with synchronous=NORMAL, an acknowledged
 * batch survives a crash of the process; surviving power loss needs `fsync: true`.
 *
 * Frame: u32 payload length, u32 CRC-32 of the rest, f64 receivedAt, payload. Recovery reads the
 * segments after the last one materialised and stops at the first torn or corrupt frame (a crash
 * mid-write), which it reports and cuts off.
 *
 * One process owns a journal (a LOCK file holding its pid). Another process opening the same
 * store (the `swarmgate review` CLI beside a running hub) gets no journal and writes through.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER_BYTES = 16;
/** Buffers per writev (Linux IOV_MAX is 1024; two per record). */
const MAX_IOV = 1024;
const SEGMENT = /^(\d{12})\.log$/;
/** Journals held by this process: a LOCK naming our own pid is ours only if listed here. */
const held = new Set<string>();

export interface JournalRecord {
  readonly segment: number;
  readonly receivedAt: number;
  readonly payload: Buffer;
}

export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.log`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class IngestJournal {
  private fd: number;
  private current: number;
  private bytes = 0;
  private closed = false;
  /** An append failed and may have left part of a frame past `bytes`. */
  private partial = false;
  private groups = 0;
  /** Reused for every frame: append() is synchronous. */
  private readonly header = Buffer.alloc(HEADER_BYTES);

  private constructor(
    readonly dir: string,
    private readonly fsync: boolean,
    first: number,
  ) {
    this.current = first;
    this.fd = openSync(join(dir, segmentName(first)), 'a');
    this.syncDir();
  }

  /** With fsync, a new segment's directory entry is made durable too (POSIX does not promise it otherwise). */
  private syncDir(): void {
    if (!this.fsync) return;
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Takes the journal in folder `path` for this process, or returns undefined when another live process
   * holds it. `after` is the last segment already materialised (recorded by the store): new
   * writes go past it and past every segment on disk, so recovery never mistakes a new segment
   * for one it has materialised.
   */
  static acquire(path: string, options: { fsync?: boolean; after?: number } = {}): IngestJournal | undefined {
    mkdirSync(path, { recursive: true });
    // One spelling per folder (relative or absolute, through symlinks), so that `held` knows it.
    const dir = realpathSync(path);
    const lock = join(dir, 'LOCK');
    if (held.has(lock)) return undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
        held.add(lock);
        try {
          const last = Math.max(IngestJournal.segments(dir).at(-1) ?? 0, options.after ?? 0);
          return new IngestJournal(dir, options.fsync ?? false, last + 1);
        } catch (err) {
          // Not started: a lock left held would keep every later open (and its replay) out.
          held.delete(lock);
          rmSync(lock, { force: true });
          throw err;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
        // A lock naming a live process other than us is real; ours (pid reused after a restart
        // in a container) or a dead process's is stale.
        if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) return undefined;
        rmSync(lock, { force: true });
      }
    }
    return undefined;
  }

  /** Segment numbers on disk, ascending. */
  static segments(dir: string): number[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((f) => SEGMENT.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Segments after `flushedThrough` that are not being written: what recovery must replay, oldest first. */
  pending(flushedThrough: number): number[] {
    return IngestJournal.segments(this.dir).filter((segment) => segment > flushedThrough && segment < this.current);
  }

  /**
   * Every intact record of one segment. A torn or corrupt frame ends it: the rest of the file is
   * cut off and reported.
   */
  read(segment: number): { records: JournalRecord[]; torn?: TornTail } {
    const records: JournalRecord[] = [];
    const file = join(this.dir, segmentName(segment));
    const data = readFileSync(file);
    let offset = 0;
    while (offset < data.length) {
      const problem = IngestJournal.frameProblem(data, offset);
      if (problem) {
        const fd = openSync(file, 'r+');
        try {
          ftruncateSync(fd, offset);
        } finally {
          closeSync(fd);
        }
        return { records, torn: { file, offset, reason: problem } };
      }
      const length = data.readUInt32LE(offset);
      records.push({ segment, receivedAt: data.readDoubleLE(offset + 8), payload: data.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length) });
      offset += HEADER_BYTES + length;
    }
    return { records };
  }

  private static frameProblem(data: Buffer, offset: number): string | undefined {
    if (data.length - offset < HEADER_BYTES) return `${data.length - offset} bytes left, less than a frame header`;
    const length = data.readUInt32LE(offset);
    if (data.length - offset - HEADER_BYTES < length) return `frame of ${length} bytes runs past the end of the file`;
    const crc = crc32(data.subarray(offset + 8, offset + HEADER_BYTES + length));
    if (crc !== data.readUInt32LE(offset + 4)) return 'checksum mismatch';
    return undefined;
  }

  /** The segment being written. */
  get segment(): number {
    return this.current;
  }

  /** Bytes written to the current segment. */
  get segmentBytes(): number {
    return this.bytes;
  }

  /** Appends one record; durable against a process crash when this returns. */
  append(receivedAt: number, payload: Uint8Array): void {
    if (this.partial) this.cutPartial();
    const header = this.header; // reused: the hot path allocates nothing
    header.writeUInt32LE(payload.byteLength, 0);
    header.writeDoubleLE(receivedAt, 8);
    header.writeUInt32LE(crc32(payload, crc32(header.subarray(8, 16))), 4);
    this.writeFrames([header, payload], HEADER_BYTES + payload.byteLength);
  }

  /**
   * Appends several records in one write (group commit: one writev, one fsync with `fsync`);
   * all durable against a process crash when this returns. On a failure none counts as written
   * (a partial frame is cut off) and the caller keeps every one unacknowledged.
   */
  appendMany(records: readonly { readonly receivedAt: number; readonly payload: Uint8Array }[]): void {
    if (records.length === 0) return;
    if (records.length === 1) return this.append(records[0]!.receivedAt, records[0]!.payload);
    if (this.partial) this.cutPartial();
    const iov: Uint8Array[] = [];
    let total = 0;
    for (const r of records) {
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      header.writeUInt32LE(r.payload.byteLength, 0);
      header.writeDoubleLE(r.receivedAt, 8);
      header.writeUInt32LE(crc32(r.payload, crc32(header.subarray(8, 16))), 4);
      iov.push(header, r.payload);
      total += HEADER_BYTES + r.payload.byteLength;
    }
    this.writeFrames(iov, total);
    this.groups++;
  }

  /**
   * Writes whole frames: at most IOV_MAX (1024 on Linux) buffers per writev, a short write
   * finished from where it stopped, then fsync when asked. A failed write (disk full) can leave
   * part of a frame; recovery stops at it, which would hide every record appended after it, so
   * it is cut off now (or before the next append).
   */
  private writeFrames(iov: readonly Uint8Array[], total: number): void {
    try {
      let written = 0;
      for (let i = 0; i < iov.length; i += MAX_IOV) {
        const part = iov.slice(i, i + MAX_IOV);
        const want = part.reduce((n, b) => n + b.byteLength, 0);
        let done = writevSync(this.fd, part);
        if (done < want) {
          const all = Buffer.concat(part);
          while (done < want) done += writevSync(this.fd, [all.subarray(done)]);
        }
        written += done;
      }
      if (written !== total) throw new Error(`journal write: ${written} of ${total} bytes`);
      if (this.fsync) fsyncSync(this.fd);
    } catch (err) {
      this.partial = true;
      try {
        this.cutPartial();
      } catch {
        // Retried by the next append.
      }
      throw err;
    }
    this.bytes += total;
  }

  /** Group writes made (appendMany with more than one record), for tests and metrics. */
  get groupWrites(): number {
    return this.groups;
  }

  private cutPartial(): void {
    ftruncateSync(this.fd, this.bytes);
    this.partial = false;
  }

  /** Starts a new segment; returns the one just closed (complete once its records are materialised). */
  rotate(): number {
    const done = this.current;
    // Opened before the old one is closed: if this fails, appends go on to the current segment.
    const fd = openSync(join(this.dir, segmentName(done + 1)), 'a');
    closeSync(this.fd);
    this.fd = fd;
    this.syncDir();
    this.current = done + 1;
    this.bytes = 0;
    this.partial = false;
    return done;
  }

  /** Deletes segments up to and including `through`. */
  discardThrough(through: number): void {
    for (const segment of IngestJournal.segments(this.dir)) {
      if (segment > through) break;
      try {
        rmSync(join(this.dir, segmentName(segment)), { force: true });
      } catch {
        // Left behind, it is skipped on recovery (at or below the materialised mark).
      }
    }
  }

  /** Closes the current segment (deleting it when empty) and releases the lock. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (this.bytes === 0) rmSync(join(this.dir, segmentName(this.current)), { force: true });
    const lock = join(this.dir, 'LOCK');
    held.delete(lock);
    rmSync(lock, { force: true });
  }
}
