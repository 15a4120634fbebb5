import { startEmbeddedBroker } from '../../hub/broker/embedded.js';
import { upsertUser } from '../../hub/broker/credentials.js';
import { tempDir } from '../support/tmp.js';
import { ingestSuite } from './ingest-suite.js';

ingestSuite('embedded broker', async () => {
  const dir = tempDir('swarmgate-hub-emb-');
  const credentialsFile = `${dir.path}/users.yaml`;
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, maxPayloadBytes: 1024 * 1024 });
  const registered = new Set<string>();
  return {
    url: broker.url,
    hubAuth: { username: broker.internal.username, password: broker.internal.password },
    async gatewayAuth(site, gateway) {
      const username = `${site}.${gateway}`;
      if (!registered.has(username)) {
        await upsertUser(credentialsFile, { role: 'gateway', username, site, gateway }, `${username}-password`, { mosquittoIterations: 101 });
        registered.add(username);
      }
      return { username, password: `${username}-password`, clientId: gateway };
    },
    async close() {
      await broker.close();
      dir.remove();
    },
  };
});
