/**
 * `swarmgate image prepare` on a FAT image the test builds itself: an MBR written here
 * (deploy/image/mbr.ts buildMbr), mkfs.vfat at the partition's offset, a cmdline.txt like
 * Raspberry Pi OS's; the written files are read back with mtools, independently of fat.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { buildMbr, findBootPartition, parseMbr, SECTOR_BYTES } from '../../deploy/image/mbr.js';
import { nodeVersionMajor, packageNodeMajor, prepareImage, withFirstrun, FIRSTRUN_ARGS, type ImagePrepareOptions } from '../../deploy/image/prepare.js';
import { deployToolsPeer } from '../support/deploy-tools.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = `swg-enroll-v1.abcdef123456.${'A'.repeat(40)}b_-`;
const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot';
const BOOT_LBA = 8192;
const BOOT_SECTORS = 48 * 2048; // 48 MiB

const dir = tempDir('swarmgate-image-');
afterAll(() => dir.remove());

/** A Raspberry-Pi-OS-shaped image: MBR, FAT32 boot partition with cmdline.txt, a (blank) Linux partition. */
function makeImage(name: string, cmdline = CMDLINE): string {
  const image = join(dir.path, name);
  const fd = openSync(image, 'w');
  ftruncateSync(fd, (BOOT_LBA + BOOT_SECTORS + 8192) * SECTOR_BYTES);
  writeSync(fd, buildMbr([{ type: 0x0c, firstLba: BOOT_LBA, sectors: BOOT_SECTORS }, { type: 0x83, firstLba: BOOT_LBA + BOOT_SECTORS, sectors: 8192 }]), 0, SECTOR_BYTES, 0);
  closeSync(fd);
  execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '-n', 'bootfs', `--offset=${BOOT_LBA}`, image, String((BOOT_SECTORS * SECTOR_BYTES) / 1024)], { stdio: 'ignore' });
  const local = join(dir.path, `${name}.cmdline.txt`);
  writeFileSync(local, `${cmdline}\n`);
  mtools('mcopy', image, [local, '::/cmdline.txt']);
  mtools('mcopy', image, [join(ROOT, 'README.md'), '::/config.txt']);
  return image;
}

