/**
 * The feature-migration registry's rules: each feature (review, api, agents, gateway-config,
 * work-orders, quarantine) owns a block of schema versions and gives the same tables for both
 * stores. The list of features is hub/features.ts (one line each); the store applies what it is
 * handed and imports no feature.
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Migration } from '../store/migration.js';

export type { Migration };

export interface FeatureMigrations {
  readonly feature: string;
  /** Inclusive version range this feature owns. */
  readonly versions: readonly [number, number];
  readonly sqlite: readonly Migration[];
  readonly postgres: readonly Migration[];
}

/** The migrations of the given features for one store kind, checked against each feature's range and for overlapping versions. */
export function collectMigrations(kind: 'sqlite' | 'postgres', features: readonly FeatureMigrations[]): Migration[] {
  const seen = new Map<number, string>();
  const out: Migration[] = [];
  for (const f of features) {
    for (const m of f[kind]) {
      const [lo, hi] = f.versions;
      if (m.version < lo || m.version > hi) throw new SwarmgateError('SWG_ERR_INTERNAL', `migration ${m.version} of ${f.feature} is outside its range ${lo}-${hi}`);
      const other = seen.get(m.version);
      if (other) throw new SwarmgateError('SWG_ERR_INTERNAL', `migration version ${m.version} is used by both ${other} and ${f.feature}`);
      seen.set(m.version, f.feature);
      out.push(m);
    }
  }
  return out;
}
