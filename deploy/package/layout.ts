/**
 * What the swarmgate-edge Debian package contains and where: the one place that names the paths
 * the systemd unit (deploy/systemd/swarmgate-edge.service) and the maintainer scripts rely on.
 * Pure functions only; deploy/package/build-deb.ts does the work.
 */

export const PACKAGE_NAME = 'swarmgate-edge';

/**
 * The app: the unit's ExecStart runs APP_DIR/bin/swarmgate.js. The package installs it in the
 * layout the updater owns (edge/update/layout.ts, with update.installRoot: /opt/swarmgate), so a
 * gateway installed from the package takes signed updates and rolls back:
 *   /opt/swarmgate/releases/<version>/   bin/, dist/, node_modules/, package.json (this package's release)
 *   /opt/swarmgate/current -> releases/<version>     switched by the updater; made by the postinst,
 *                                                    not packaged (dpkg would restore it on each
 *                                                    upgrade or reinstall, undoing an update): it
 *                                                    moves to the packaged release only when missing,
 *                                                    leading nowhere or older than the packaged one
 *   /opt/swarmgate/bin -> current/bin                what the unit runs (Node follows the links, so
 *                                                    the release's own dist/ and node_modules load)
 */
export const APP_DIR = '/opt/swarmgate';
export const RELEASES_DIR = `${APP_DIR}/releases`;
export const CURRENT_LINK = `${APP_DIR}/current`;

/** The release folder of a version (package.json's, as `swarmgate release build` names releases). */
export function releaseDir(version: string): string {
  return `${RELEASES_DIR}/${version}`;
}
/** deploy/package/maintainer/<name>, filled by fillTemplate into DEBIAN/<name>. */
export const MAINTAINER_SCRIPTS = ['preinst', 'postinst', 'prerm', 'postrm'] as const;

export const CONFIG_DIR = '/etc/swarmgate';
export const STATE_DIR = '/var/lib/swarmgate';
export const UNIT_DIR = '/lib/systemd/system';
export const UNIT_NAME = 'swarmgate-edge.service';
export const DOC_DIR = `/usr/share/doc/${PACKAGE_NAME}`;
/**
 * `swarmgate` on the PATH: deploy/package/swarmgate-command.sh, root's, which runs the app's
 * bin/swarmgate.js as SERVICE_USER when started as root (the app is that user's to update).
 */
export const COMMAND_PATH = '/usr/bin/swarmgate';
/** The user the gateway service runs as (the unit's User=), who owns the releases, config and state. */
export const SERVICE_USER = 'swarmgate';
/** The Node.js the unit and the command run. */
export const NODE_PATH = '/usr/bin/node';

/**
 * A Debian version from the package.json (semver) version: a pre-release `1.2.0-rc.1` becomes
 * `1.2.0~rc.1` so it sorts before `1.2.0`, as Debian's `~` does; build metadata (`+...`) is kept.
 */
export function debianVersion(semver: string): string {
  const m = /^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(semver);
  if (!m) throw new Error(`package.json version "${semver}" is not semver (MAJOR.MINOR.PATCH[-pre][+build])`);
  const [, core, pre, build] = m;
  return `${core}${pre ? `~${pre.replace(/-/g, '.')}` : ''}${build ? `+${build}` : ''}`;
}

/** dist/<name>_<version>_<arch>.deb, Debian's file name convention. */
export function debFileName(version: string, arch: string): string {
  return `${PACKAGE_NAME}_${version}_${arch}.deb`;
}

export interface ControlFields {
  readonly version: string;
  readonly arch: string;
  /** Sum of the file sizes in KiB (dpkg's Installed-Size). */
  readonly installedSizeKiB: number;
  /** Node.js major version the native addons were built for. */
  readonly nodeMajor: number;
}

/** DEBIAN/control. */
export function controlFile(f: ControlFields): string {
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${f.version}`,
    `Architecture: ${f.arch}`,
    'Maintainer: Swarmgate maintainers <swarmgate@localhost>',
    `Installed-Size: ${f.installedSizeKiB}`,
    // Not a hard Depends on nodejs: a Node.js installed from a tarball at /usr/bin/node is fine too;
    // the postinst checks the version (and the native-addon ABI) and says what to install.
    'Depends: passwd, libc6, libstdc++6',
    `Recommends: nodejs (>= ${f.nodeMajor}), nodejs (<< ${f.nodeMajor + 1})`,
    'Section: net',
    'Priority: optional',
    'Description: Swarmgate edge gateway (Modbus, OPC UA, BACnet/IP, GPIO to an MQTT hub)',
    ' The gateway runtime with its production dependencies under /opt/swarmgate, the',
    ' swarmgate-edge systemd unit and the swarmgate system user. Native addons',
    ` (better-sqlite3, serialport) are built for Node.js ${f.nodeMajor} on ${f.arch}.`,
    ' Configure it with `swarmgate edge enroll --hub URL --token T --out /etc/swarmgate`',
    ' (or write /etc/swarmgate/gateway.yaml), then `systemctl enable --now swarmgate-edge`.',
    '',
  ].join('\n');
}

/** DEBIAN/conffiles: every packaged file under /etc (dpkg then never overwrites a changed one). */
export function conffiles(packagedFiles: readonly string[]): string {
  const etc = packagedFiles.filter((f) => f.startsWith(`${CONFIG_DIR}/`)).sort();
  return etc.length ? `${etc.join('\n')}\n` : '';
}

/** Fills `@NAME@` placeholders of a maintainer-script template; an unknown or unfilled one throws. */
/** The command script (deploy/package/swarmgate-command.sh) filled with the installed paths; `values` override them (tests). */
export function commandScript(template: string, values: Readonly<Record<string, string>> = {}): string {
  return fillTemplate(template, { APP_DIR, SERVICE_USER, CONFIG_DIR, STATE_DIR, NODE: NODE_PATH, ...values });
}

export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const out = template.replace(/@([A-Z_]+)@/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder ${whole} has no value`);
    return value;
  });
  return out;
}
