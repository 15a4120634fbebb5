/**
 * `swarmgate image prepare`: writes onto a Raspberry Pi OS image's FAT boot partition what a new
 * gateway needs to install itself and enroll on its first boot, so a technician flashes a card
 * and plugs the box in. Nothing is mounted: the partition is found in the image's MBR (mbr.ts)
 * and written with mtools (fat.ts).
 *
 * On the boot partition:
 *   swarmgate/firstrun.sh                  stage 1, run once by systemd from cmdline.txt (boot/firstrun.sh)
 *   swarmgate/firstboot.sh, swarmgate-firstboot.service   stage 2: package, enrollment, service
 *   swarmgate/firstboot.conf               HUB=, DEB=, NODE_MAJOR=, CA_FINGERPRINT=, HOSTNAME= (no secrets)
 *   swarmgate/enroll-token                 the one-time token (secret; moved off the card by stage 1)
 *   swarmgate/wifi.conf                    SSID=, PSK=, COUNTRY= (secret; removed by stage 1)
 *   swarmgate/debs/<package>.deb, debs/extra/*.deb   the gateway package (and e.g. Node.js for offline sites)
 *   cmdline.txt                            + systemd.run=/boot/firmware/swarmgate/firstrun.sh ...
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { EnrollmentBootstrapSchema } from '../../edge/enrollment/schema.js';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { packageRoot } from '../../shared/kit/package-info.js';
import { ENROLL_TOKEN_PREFIX, parseEnrollClaimUri, parseEnrollToken } from '../../shared/wire/enrollment.js';
import { FatPartition } from './fat.js';
import { findBootPartition, type MbrPartition } from './mbr.js';

/** Where Raspberry Pi OS (bookworm and later) mounts the boot partition. */
export const BOOT_MOUNT = '/boot/firmware';
export const PAYLOAD_DIR = '/swarmgate';
export const FIRSTRUN_ARGS = [`systemd.run=${BOOT_MOUNT}${PAYLOAD_DIR}/firstrun.sh`, 'systemd.run_success_action=reboot', 'systemd.unit=kernel-command-line.target'];

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1-63 characters each. */
const HOSTNAME_PATTERN = '^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';

export const ImagePrepareSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, description: 'the Raspberry Pi OS image file (.img), changed in place' }),
    hub: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'the hub URL the gateway enrolls with: https (http only for a loopback hub); may come from a claim URI given as --token' })),
    token: Type.String({ minLength: 1, maxLength: 4096, description: `the one-time enrollment token (${ENROLL_TOKEN_PREFIX}.<id>.<secret>) or the claim URI from its QR code (swarmgate://enroll?...)` }),
    caFingerprint: Type.Optional(Type.String({ pattern: EnrollmentBootstrapSchema.properties.caFingerprint.pattern, description: "sha256:<hex> fingerprint of the hub's CA certificate, as printed with the token" })),
    hostname: Type.Optional(Type.String({ pattern: HOSTNAME_PATTERN, description: 'RFC 1123 host name: labels of letters, digits and inner hyphens (1-63 characters), at most 253 in all' })),
    deb: Type.Optional(Type.String({ minLength: 1, description: 'the swarmgate-edge .deb (default: the newest under dist/)' })),
    extraDebs: Type.Array(Type.String({ minLength: 1 }), { description: 'packages installed first when Node.js is missing (e.g. nodejs and its dependencies)' }),
    wifiSsid: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[^\\x00-\\x1f\\x7f]*$', description: '1-32 characters, no control characters' })),
    wifiPassword: Type.Optional(Type.String({ pattern: '^(?:[\\x20-\\x7e]{8,63}|[0-9A-Fa-f]{64})$', description: 'WPA2 passphrase: 8-63 printable ASCII characters (or 64 hex digits)' })),
    wifiCountry: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166 country code in capitals, e.g. DE' })),
  },
  { additionalProperties: false },
);
export type ImagePrepareOptions = Static<typeof ImagePrepareSchema>;

/** Option names as the technician types them, for error messages. */
const FLAG: Record<keyof ImagePrepareOptions, string> = {
  image: '--image',
  hub: '--hub',
  token: '--token',
  caFingerprint: '--ca-fingerprint',
  hostname: '--hostname',
  deb: '--deb',
  extraDebs: '--extra-deb',
  wifiSsid: '--wifi-ssid',
  wifiPassword: '--wifi-password',
  wifiCountry: '--wifi-country',
};

