/** The driver contract every protocol passes, for bacnet-ip against bacnet-stack's bacserv. */
import { describe, it } from 'vitest';
import { driverContract } from '../../contract/driver-contract.js';
import { peerOrSkip } from '../../support/peers.js';
import { bacnetStackPeer, driverFor, point, startPeerDevice, type PeerDevice } from './bacnet-stack.js';

if (peerOrSkip(bacnetStackPeer())) {
  let serv: PeerDevice | undefined;
  const readable = [
    point('av1', { objectType: 'analog-value', instance: 1 }),
    point('ai1', { objectType: 'analog-input', instance: 1 }),
    point('bi1', { objectType: 'binary-input', instance: 1 }),
    point('msv1', { objectType: 'multi-state-value', instance: 1 }),
    point('device_name', { objectType: 'device', instance: 1600, property: 'object-name' }),
  ];
  driverContract({
    name: 'bacnet-ip (bacnet-stack bacserv)',
    async setup() {
      serv = await startPeerDevice('bacserv', 1600, 'Contract Device');
      return {
        driver: await driverFor(serv, readable),
        readable,
        writes: [
          { point: point('ao1', { objectType: 'analog-output', instance: 1 }, true), value: 17.25 },
          { point: point('bo1', { objectType: 'binary-output', instance: 1 }, true), value: true },
          { point: point('av2_cov_increment', { objectType: 'analog-value', instance: 1, property: 'cov-increment' }, true), value: 0.5 },
        ],
        missing: point('missing', { objectType: 'analog-input', instance: 77 }),
        teardown: async () => serv?.stop(),
      };
    },
  });
} else {
  // Without the peer there is nothing to run the contract against: a skipped suite says so.
  describe.skip('bacnet-ip driver contract (needs the bacnet-stack peer)', () => {
    it('runs against bacserv', () => undefined);
  });
}
