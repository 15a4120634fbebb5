import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { ingestSuite } from './ingest-suite.js';

// The machine's Mosquitto (anonymous access); unique sites and share groups keep runs apart.
const available = peerOrSkip(await tcpPeer('127.0.0.1', 1883, 'mosquitto'));

ingestSuite(
  'external Mosquitto',
  async () => ({
    url: 'mqtt://127.0.0.1:1883',
    hubAuth: {},
    gatewayAuth: async () => ({}),
    close: async () => undefined,
  }),
  available,
);