function refuse(field: keyof ImagePrepareOptions, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_CLI_USAGE', `${FLAG[field]}: ${message}`, { hint: '`swarmgate image prepare --help` lists the options' });
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** The hub URL: https, or http to a loopback hub (tests); no credentials, query or fragment. */
export function checkHubUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('hub', `"${text}" is not a URL (e.g. https://hub.example:8443)`);
  }
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) throw refuse('hub', `must be https:// (plain http only for a loopback hub, in tests), got ${url.protocol}//${url.host}`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('hub', `must be https://, got ${url.protocol}`);
  if (url.username || url.password) throw refuse('hub', 'must not contain a user name or password');
  if (url.search || url.hash) throw refuse('hub', 'must not have a query (?...) or fragment (#...)');
  return url.href.replace(/\/$/, '');
}

/** Checks every option; the first problem is thrown naming its option. */
export function checkOptions(input: unknown): ImagePrepareOptions {
  for (const error of Value.Errors(ImagePrepareSchema, input)) {
    const field = error.path.split('/')[1] as keyof ImagePrepareOptions | undefined;
    if (field && field in FLAG) {
      const schema = ImagePrepareSchema.properties[field] as { description?: string };
      throw refuse(field, `${error.value === undefined ? 'is required' : 'is not valid'}${schema.description ? ` (${schema.description})` : ''}`);
    }
    throw new SwarmgateError('SWG_ERR_CLI_USAGE', `${error.path || 'options'}: ${error.message}`);
  }
  const options = input as ImagePrepareOptions;
  // The token as typed, or the claim URI scanned from the sticker (hub and CA fingerprint with it).
  const claim = parseEnrollClaimUri(options.token.trim());
  const token = claim?.token ?? options.token.trim();
  if (!parseEnrollToken(token)) throw refuse('token', `not an enrollment token (expected ${ENROLL_TOKEN_PREFIX}.<id>.<secret> as \`swarmgate hub enroll create\` prints it, or its swarmgate://enroll claim URI)`);
  const hubText = options.hub ?? claim?.hub;
  if (!hubText) throw refuse('hub', 'is required (the token is not a claim URI carrying it)');
  const hub = checkHubUrl(hubText);
  const caFingerprint = options.caFingerprint ?? claim?.ca;
  if (caFingerprint !== undefined && !new RegExp(EnrollmentBootstrapSchema.properties.caFingerprint.pattern ?? '').test(caFingerprint)) {
    throw refuse('caFingerprint', 'the claim URI\'s ca= is not a sha256:<64 hex digits> fingerprint');
  }
  const wifi = [options.wifiSsid, options.wifiPassword, options.wifiCountry];
  if (wifi.some((v) => v !== undefined) && wifi.some((v) => v === undefined)) {
    const missing = (['wifiSsid', 'wifiPassword', 'wifiCountry'] as const).find((k) => options[k] === undefined) ?? 'wifiSsid';
    throw refuse(missing, 'Wi-Fi needs --wifi-ssid, --wifi-password and --wifi-country together');
  }
  if (!existsSync(options.image) || !statSync(options.image).isFile()) throw refuse('image', `${options.image} is not a file`);
  return { ...options, hub, token, ...(caFingerprint ? { caFingerprint } : {}) };
}

/** The newest swarmgate-edge_*.deb in a folder (by modification time). */
export function newestDeb(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const debs = readdirSync(dir)
    .filter((n) => /^swarmgate-edge_.+\.deb$/.test(n))
    .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return debs[0]?.path;
}

/** A field of a package's control file ('' when it has none); a file that is no package is refused under `option`. */
function debField(file: string, field: string, option: 'deb' | 'extraDebs' = 'deb'): Promise<string> {
  return new Promise((done, reject) => {
    execFile('dpkg-deb', ['-f', file, field], (err, stdout, stderr) => {
      if (!err) return done(stdout.trim());
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new SwarmgateError('SWG_ERR_IMAGE_TOOL', 'dpkg-deb not found (dpkg is not installed)', { cause: err }));
      reject(refuse(option, `${file} is not a Debian package: ${stderr.trim() || errorMessage(err)}`));
    });
  });
}

/**
 * The Node.js major the package's native modules are built for, from its control file's
 * `Recommends: nodejs (>= N), nodejs (<< N+1)` (deploy/package/layout.ts); undefined when it says none.
 */
