/**
 * What a feature hands the migration registry (hub/db/migrations.ts): its block of schema
 * versions, with the same tables for both stores. Features import only this file from hub/db's
 * registry side, so the registry can import them without a loop.
 */
import type { Migration } from '../store/sqlite-migrations.js';

export type { Migration };

export interface FeatureMigrations {
  readonly feature: string;
  /** Inclusive version range this feature owns. */
  readonly versions: readonly [number, number];
  readonly sqlite: readonly Migration[];
  readonly postgres: readonly Migration[];
}
