import { featureMigrations } from '../../hub/features.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import { tempDir } from '../support/tmp.js';
import { reviewContract } from './review-contract.js';

reviewContract('sqlite', async () => {
  const dir = tempDir('swarmgate-review-');
  const path = `${dir.path}/hub.db`;
  return {
    connect: async () => SqliteStore.open({ path, migrations: featureMigrations('sqlite') }),
    scratch: async () => {
      const other = tempDir('swarmgate-review-scratch-');
      return {
        open: async (upTo = Number.MAX_SAFE_INTEGER) => SqliteStore.open({ path: `${other.path}/hub.db`, migrations: featureMigrations('sqlite').filter((m) => m.version <= upTo) }),
        cleanup: async () => other.remove(),
      };
    },
    cleanup: async () => dir.remove(),
  };
});