export function packageNodeMajor(recommends: string): number | undefined {
  const match = /(?:^|[,|])\s*nodejs\s*\(\s*>=\s*(\d+)(?:[.~+:-][^)]*)?\)/.exec(recommends);
  return match ? Number(match[1]) : undefined;
}

/** The major of a nodejs package's version (22.11.0-1nodesource1, 20.19.2+dfsg-1, an epoch 1:22.3.0-1). */
export function nodeVersionMajor(version: string): number | undefined {
  const match = /^(?:\d+:)?(\d+)(?:[.~+-]|$)/.exec(version);
  return match ? Number(match[1]) : undefined;
}

/** Raspberry Pi OS architectures (64-bit and 32-bit). */
const PI_ARCHES = new Set(['arm64', 'armhf']);

/** A Debian package file name (it goes into firstboot.conf and onto the FAT partition as it is). */
const DEB_NAME = /^[A-Za-z0-9][A-Za-z0-9.+~_-]*\.deb$/;

async function checkDeb(file: string): Promise<{ arch: string; version: string; nodeMajor: number | undefined }> {
  if (!existsSync(file) || !statSync(file).isFile()) throw refuse('deb', `${file} is not a file`);
  if (!DEB_NAME.test(basename(file))) throw refuse('deb', `"${basename(file)}" is not a Debian package file name (letters, digits, . + ~ _ -, ending in .deb)`);
  const name = await debField(file, 'Package');
  if (name !== 'swarmgate-edge') throw refuse('deb', `${file} is the package "${name}", not swarmgate-edge`);
  const arch = await debField(file, 'Architecture');
  if (!PI_ARCHES.has(arch)) {
    throw refuse('deb', `${basename(file)} is built for ${arch}; a Raspberry Pi needs arm64 (or armhf): build the package on the Pi's architecture (npm run package:deb on a Pi or an arm64 machine)`);
  }
  return { arch, version: await debField(file, 'Version'), nodeMajor: packageNodeMajor(await debField(file, 'Recommends')) };
}

/**
 * A nodejs package given with --extra-deb must be the major the gateway package is built for: its
 * postinst refuses any other (the native modules' ABI), and the first boot could not finish.
 */
async function checkExtraNode(extra: string, deb: string, nodeMajor: number): Promise<void> {
  if ((await debField(extra, 'Package', 'extraDebs')) !== 'nodejs') return;
  const version = await debField(extra, 'Version', 'extraDebs');
  const major = nodeVersionMajor(version);
  if (major === nodeMajor) return;
  throw refuse(
    'extraDebs',
    `${basename(extra)} is Node.js ${version}, but ${basename(deb)} is built for Node.js ${nodeMajor} (its native modules load in no other major: the package would not install and the first boot would not finish): give nodejs ${nodeMajor} (e.g. node_${nodeMajor}.x from NodeSource) and its dependencies, or a package built with Node.js ${major ?? version} (npm run package:deb)`,
  );
}

/** cmdline.txt with the first-boot arguments added (or replaced, when the image was prepared before). */
export function withFirstrun(cmdline: string): string {
  const line = (cmdline.split('\n')[0] ?? '').trim();
  if (!line) throw new SwarmgateError('SWG_ERR_IMAGE_INVALID', 'cmdline.txt on the boot partition is empty');
  const args = line.split(/\s+/);
  const foreign = args.find((a) => a.startsWith('systemd.run=') && !a.endsWith(`${PAYLOAD_DIR}/firstrun.sh`));
  if (foreign) {
    throw new SwarmgateError('SWG_ERR_IMAGE_INVALID', `cmdline.txt already runs another first-boot script (${foreign}), e.g. from Raspberry Pi Imager's OS customisation`, {
      hint: 'write a fresh image without OS customisation, then prepare it; the hostname and Wi-Fi can be given to swarmgate image prepare',
    });
  }
  const kept = args.filter((a) => !a.startsWith('systemd.run=') && !a.startsWith('systemd.run_success_action=') && a !== 'systemd.unit=kernel-command-line.target');
  return `${[...kept, ...FIRSTRUN_ARGS].join(' ')}\n`;
}

export interface PrepareResult {
  readonly partition: MbrPartition;
  readonly deb: string;
  readonly arch: string;
  readonly version: string;
  /** Paths written on the boot partition. */
  readonly written: readonly string[];
}

