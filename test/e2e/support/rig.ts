/**
 * The usual setting of an end-to-end file: a busy simulated facility and an embedded hub (broker
 * with a credentials file in `dir`), started before the file's tests and stopped after them,
 * together with whatever the tests pushed onto `cleanups` (run first, newest first).
 */
import { afterAll, beforeAll } from 'vitest';
import type { Facility } from '../../../devices/facility.js';
import type { Hub } from '../../../hub/index.js';
import { tempDir } from '../../support/tmp.js';
import { startBusyFacility } from './facility.js';
import { startEmbeddedHub } from './hub.js';

export interface EmbeddedRig {
  readonly dir: { readonly path: string };
  readonly cleanups: (() => Promise<void>)[];
  /** Available once beforeAll has run. */
  readonly facility: Facility;
  readonly hub: Hub;
}

/** Registers beforeAll/afterAll in the calling file; `seed` picks the facility's noise. */
export function embeddedRig(dirPrefix: string, seed: number): EmbeddedRig {
  const dir = tempDir(dirPrefix);
  const cleanups: (() => Promise<void>)[] = [];
  let facility: Facility | undefined;
  let hub: Hub | undefined;

  beforeAll(async () => {
    facility = await startBusyFacility(seed);
    hub = await startEmbeddedHub({ dir: dir.path });
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await hub?.stop();
    await facility?.stop();
    dir.remove();
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started yet (use it inside tests or hooks)`);
    return value;
  };
  return {
    dir,
    cleanups,
    get facility() {
      return started(facility, 'the facility');
    },
    get hub() {
      return started(hub, 'the hub');
    },
  };
}
