/**
 * End to end on the default deployment: the hub's embedded aedes broker with per-gateway
 * credentials, the store on SQLite.
 */
import { addGatewayUser, credentialsFile, startEmbeddedHub } from './support/hub.js';
import { federationSuite } from './support/federation-suite.js';


federationSuite('embedded broker, SQLite store', true, async (dir) => {
  const hub = await startEmbeddedHub({ dir });
  return {
    hub,
    url: hub.broker!.url,
    gatewayAuth: (site, gateway) => addGatewayUser(credentialsFile(dir), site, gateway),
    close: () => hub.stop(),
  };
});
