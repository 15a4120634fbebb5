import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { queuedBatches } from './helpers.js';
import { Outbox } from '../../../edge/federation/outbox.js';
import { tempDir } from '../../support/tmp.js';

const fixture = fileURLToPath(new URL('./fixtures/outbox-writer.ts', import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Runs the writer until it reports `atLeast` committed readings, then SIGKILLs it. */
function runAndKill(path: string, flushMs: number, atLeast: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, String(flushMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let committed = 0;
    let rest = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^committed (\d+)$/.exec(line);
        if (m) committed = Number(m[1]);
      }
      if (committed >= atLeast && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(committed) : reject(new Error(`writer exited without being killed (${signal ?? _code})`))));
    child.on('error', reject);
  });
}

function readValues(path: string): number[] {
  const box = new Outbox({ path, site: 'site-a', gateway: 'gw-kill' });
  try {
    return queuedBatches(box).flatMap((b) => b.readings.map((x) => x.v as number));
  } finally {
    box.close();
  }
}

describe('outbox survives SIGKILL', () => {
  it.each([
    { mode: 'batched (flushMs 50)', flushMs: 50 },
    { mode: 'strict (flushMs 0)', flushMs: 0 },
  ])('$mode: every reading reported committed is there after the kill, in order', async ({ flushMs }) => {
    const dir = tempDir('swg-kill-');
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'outbox.sqlite');
    const committed = await runAndKill(path, flushMs, 1500);
    const values = readValues(path);
    expect(committed).toBeGreaterThanOrEqual(1500);
    // nothing reported committed is lost; the readings are exactly 0..n-1 in order (no holes, no repeats)
    expect(values.length).toBeGreaterThanOrEqual(committed);
    expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i));
  });
});