function mtools(tool: string, image: string, args: string[]): Buffer {
  return execFileSync(tool, ['-i', `${image}@@${BOOT_LBA * SECTOR_BYTES}`, ...args], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
}
const readBack = (image: string, path: string): string => mtools('mtype', image, [`::${path}`]).toString('utf8');
const names = (image: string, path: string): string[] =>
  mtools('mdir', image, ['-b', `::${path}`])
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((p) => p.split('/').filter(Boolean).pop() ?? '');

/** A real (tiny) package with the gateway's name, for the architecture given; recommends: its Recommends field (build-deb.ts names the Node.js major there). */
function makeDeb(arch: string, packageName = 'swarmgate-edge', { version = '0.1.0', recommends }: { version?: string; recommends?: string } = {}): string {
  const root = join(dir.path, `deb-${packageName}-${version}-${arch}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'opt', 'swarmgate'), { recursive: true });
  writeFileSync(join(root, 'opt', 'swarmgate', 'VERSION'), `${version}\n`);
  writeFileSync(join(root, 'DEBIAN', 'control'), `Package: ${packageName}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: test <t@localhost>\n${recommends ? `Recommends: ${recommends}\n` : ''}Description: test package\n`);
  const file = join(dir.path, `${packageName}_${version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Znone', '--build', root, file], { stdio: 'ignore' });
  return file;
}

function options(image: string, deb: string, more: Partial<ImagePrepareOptions> = {}): ImagePrepareOptions {
  return { image, hub: 'https://hub.example:8443', token: TOKEN, deb, extraDebs: [], ...more };
}

async function refused(input: unknown): Promise<string> {
  try {
    await prepareImage(input);
  } catch (err) {
    if (isSwarmgateError(err)) return `${err.code} ${err.message}`;
    throw err;
  }
  throw new Error('prepareImage accepted it');
}

describe('the MBR of an image file', () => {
  it('finds the FAT boot partition and its byte offset', () => {
    const sector = buildMbr([{ type: 0x0c, firstLba: 8192, sectors: 1024, bootable: true }, { type: 0x83, firstLba: 9216, sectors: 2048 }]);
    expect(parseMbr(sector)).toEqual([
      { index: 1, type: 0x0c, bootable: true, offset: 8192 * 512, bytes: 1024 * 512 },
      { index: 2, type: 0x83, bootable: false, offset: 9216 * 512, bytes: 2048 * 512 },
    ]);
  });

  it('refuses a file without a partition table, a GPT disk, an image without FAT and a truncated image', () => {
    const write = (name: string, sector: Uint8Array, bytes = 64 * 1024 * 1024): string => {
      const file = join(dir.path, name);
      const fd = openSync(file, 'w');
      ftruncateSync(fd, bytes);
      writeSync(fd, sector, 0, sector.length, 0);
      closeSync(fd);
      return file;
    };
    const problem = (file: string): string => {
      try {
        findBootPartition(file, readFileSync(file).length);
      } catch (err) {
        if (isSwarmgateError(err, 'SWG_ERR_IMAGE_INVALID')) return err.message;
      }
      return 'accepted';
    };
    expect(problem(write('zero.img', new Uint8Array(512)))).toMatch(/no MBR partition table/);
    expect(problem(write('gpt.img', buildMbr([{ type: 0xee, firstLba: 1, sectors: 100_000 }])))).toMatch(/GPT/);
    expect(problem(write('ext4.img', buildMbr([{ type: 0x83, firstLba: 2048, sectors: 4096 }])))).toMatch(/no FAT partition in its partition table \(1: 0x83\)/);
    expect(problem(write('short.img', buildMbr([{ type: 0x0c, firstLba: 8192, sectors: 1_000_000 }]), 1024 * 1024))).toMatch(/past the end of the file.*\.img\.xz/);
  });
});

describe('swarmgate image prepare on a FAT image', () => {
  let run = true;
  let armDeb = '';
  beforeAll(() => {
    run = peerOrSkip(deployToolsPeer(['mcopy', 'mtype', 'mdir', 'mkfs.vfat', 'dpkg-deb']));
    if (run) armDeb = makeDeb('arm64');
  });

  it('writes the first-boot files, the package and the token, and hooks cmdline.txt last', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('raspios.img');
    const lines: string[] = [];
    const result = await prepareImage(options(image, armDeb, { hostname: 'plant-gw-07', wifiSsid: 'Plant Wi-Fi', wifiPassword: 'correct horse battery', wifiCountry: 'DE' }), (l) => lines.push(l));
    expect(result.partition).toMatchObject({ index: 1, offset: BOOT_LBA * SECTOR_BYTES });
    expect(result).toMatchObject({ arch: 'arm64', version: '0.1.0' });
    expect(result.written.at(-1)).toBe('/cmdline.txt');
    expect(lines.join('\n')).toMatch(/copying swarmgate-edge_0\.1\.0_arm64\.deb/);

    const cmdline = readBack(image, '/cmdline.txt');
    expect(cmdline).toBe(`${CMDLINE} ${FIRSTRUN_ARGS.join(' ')}\n`);
    expect(cmdline).toContain('systemd.run=/boot/firmware/swarmgate/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target');
    expect(names(image, '/swarmgate').sort()).toEqual(['debs', 'enroll-token', 'firstboot.conf', 'firstboot.sh', 'firstrun.sh', 'swarmgate-firstboot.service', 'wifi.conf']);
    expect(names(image, '/swarmgate/debs')).toEqual(['swarmgate-edge_0.1.0_arm64.deb']);
    expect(mtools('mtype', image, ['::/swarmgate/debs/swarmgate-edge_0.1.0_arm64.deb']).equals(readFileSync(armDeb))).toBe(true);
    expect(readBack(image, '/swarmgate/enroll-token')).toBe(`${TOKEN}\n`);
    expect(readBack(image, '/swarmgate/firstboot.conf')).toBe('HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.1.0_arm64.deb\nHOSTNAME=plant-gw-07\n');
    expect(readBack(image, '/swarmgate/wifi.conf')).toBe('SSID=Plant Wi-Fi\nPSK=correct horse battery\nCOUNTRY=DE\n');
    expect(readBack(image, '/swarmgate/firstrun.sh')).toBe(readFileSync(join(ROOT, 'deploy/image/boot/firstrun.sh'), 'utf8'));
    // The contract with the enrollment command, as the first-boot script runs it.
    const firstboot = readBack(image, '/swarmgate/firstboot.sh');
    expect(firstboot).toContain('SWARMGATE="$ROOT/usr/bin/swarmgate"');
    expect(firstboot).toContain('"$SWARMGATE" edge enroll --hub "$HUB" --token-file "$HANDOFF" ${CA:+--ca-fingerprint "$CA"} --out "$CONFIG_DIR"');
    expect(firstboot).toContain('systemctl enable --now swarmgate-edge.service');
    expect(firstboot).toMatch(/rm -f "\$TOKEN"/);
    // The rest of the boot partition is untouched.
    expect(readBack(image, '/config.txt')).toBe(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  });

  it('first boot, stage 1 (firstrun.sh run from the card against a scratch root): token off the card, host name, Wi-Fi, stage 2 installed, cmdline.txt restored', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('firstrun.img');
    const nodeDeb = makeDeb('arm64', 'nodejs');
    await prepareImage(options(image, armDeb, { hostname: 'plant-gw-07', wifiSsid: 'Plant\\Wi-Fi', wifiPassword: 'correct horse battery', wifiCountry: 'DE', extraDebs: [nodeDeb] }));
    // The boot partition as the box mounts it, copied off the image with mtools.
    const boot = join(dir.path, 'firmware');
    mkdirSync(boot);
    mtools('mcopy', image, ['-s', '::/swarmgate', '::/cmdline.txt', boot]);
    const root = join(dir.path, 'rootfs');
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'var/lib/systemd/rfkill'), { recursive: true });
    writeFileSync(join(root, 'etc/hostname'), 'raspberrypi\n');
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n');
    writeFileSync(join(root, 'var/lib/systemd/rfkill/platform-3f300000.mmcnr:wlan'), '1\n');

    const r = spawnSync('sh', [join(boot, 'swarmgate/firstrun.sh')], { encoding: 'utf8', env: { ...process.env, SWARMGATE_FIRSTRUN_ROOT: root } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);

    const lib = join(root, 'var/lib/swarmgate-firstboot');
    expect(statSync(lib).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(lib, 'enroll-token'), 'utf8')).toBe(`${TOKEN}\n`);
    expect(statSync(join(lib, 'enroll-token')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(lib, 'debs')).sort()).toEqual(['extra', 'swarmgate-edge_0.1.0_arm64.deb']);
    expect(readFileSync(join(lib, 'debs/extra/nodejs_0.1.0_arm64.deb')).equals(readFileSync(nodeDeb))).toBe(true);
    expect(readdirSync(lib).sort()).toEqual(['debs', 'enroll-token', 'firstboot.conf', 'firstboot.sh']);
    // Secrets and the one-shot script are gone from the card; the status file says what happened.
    expect(readdirSync(join(boot, 'swarmgate')).sort()).toEqual(['debs', 'firstboot.conf', 'firstboot.sh', 'status.txt', 'swarmgate-firstboot.service']);
    expect(readFileSync(join(boot, 'swarmgate/status.txt'), 'utf8')).toMatch(/token moved off the boot partition[\s\S]*hostname raspberrypi -> plant-gw-07[\s\S]*Wi-Fi[\s\S]*done; rebooting/);
    expect(readFileSync(join(boot, 'cmdline.txt'), 'utf8')).toBe(`${CMDLINE} cfg80211.ieee80211_regdom=DE\n`);

    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('plant-gw-07\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tplant-gw-07\n');
    const wifi = join(root, 'etc/NetworkManager/system-connections/swarmgate-wifi.nmconnection');
    expect(statSync(wifi).mode & 0o777).toBe(0o600);
    expect(readFileSync(wifi, 'utf8')).toContain('ssid=Plant\\\\Wi-Fi\n');
    expect(readFileSync(wifi, 'utf8')).toContain('psk=correct horse battery\n');
    expect(readFileSync(join(root, 'var/lib/systemd/rfkill/platform-3f300000.mmcnr:wlan'), 'utf8')).toBe('0\n');
    expect(readFileSync(join(root, 'etc/systemd/system/swarmgate-firstboot.service'), 'utf8')).toContain('ExecStart=/bin/sh /var/lib/swarmgate-firstboot/firstboot.sh');
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/swarmgate-firstboot.service'))).toBe('/etc/systemd/system/swarmgate-firstboot.service');
  });

  it('prepares a card again without stacking first-boot arguments, old packages or Wi-Fi keys', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('again.img');
    const oldDeb = makeDeb('armhf');
    await prepareImage(options(image, oldDeb, { wifiSsid: 'old', wifiPassword: 'old-password', wifiCountry: 'GB' }));
    await prepareImage(options(image, armDeb));
    expect(readBack(image, '/cmdline.txt')).toBe(`${CMDLINE} ${FIRSTRUN_ARGS.join(' ')}\n`);
    expect(names(image, '/swarmgate/debs')).toEqual(['swarmgate-edge_0.1.0_arm64.deb']);
    expect(names(image, '/swarmgate')).not.toContain('wifi.conf');
    expect(readBack(image, '/swarmgate/firstboot.conf')).toBe('HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.1.0_arm64.deb\n');
  });

  it('takes the hub and CA fingerprint from a claim URI given as the token (the QR code on the sticker)', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('claim.img');
    const ca = `sha256:${'ab'.repeat(32)}`;
    const claim = `swarmgate://enroll?${new URLSearchParams({ hub: 'https://hub.plant.example:8443/', token: TOKEN, ca }).toString()}`;
    await prepareImage({ image, token: claim, deb: armDeb, extraDebs: [] });
    expect(readBack(image, '/swarmgate/enroll-token')).toBe(`${TOKEN}\n`);
    expect(readBack(image, '/swarmgate/firstboot.conf')).toBe(`HUB=https://hub.plant.example:8443\nDEB=swarmgate-edge_0.1.0_arm64.deb\nCA_FINGERPRINT=${ca}\n`);
    expect(readBack(image, '/swarmgate/firstboot.sh')).toContain('${CA:+--ca-fingerprint "$CA"}');
  });

  it('refuses an image that already runs another first-boot script, changing nothing', async ({ skip }) => {
    if (!run) skip();
    const theirs = `${CMDLINE} systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target`;
    const image = makeImage('imager.img', theirs);
    expect(await refused(options(image, armDeb))).toMatch(/SWG_ERR_IMAGE_INVALID .*another first-boot script \(systemd\.run=\/boot\/firmware\/firstrun\.sh\)/);
    expect(readBack(image, '/cmdline.txt')).toBe(`${theirs}\n`);
    expect(names(image, '/')).not.toContain('swarmgate');
  });

  it('refuses a package for another architecture or another package', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('arch.img');
    expect(await refused(options(image, makeDeb('amd64')))).toMatch(/--deb: swarmgate-edge_0\.1\.0_amd64\.deb is built for amd64; a Raspberry Pi needs arm64/);
    expect(await refused(options(image, makeDeb('arm64', 'something-else')))).toMatch(/--deb: .* is the package "something-else"/);
    const oddName = join(dir.path, 'my package.deb');
    writeFileSync(oddName, readFileSync(armDeb));
    expect(await refused(options(image, oddName))).toMatch(/--deb: "my package\.deb" is not a Debian package file name/);
    expect(await refused(options(image, armDeb, { extraDebs: [join(dir.path, 'raspios.img')] }))).toMatch(/--extra-deb: .*raspios\.img is not a \.deb file/);
    expect(readBack(image, '/cmdline.txt')).toBe(`${CMDLINE}\n`);
  });

  it('refuses an --extra-deb nodejs of another major than the package is built for (its Recommends), and tells the first boot that major', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('node-major.img');
    const gateway = makeDeb('arm64', 'swarmgate-edge', { version: '0.2.0', recommends: 'nodejs (>= 22), nodejs (<< 23)' });
    const libnode = makeDeb('arm64', 'libnode115', { version: '20.19.2+dfsg-1' });
    const node20 = makeDeb('arm64', 'nodejs', { version: '20.19.2+dfsg-1' });
    expect(await refused(options(image, gateway, { extraDebs: [libnode, node20] }))).toMatch(
      /^SWG_ERR_CLI_USAGE --extra-deb: nodejs_20\.19\.2\+dfsg-1_arm64\.deb is Node\.js 20\.19\.2\+dfsg-1, but swarmgate-edge_0\.2\.0_arm64\.deb is built for Node\.js 22 .*give nodejs 22/,
    );
    expect(readBack(image, '/cmdline.txt')).toBe(`${CMDLINE}\n`);

    const node22 = makeDeb('arm64', 'nodejs', { version: '22.11.0-1nodesource1' });
    await prepareImage(options(image, gateway, { extraDebs: [node22] }));
    expect(readBack(image, '/swarmgate/firstboot.conf')).toBe('HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.2.0_arm64.deb\nNODE_MAJOR=22\n');
    expect(names(image, '/swarmgate/debs/extra')).toEqual(['nodejs_22.11.0-1nodesource1_arm64.deb']);
  });

  it('refuses a FAT image that is not a Raspberry Pi OS boot partition (no cmdline.txt)', async ({ skip }) => {
    if (!run) skip();
    const image = makeImage('nocmdline.img');
    mtools('mdel', image, ['::/cmdline.txt']);
    expect(await refused(options(image, armDeb))).toMatch(/SWG_ERR_IMAGE_INVALID .*no cmdline\.txt on the FAT partition 1/);
  });
});