/** Where the first-boot scripts are: deploy/image/boot in a checkout and in the installed package. */
export function bootFilesDir(): string {
  return join(packageRoot(), 'deploy', 'image', 'boot');
}

export async function prepareImage(input: unknown, progress: (line: string) => void = () => undefined): Promise<PrepareResult> {
  const options = checkOptions(input);
  const deb = options.deb ?? newestDeb(join(packageRoot(), 'dist'));
  if (!deb) throw refuse('deb', `no swarmgate-edge_*.deb under ${join(packageRoot(), 'dist')}: build one (npm run package:deb on the Pi's architecture) or name it with --deb`);
  const { arch, version, nodeMajor } = await checkDeb(deb);
  for (const extra of options.extraDebs) {
    if (!existsSync(extra) || !statSync(extra).isFile() || !DEB_NAME.test(basename(extra))) throw refuse('extraDebs', `${extra} is not a .deb file (letters, digits, . + ~ _ - in its name)`);
    if (nodeMajor !== undefined) await checkExtraNode(extra, deb, nodeMajor);
  }

  const partition = findBootPartition(options.image, statSync(options.image).size);
  const fat = new FatPartition(options.image, partition.offset);
  progress(`boot partition: partition ${partition.index} at byte ${partition.offset} (${Math.round(partition.bytes / 1024 / 1024)} MiB)`);
  const cmdline = withFirstrun((await fat.read('/cmdline.txt').catch((err: unknown) => {
    throw new SwarmgateError('SWG_ERR_IMAGE_INVALID', `${options.image}: no cmdline.txt on the FAT partition ${partition.index}; is this a Raspberry Pi OS image (bookworm or later)?`, { cause: err });
  })).toString('utf8'));

  const written: string[] = [];
  const put = async (path: string, data: string | Uint8Array): Promise<void> => {
    await fat.write(path, data);
    written.push(path);
  };
  const copy = async (local: string, path: string): Promise<void> => {
    progress(`copying ${basename(local)} (${(statSync(local).size / 1024 / 1024).toFixed(1)} MiB)`);
    await fat.copyIn(local, path);
    written.push(path);
  };

  await fat.mkdir(PAYLOAD_DIR);
  await fat.mkdir(`${PAYLOAD_DIR}/debs`);
  // A card prepared before: its old packages go, so stage 2 installs the one named in firstboot.conf.
  for (const old of (await fat.list(`${PAYLOAD_DIR}/debs`)) ?? []) if (old.endsWith('.deb')) await fat.remove(`${PAYLOAD_DIR}/debs/${old}`);
  await copy(deb, `${PAYLOAD_DIR}/debs/${basename(deb)}`);
  if (options.extraDebs.length) {
    await fat.mkdir(`${PAYLOAD_DIR}/debs/extra`);
    for (const extra of options.extraDebs) await copy(extra, `${PAYLOAD_DIR}/debs/extra/${basename(extra)}`);
  }
  const boot = bootFilesDir();
  for (const file of ['firstrun.sh', 'firstboot.sh', 'swarmgate-firstboot.service']) await copy(join(boot, file), `${PAYLOAD_DIR}/${file}`);
  const conf = [
    `HUB=${options.hub ?? ''}`,
    `DEB=${basename(deb)}`,
    // The first boot installs and accepts only this Node.js major (the package's postinst refuses others).
    ...(nodeMajor !== undefined ? [`NODE_MAJOR=${nodeMajor}`] : []),
    ...(options.caFingerprint ? [`CA_FINGERPRINT=${options.caFingerprint}`] : []),
    ...(options.hostname ? [`HOSTNAME=${options.hostname}`] : []),
  ];
  await put(`${PAYLOAD_DIR}/firstboot.conf`, `${conf.join('\n')}\n`);
  await put(`${PAYLOAD_DIR}/enroll-token`, `${options.token}\n`);
  if (options.wifiSsid !== undefined) {
    await put(`${PAYLOAD_DIR}/wifi.conf`, `SSID=${options.wifiSsid}\nPSK=${options.wifiPassword ?? ''}\nCOUNTRY=${options.wifiCountry ?? ''}\n`);
  } else {
    await fat.remove(`${PAYLOAD_DIR}/wifi.conf`);
  }
  await fat.remove(`${PAYLOAD_DIR}/status.txt`);
  // Last: only a card with every file in place runs the first-boot script.
  await put('/cmdline.txt', cmdline);
  return { partition, deb, arch, version, written };
}
