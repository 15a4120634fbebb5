/**
 * `swarmgate image prepare --image raspios-lite.img --hub URL --token T [--hostname NAME] ...`
 * writes the first-boot files onto a Raspberry Pi OS image (deploy/image/prepare.ts).
 */
import { parseArgs } from 'node:util';
import type { Command } from './commands.js';

const HELP = `usage:
  swarmgate image prepare --image raspios-lite.img --hub https://hub.example:8443 --token TOKEN
                          [--ca-fingerprint sha256:HEX] [--hostname NAME] [--deb dist/swarmgate-edge_V_arm64.deb] [--extra-deb FILE ...]
                          [--wifi-ssid SSID --wifi-password PASS --wifi-country CC]
Writes onto the image's FAT boot partition (found in its MBR; written with mtools, nothing is
mounted) the gateway package and a first-boot script: on its first start the box installs the
package, enrolls with the hub (swarmgate edge enroll) and starts swarmgate-edge. Then flash the
image to a card as usual (Raspberry Pi Imager "Use custom", without OS customisation, or dd).
  --image        a Raspberry Pi OS (bookworm or later) .img file, unpacked; changed in place
  --hub          the hub's URL (https; http only for a loopback hub)
  --token        a one-time enrollment token (swarmgate hub enroll create), or the claim URI from
                 its QR code (it carries the hub and CA fingerprint); removed from the card on first boot
  --ca-fingerprint  the hub CA's sha256 fingerprint printed with the token (a hub with its own CA)
  --hostname     the box's host name (RFC 1123)
  --deb          the swarmgate-edge package, built for arm64/armhf (default: newest in dist/)
  --extra-deb    more packages installed first when the Node.js major the package is built for is missing (sites without internet)
  --wifi-*       a Wi-Fi network (all three together; the key is removed from the card on first boot)
Needs mtools and dpkg-deb (apt-get install mtools dpkg).
`;

async function prepare(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      image: { type: 'string' },
      hub: { type: 'string' },
      token: { type: 'string' },
      'ca-fingerprint': { type: 'string' },
      hostname: { type: 'string' },
      deb: { type: 'string' },
      'extra-deb': { type: 'string', multiple: true },
      'wifi-ssid': { type: 'string' },
      'wifi-password': { type: 'string' },
      'wifi-country': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { prepareImage } = await import('../deploy/image/prepare.js');
  const result = await prepareImage(
    {
      image: values.image,
      hub: values.hub,
      token: values.token,
      caFingerprint: values['ca-fingerprint'],
      hostname: values.hostname,
      deb: values.deb,
      extraDebs: values['extra-deb'] ?? [],
      wifiSsid: values['wifi-ssid'],
      wifiPassword: values['wifi-password'],
      wifiCountry: values['wifi-country'],
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  process.stdout.write(
    [
      `prepared ${values.image ?? ''}: ${result.written.length} files on its boot partition (swarmgate-edge ${result.version}, ${result.arch})`,
      ...result.written.map((p) => `  ${p}`),
      'Flash it to a card, put the card in the gateway and power it up: it installs, enrolls and starts by itself.',
      'Progress (on the card, readable on any PC): swarmgate/status.txt on the boot partition.',
    ].join('\n') + '\n',
  );
  return 0;
}

export const imageCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'prepare') return prepare(args.slice(1));
    process.stdout.write(HELP);
    return args[0] === '--help' || args[0] === '-h' ? 0 : 2;
  },
};