describe('the options of image prepare', () => {
  const image = join(dir.path, 'options.img');
  beforeAll(() => writeFileSync(image, ''));
  const base = (): Record<string, unknown> => ({ image, hub: 'https://hub.example:8443', token: TOKEN, deb: '/nonexistent.deb', extraDebs: [] });

  it.each([
    [{ hub: 'http://hub.example:8080' }, /--hub: must be https:\/\/ \(plain http only for a loopback hub/],
    [{ hub: 'hub.example' }, /--hub: "hub.example" is not a URL/],
    [{ hub: 'ftp://hub.example' }, /--hub: must be https:\/\/, got ftp:/],
    [{ hub: 'https://admin:pw@hub.example' }, /--hub: must not contain a user name or password/],
    [{ hub: 'https://hub.example/?x=1' }, /--hub: must not have a query/],
    [{ hub: undefined }, /--hub: is required \(the token is not a claim URI carrying it\)/],
    [{ token: 'swg-enroll-v1.short.secret' }, /--token: not an enrollment token \(expected swg-enroll-v1\.<id>\.<secret>/],
    [{ token: 'swarmgate://enroll?hub=https%3A%2F%2Fhub.example&token=nope' }, /--token: not an enrollment token/],
    [{ hub: undefined, token: `swarmgate://enroll?token=${TOKEN}` }, /--hub: is required \(the token is not a claim URI carrying it\)/],
    [{ hub: undefined, token: `swarmgate://enroll?hub=http%3A%2F%2Fhub.example&token=${TOKEN}` }, /--hub: must be https:\/\//],
    [{ caFingerprint: 'sha256:abcd' }, /--ca-fingerprint: is not valid \(sha256:<hex> fingerprint/],
    [{ token: `swarmgate://enroll?hub=https%3A%2F%2Fhub.example&token=${TOKEN}&ca=md5%3Aab` }, /--ca-fingerprint: the claim URI's ca= is not a sha256/],
    [{ token: undefined }, /--token: is required/],
    [{ hostname: 'plant_gw' }, /--hostname: is not valid \(RFC 1123 host name/],
    [{ hostname: '-gw' }, /--hostname: is not valid/],
    [{ hostname: `${'a'.repeat(64)}` }, /--hostname: is not valid/],
    [{ wifiSsid: 'Plant' }, /--wifi-password: Wi-Fi needs --wifi-ssid, --wifi-password and --wifi-country together/],
    [{ wifiSsid: 'Plant', wifiPassword: 'short', wifiCountry: 'DE' }, /--wifi-password: is not valid \(WPA2 passphrase/],
    [{ wifiSsid: 'Plant', wifiPassword: 'long enough', wifiCountry: 'de' }, /--wifi-country: is not valid/],
    [{ image: join(dir.path, 'missing.img') }, /--image: .*missing\.img is not a file/],
    [{ deb: '/nonexistent.deb' }, /--deb: \/nonexistent\.deb is not a file/],
  ])('%o is refused naming the option', async (change, message) => {
    const text = await refused({ ...base(), ...change });
    expect(text).toMatch(/^SWG_ERR_CLI_USAGE /);
    expect(text).toMatch(message);
    expect(text).not.toContain(TOKEN.slice(14)); // the secret is never echoed
  });

  it('accepts plain http for a loopback hub and multi-label host names', async () => {
    // It gets as far as the package (which does not exist): the hub and host name passed.
    expect(await refused({ ...base(), hub: 'http://127.0.0.1:8080', hostname: 'gw-7.plant.example' })).toMatch(/--deb: \/nonexistent\.deb is not a file/);
    expect(await refused({ ...base(), hub: 'http://[::1]:8080/' })).toMatch(/--deb:/);
  });

  it('swarmgate image prepare reports a refused option with its exit code; without a subcommand it prints its usage', () => {
    const cli = (...args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'image', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'error' } });
    const bad = cli('prepare', '--image', image, '--hub', 'http://hub.example', '--token', TOKEN, '--deb', '/nonexistent.deb');
    expect(bad.stderr).toMatch(/^swarmgate: SWG_ERR_CLI_USAGE: --hub: must be https:\/\/ .*swarmgate image prepare --help/m);
    expect(bad.status).toBe(2);
    const usage = cli();
    expect(usage.stdout).toContain('swarmgate image prepare --image raspios-lite.img --hub');
    expect(usage.status).toBe(2);
  });

  it('reads the Node.js major from the package\'s Recommends and from a nodejs package\'s version', () => {
    expect(packageNodeMajor('nodejs (>= 22), nodejs (<< 23)')).toBe(22);
    expect(packageNodeMajor('libfoo, nodejs (>= 20.1)')).toBe(20);
    expect(packageNodeMajor('')).toBeUndefined();
    expect(packageNodeMajor('nodejs-doc (>= 22)')).toBeUndefined();
    expect(['22.11.0-1nodesource1', '20.19.2+dfsg-1', '1:22.3.0-1', '18.19.0~dfsg-6'].map(nodeVersionMajor)).toEqual([22, 20, 22, 18]);
  });

  it('withFirstrun keeps the other kernel arguments on one line', () => {
    expect(withFirstrun('a=1  b=2\n')).toBe(`a=1 b=2 ${FIRSTRUN_ARGS.join(' ')}\n`);
  });
});

describe('the first-boot scripts', () => {
  it('call swarmgate edge enroll with options it knows (it gets as far as the hub, which is not there)', () => {
    const firstboot = readFileSync(join(ROOT, 'deploy/image/boot/firstboot.sh'), 'utf8');
    const line = firstboot.split('\n').find((l) => l.trim().startsWith('"$SWARMGATE" edge enroll')) ?? '';
    const options = [...line.matchAll(/(--[a-z-]+)/g)].map((m) => m[1]);
    expect(options).toEqual(['--hub', '--token-file', '--ca-fingerprint', '--out']);
    const out = join(dir.path, 'enroll-out');
    const tokenFile = join(dir.path, 'enroll-token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'edge', 'enroll', '--hub', 'http://127.0.0.1:9', '--token-file', tokenFile, '--ca-fingerprint', `sha256:${'ab'.repeat(32)}`, '--out', out],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'error' } },
    );
    expect(r.stderr).not.toMatch(/SWG_ERR_CLI_USAGE|Unknown option/);
    expect(r.stderr).toMatch(/SWG_ERR_ENROLL_HUB/);
    expect(r.status).toBe(1);
  });


  it('firstboot.sh: enrolled but the config issued has problems (exit 4) is said as such, not "FAILED ... retrying", and the gateway starts once the config is fixed', () => {
    // The box's paths under a root folder; the commands it runs are stand-ins recording their calls.
    const root = join(dir.path, 'firstboot-root');
    const lib = join(root, 'var/lib/swarmgate-firstboot');
    const boot = join(root, 'boot/firmware/swarmgate');
    const config = join(root, 'etc/swarmgate');
    const bin = join(root, 'stubs');
    for (const d of [lib, boot, config, bin, join(root, 'usr/bin')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(lib, 'firstboot.conf'), 'HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.1.0_arm64.deb\n');
    writeFileSync(join(lib, 'enroll-token'), `${TOKEN}\n`, { mode: 0o600 });
    symlinkSync(process.execPath, join(root, 'usr/bin/node'));
    const stub = (name: string, body: string): void => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    stub('dpkg-query', "printf 'install ok installed'");
    stub('systemctl', `echo "$*" >>"${join(root, 'systemctl.log')}"`);
    stub('chown', 'exit 0');
    stub('hostnamectl', 'exit 0');
    // `swarmgate edge enroll` as it ends when the site template names a profile the box lacks
    // (test/e2e/enrollment.test.ts runs the real one); `edge check` is the real one.
    const profile = join(root, 'profiles/ahu.yaml');
    writeFileSync(
      join(root, 'usr/bin/swarmgate'),
      // The command runs as the swarmgate user: the token comes in a copy in the config folder it enrolls into.
      `#!/bin/sh\nif [ "$2" = enroll ]; then\n` +
        `  [ "$6" = "${config}/.enroll-token" ] && [ "$(cat "$6")" = "${TOKEN}" ] || { echo "token not handed over: $6" >&2; exit 9; }\n` +
        `  printf 'gateway: { id: gw-7, site: hq }\\ndevices:\\n  - { id: ahu1, protocol: modbus-tcp, profile: ${profile}, connection: { host: 127.0.0.1, port: 502 } }\\n' >"${config}/gateway.yaml"\n` +
        `  echo '{"gateway":"gw-7"}' >"${config}/identity.json"\n` +
        `  echo 'enrolled as gw-7 (site hq); broker mqtts://hub.example:8883 as gw-7'\n` +
        `  echo "enrolled as gw-7 (site hq); the config issued has 1 problem(s): devices[0].profile: profile file not found: ${profile}; fix the site template on the hub ..." >&2\n` +
        `  exit 4\nfi\nexec "${process.execPath}" --import tsx "${join(ROOT, 'cli/main.ts')}" "$@"\n`,
      { mode: 0o755 },
    );
    const firstboot = (): ReturnType<typeof spawnSync> =>
      spawnSync('sh', [join(ROOT, 'deploy/image/boot/firstboot.sh')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SWARMGATE_FIRSTBOOT_ROOT: root, SWARMGATE_LOG_LEVEL: 'error' } });
    const status = (): string => readFileSync(join(boot, 'status.txt'), 'utf8');

    const first = firstboot();
    expect(first.status).toBe(1); // systemd runs it again in a minute
    expect(status()).not.toMatch(/FAILED/);
    expect(status()).toMatch(/firstboot: enrolled as gw-7 \(site hq\); the config issued has 1 problem\(s\): devices\[0\]\.profile: profile file not found: .*; the gateway starts once the config passes the check/);
    expect(existsSync(join(lib, 'enroll-token'))).toBe(false); // spent: the hub used it
    expect(existsSync(join(config, '.enroll-token'))).toBe(false); // nor its copy
    // Run again a minute later: enrollment is not tried again, nothing new to say, still waiting.
    const lines = status().split('\n').length;
    const second = firstboot();
    expect(second.status).toBe(1);
    expect(status().split('\n').length).toBe(lines);
    expect(existsSync(join(root, 'systemctl.log')) ? readFileSync(join(root, 'systemctl.log'), 'utf8') : '').not.toContain('enable');
    // The technician installs the missing profile: the next run starts the gateway.
    mkdirSync(join(root, 'profiles'));
    copyFileSync(join(ROOT, 'devices/profiles/ahu-modbus.yaml'), profile);
    const third = firstboot();
    expect(third.stdout).toContain('swarmgate-edge enabled and started');
    expect(third.status).toBe(0);
    expect(readFileSync(join(root, 'systemctl.log'), 'utf8')).toContain('enable --now swarmgate-edge.service');
  }, 60_000);

  /** A box for firstboot.sh: its paths under a root folder, the tools it runs as stand-ins recording their calls (calls.log). */
  function firstbootBox(name: string, conf: string): { root: string; lib: string; stub: (tool: string, body: string) => void; run: () => ReturnType<typeof spawnSync>; status: () => string; calls: () => string } {
    const root = join(dir.path, name);
    const lib = join(root, 'var/lib/swarmgate-firstboot');
    const bin = join(root, 'stubs');
    for (const d of [join(lib, 'debs/extra'), join(root, 'boot/firmware/swarmgate'), join(root, 'etc/swarmgate'), bin, join(root, 'usr/bin')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(lib, 'firstboot.conf'), conf);
    writeFileSync(join(lib, 'enroll-token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(lib, 'debs/swarmgate-edge_0.2.0_arm64.deb'), 'a package\n');
    symlinkSync(process.execPath, join(root, 'usr/bin/node'));
    const calls = join(root, 'calls.log');
    const stub = (tool: string, body: string): void => writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>"${calls}"\n${body}\n`, { mode: 0o755 });
    for (const tool of ['systemctl', 'chown', 'hostnamectl', 'apt-get', 'dpkg']) stub(tool, 'exit 0');
    stub('dpkg-query', "printf 'unknown ok not-installed'");
    return {
      root,
      lib,
      stub,
      run: () => spawnSync('sh', [join(ROOT, 'deploy/image/boot/firstboot.sh')], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, SWARMGATE_FIRSTBOOT_ROOT: root } }),
      status: () => readFileSync(join(root, 'boot/firmware/swarmgate/status.txt'), 'utf8'),
      calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8') : ''),
    };
  }
  const nodeMajor = Number(process.versions.node.split('.')[0]);

  it('firstboot.sh: a Node.js of another major than the package is built for (NODE_MAJOR=) is said as the reason, and the package is not tried with it', () => {
    const box = firstbootBox('firstboot-node-major', `HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.2.0_arm64.deb\nNODE_MAJOR=${nodeMajor + 1}\n`);
    writeFileSync(join(box.lib, 'debs/extra/nodejs_99.0.0_arm64.deb'), 'not this box\'s Node.js\n');
    const r = box.run();
    expect(r.status).toBe(1); // systemd runs it again in a minute
    expect(box.status()).toContain(
      `FAILED: Node.js ${nodeMajor + 1} (the major the package's native modules are built for) is required; /usr/bin/node is ${process.versions.node} and the packages on the card (debs/extra) did not install it: put nodejs ${nodeMajor + 1} and its dependencies on the card (swarmgate image prepare --extra-deb ...); retrying in a minute`,
    );
    expect(box.calls()).toContain('apt-get install -y --no-install-recommends');
    expect(box.calls()).not.toContain('swarmgate-edge');
    // The major it needs: on to the package.
    writeFileSync(join(box.lib, 'firstboot.conf'), `HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.2.0_arm64.deb\nNODE_MAJOR=${nodeMajor}\n`);
    box.run();
    expect(box.calls()).toContain(`apt-get install -y ${join(box.lib, 'debs/swarmgate-edge_0.2.0_arm64.deb')}`);
  });

  it('firstboot.sh: when the package\'s postinst refuses (here: the Node.js module ABI), status.txt says what it said, not only "FAILED: dpkg --configure"', () => {
    // A card prepared without NODE_MAJOR=: Node.js >= 20 passes step 1, the postinst refuses it.
    const box = firstbootBox('firstboot-postinst', 'HUB=https://hub.example:8443\nDEB=swarmgate-edge_0.2.0_arm64.deb\n');
    box.stub('dpkg-query', "printf 'install ok half-configured'");
    // dpkg --configure as dpkg frames it, running the real postinst (built for Node.js 99, ABI 1) into the box's root.
    const values: Record<string, string> = { NODE_MAJOR: '99', NODE_ABI: '1', UNIT_NAME: 'swarmgate-edge.service' };
    const postinst = join(box.root, 'postinst');
    writeFileSync(postinst, readFileSync(join(ROOT, 'deploy/package/maintainer/postinst'), 'utf8').replace(/@([A-Z_]+)@/g, (_, name: string) => values[name] ?? join(box.root, 'unused', name.toLowerCase())), { mode: 0o755 });
    box.stub(
      'dpkg',
      `echo 'Setting up swarmgate-edge (0.2.0) ...'\nDPKG_ROOT="${box.root}" sh "${postinst}" configure '' && exit 0\n` +
        `echo 'dpkg: error processing package swarmgate-edge (--configure):'\necho ' installed swarmgate-edge package post-installation script subprocess returned error exit status 1'\n` +
        `echo 'Errors were encountered while processing:'\necho ' swarmgate-edge'\nexit 1`,
    );
    const r = box.run();
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('dpkg: error processing package swarmgate-edge'); // the whole output goes to the journal
    const failed = box.status().split('\n').find((l) => l.includes('FAILED')) ?? '';
    expect(failed).toMatch(/firstboot: FAILED: dpkg --configure swarmgate-edge: swarmgate-edge: this package's native modules .* built for Node\.js 99 \(module ABI 1\); .* is [0-9.]+ \(ABI \d+\) and cannot load them\. .*then: dpkg --configure -a; retrying in a minute$/);
    expect(failed).not.toContain('error processing');
  });

  it.each(['firstrun.sh', 'firstboot.sh'])('%s is valid POSIX sh (sh -n)', (script) => {
    const r = spawnSync('sh', ['-n', join(ROOT, 'deploy/image/boot', script)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
