/**
 * End to end with the hub store on PostgreSQL (a schema of its own, dropped afterwards) behind
 * the embedded broker.
 */
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { addGatewayUser, credentialsFile, openPostgresStore, startEmbeddedHub } from './support/hub.js';
import { federationSuite } from './support/federation-suite.js';

const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

federationSuite('embedded broker, PostgreSQL store', available, async (dir) => {
  const pg = await openPostgresStore();
  const hub = await startEmbeddedHub({ dir, options: { store: pg.store } }).catch(async (err: unknown) => {
    await pg.drop();
    throw err;
  });
  return {
    hub,
    url: hub.broker!.url,
    gatewayAuth: (site, gateway) => addGatewayUser(credentialsFile(dir), site, gateway),
    close: async () => {
      await hub.stop();
      await pg.drop();
    },
  };
});
