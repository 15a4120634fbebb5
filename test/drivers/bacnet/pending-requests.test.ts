/**
 * Replies are matched to the device a request went to, not by invoke id alone: a reply from
 * another device carrying the invoke id of a pending request (a slow device answering late, or an
 * id that came round again) never settles that request with its values. Three real library
 * clients on loopback UDP ports: the gateway's (with the driver's request table installed), the
 * device asked, and a stranger that answers first with the same invoke id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPendingRequests } from '../../../edge/drivers/bacnet/pending-requests.js';
import { ApplicationTag, ObjectType, PropertyIdentifier, newBacnetClient, type BacnetClient } from '../../../devices/bacnet/bacnet-lib.js';
import { freeUdpPort } from '../../support/bacnet-stack.js';

describe('bacnet-ip pending requests', () => {
  const clients: BacnetClient[] = [];
  let gateway: BacnetClient;
  let device: BacnetClient;
  let stranger: BacnetClient;
  let devicePort = 0;

  beforeAll(async () => {
    const [g, d, s] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    devicePort = d;
    gateway = newBacnetClient({ port: g, interface: '127.0.0.1', apduTimeout: 2000 });
    device = newBacnetClient({ port: d, interface: '127.0.0.1', apduTimeout: 2000 });
    stranger = newBacnetClient({ port: s, interface: '127.0.0.1', apduTimeout: 2000 });
    clients.push(gateway, device, stranger);
    installPendingRequests(gateway, 2000);
    await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(() => {
    for (const c of clients) c.close();
  });

  it("ignores a stranger's reply with the invoke id of a pending request and takes the device's own", async () => {
    const objectId = { type: ObjectType.ANALOG_VALUE, instance: 1 };
    const property = { id: PropertyIdentifier.PRESENT_VALUE, index: 0xffffffff };
    device.on('readProperty', (req) => {
      const sender = req.header?.sender;
      const invokeId = req.invokeId ?? 0;
      if (!sender) return;
      // The stranger answers first, with the same invoke id and another value...
      stranger.readPropertyResponse(sender, invokeId, objectId, property, [{ type: ApplicationTag.REAL, value: 666 }]);
      // ...then the device asked gives its own answer.
      setTimeout(() => device.readPropertyResponse(sender, invokeId, objectId, property, [{ type: ApplicationTag.REAL, value: 21.5 }]), 100);
    });
    const ack = await gateway.readProperty({ address: `127.0.0.1:${devicePort}` }, objectId, PropertyIdentifier.PRESENT_VALUE);
    expect(ack.values[0]?.value).toBe(21.5);
  });
});
