/** A pino logger whose JSON lines the test reads back, parsed, in order. */
import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';

export function capturedLog<T = Record<string, unknown>>(level: Level = 'info'): { log: Logger; lines: T[] } {
  const lines: T[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as T);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}
