import { featureMigrations } from '../../hub/features.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import { tempDir } from '../support/tmp.js';
import { reviewContract } from './review-contract.js';

reviewContract('sqlite', async () => {
  const dir = tempDir('swarmgate-review-');
  const path = `${dir.path}/hub.db`;
  return {
    connect: async () => SqliteStore.open({ path, migrations: featureMigrations('sqlite') }),
    cleanup: async () => dir.remove(),
  };
});
