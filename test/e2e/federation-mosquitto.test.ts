/**
 * End to end through the machine's Mosquitto: the hub in external mode with a shared-subscription
 * group of its own, ingesting only this run's site; the gateway connects to Mosquitto. Retained
 * state documents and persistent sessions are removed afterwards.
 */
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { MOSQUITTO, cleanMosquitto, startExternalHub } from './support/hub.js';
import { federationSuite } from './support/federation-suite.js';
import { uniqueId } from './support/util.js';

const available = peerOrSkip(await tcpPeer(MOSQUITTO.host, MOSQUITTO.port, 'mosquitto'));

federationSuite('Mosquitto (hub in external mode), SQLite store', available, async (dir, site, gateway) => {
  const hub = await startExternalHub({ dir, url: MOSQUITTO.url, shareGroup: uniqueId('grp'), options: { sites: [site] } });
  return {
    hub,
    url: MOSQUITTO.url,
    gatewayAuth: async () => ({}),
    close: async () => {
      await hub.stop();
      await cleanMosquitto(site, [gateway]);
    },
  };
});
