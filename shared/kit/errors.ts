/**
 * One coded-error table for the whole project (edge, hub, devices share the codes, not the code
 * that raises them). Each code has a kind and an HTTP status so the hub API can map errors 1:1,
 * and a hint that tells the user what to do next.
 */

import { escapeControl } from './terminal-text.js';

export type ErrorKind = 'config' | 'device' | 'protocol' | 'timeout' | 'validation' | 'internal' | 'state' | 'auth';

interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly hint: string;
}

export const ERROR_TABLE = {
  SWG_ERR_CONFIG_INVALID: { kind: 'config', status: 400, hint: 'fix the fields named above in the file named above' },
  SWG_ERR_FILE_WRITE: { kind: 'config', status: 500, hint: 'check the path and that this user may write there; giving files to another user (--owner) needs root' },
  SWG_ERR_PACKAGE_BUILD: { kind: 'internal', status: 500, hint: 'the step named above failed; run `npm ci` in the checkout first, build on the target architecture with the Node.js the gateways run, and see its output above' },
  SWG_ERR_IMAGE_INVALID: { kind: 'validation', status: 400, hint: 'give the Raspberry Pi OS image file itself (.img, unpacked from .img.xz): an MBR partition table with a FAT boot partition holding cmdline.txt' },
  SWG_ERR_IMAGE_TOOL: { kind: 'config', status: 503, hint: 'install mtools (apt-get install mtools) and dpkg (dpkg-deb); the image is written without mounting, with mtools' },
  SWG_ERR_CLI_USAGE: { kind: 'validation', status: 400, hint: 'run the command with --help for its options' },
  SWG_ERR_CONFIG_NOT_FOUND: { kind: 'config', status: 404, hint: 'check the path; relative paths are resolved against the file that names them' },
  SWG_ERR_CONFIG_FILE_REFUSED: { kind: 'config', status: 400, hint: 'config, profile and rules files must be regular files of at most 1 MiB; name the file itself, not a device, named pipe or directory' },
  SWG_ERR_CONFIG_YAML: { kind: 'config', status: 400, hint: 'the file is not valid YAML; check indentation and quoting at the given line' },
  SWG_ERR_DRIVER_UNKNOWN: { kind: 'config', status: 400, hint: 'use one of the registered protocols' },
  SWG_ERR_DRIVER_DUPLICATE: { kind: 'internal', status: 500, hint: 'two drivers registered the same protocol name' },
  SWG_ERR_DEVICE_UNREACHABLE: { kind: 'device', status: 503, hint: 'check host/port or serial path, cabling and that the device is powered' },
  SWG_ERR_DEVICE_TIMEOUT: { kind: 'timeout', status: 504, hint: 'the device did not answer in time; check unit id, wiring, or raise timeoutMs' },
  SWG_ERR_DEVICE_EXCEPTION: { kind: 'protocol', status: 502, hint: 'the device refused the request; check the register map in the profile' },
  SWG_ERR_DEVICE_CIRCUIT_OPEN: { kind: 'device', status: 503, hint: 'the unit failed repeatedly and is being backed off; it is retried automatically' },
  SWG_ERR_DEVICE_NOT_CONNECTED: { kind: 'device', status: 503, hint: 'the driver is not connected; it reconnects automatically' },
  SWG_ERR_POINT_UNKNOWN: { kind: 'validation', status: 404, hint: 'check the point name against the device profile' },
  SWG_ERR_POINT_NOT_WRITABLE: { kind: 'validation', status: 403, hint: 'mark the point writable in the gateway config if it really may be written' },
  SWG_ERR_POINT_LIMIT: { kind: 'validation', status: 400, hint: 'the value is outside the point limits set in the config' },
  SWG_ERR_POINT_TYPE: { kind: 'validation', status: 400, hint: 'the value does not match the point data type' },
  SWG_ERR_GPIO_EXPORT: { kind: 'device', status: 503, hint: 'check the gpio chip base (gpioBase), that the line is free, and permissions on /sys/class/gpio' },
  SWG_ERR_GPIO_UNAVAILABLE: { kind: 'device', status: 503, hint: 'sysfs GPIO is not accessible here; configure chip: { kind: sim } or run on the gateway hardware' },
  SWG_ERR_BACNET_BIND: { kind: 'config', status: 503, hint: 'check connection.bind (host:port): the address must be on this machine and the UDP port free; devices that share a bind share one port' },
  SWG_ERR_BACNET_NOT_FOUND: { kind: 'device', status: 503, hint: 'no I-Am for this device instance: check deviceInstance, set deviceAddress, broadcastAddress, or bbmd for a controller on another subnet' },
  SWG_ERR_POINT_RELINQUISH: { kind: 'validation', status: 400, hint: 'relinquish (value null) releases a command at its priority; only drivers with command priorities (bacnet-ip) support it' },
  SWG_ERR_OPCUA_SESSION: { kind: 'device', status: 503, hint: 'check endpoint URL, security mode/policy and that the server certificate is trusted' },
  SWG_ERR_SERVICE_NOTIFY: { kind: 'config', status: 503, hint: 'the systemd unit is Type=notify but the gateway cannot reach its notify socket: install the optional dependency unix-dgram (npm install unix-dgram; needs make and g++), or run the unit as Type=simple without WatchdogSec=' },
  SWG_ERR_INTERLOCK: { kind: 'state', status: 409, hint: 'an interlock in the rules config (rules.interlocks) refused this write; wait until its condition clears or change the interlock' },
  SWG_ERR_INPUT_CSV: { kind: 'validation', status: 400, hint: 'each row must be timestamp,value with a parseable time and a number' },
  SWG_ERR_PRIOR_INVALID: { kind: 'validation', status: 400, hint: 'the detector prior does not match the wire DetectorPriorSchema (shared/wire/detector-prior.ts) or the detector options it is loaded into (forecaster lags and hidden units, pattern lengths); fix the named field or export the prior again' },
  SWG_ERR_PRIOR_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the fleet priors (GET /api/v1/priors): a prior exists once a gateway has published one for that key' },
  SWG_ERR_SIM_FAULT_INVALID: { kind: 'validation', status: 400, hint: 'fix the named field; GET /faults on the simulator control API lists active faults, the fault kinds are drift, stuck, spikes, probe-failure, offline, slow, exception, opcua-restart, compressor-failure, heat-wave, bacnet-offline, bacnet-slow, bacnet-no-segmentation, bacnet-no-rpm, bacnet-restart' },
  SWG_ERR_SIM_FAULT_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /faults lists the ids of active faults' },
  SWG_ERR_SIM_START: { kind: 'device', status: 503, hint: 'a simulator server could not start; check the port is free (use 0 for an ephemeral port) and the serial path exists' },
  SWG_ERR_HUB_CREDENTIALS: { kind: 'config', status: 400, hint: 'fix the credentials file, or re-add the user with `swarmgate hub user add`' },
  SWG_ERR_HUB_CREDENTIALS_WRITE: { kind: 'config', status: 503, hint: 'the broker credentials file must be in a folder this user may write (the hub rewrites it when gateways enroll): under the shipped systemd units, the hub state directory /var/lib/swarmgate-hub' },
  SWG_ERR_HUB_BROKER: { kind: 'device', status: 503, hint: 'check the broker url, credentials and that the port is free (use 0 for an ephemeral port in tests)' },
  SWG_ERR_HUB_STORE: { kind: 'internal', status: 503, hint: 'check the database path or DATABASE_URL and that the database is reachable' },
  SWG_ERR_HUB_STORE_NEWER: { kind: 'config', status: 503, hint: 'run the hub release that migrated this database, or a newer one; to go back to an older release, restore the backup taken before the upgrade (README, "Upgrading and going back")' },
  SWG_ERR_HUB_STORE_BUSY: { kind: 'device', status: 503, hint: 'the store takes no more telemetry for now: writes to the database keep failing and the readings waiting to be written reached their limit (swarmgate_hub_store_buffered_readings); fix the database (disk space, read-only failover, a lock held by another process, see the flush errors in the log); refused batches stay with the broker and the gateways and are taken once writes succeed again' },
  SWG_ERR_ENROLL_TOKEN: { kind: 'auth', status: 403, hint: 'ask the hub admin for a new enrollment token (`swarmgate hub enroll create`); each token works once, for its site, until it expires' },
  SWG_ERR_ENROLL_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the tokens (`swarmgate hub enroll list`, GET /api/v1/enrollment/tokens) or the enrolled gateways (GET /api/v1/enrollment/gateways)' },
  SWG_ERR_ENROLL_UNAVAILABLE: { kind: 'config', status: 503, hint: 'this hub has no enrollment section (brokerUrl, templatesDir) or runs an external broker; see the README, "Enrolling gateways"' },
  SWG_ERR_ENROLL_STORAGE: { kind: 'state', status: 503, hint: 'the hub cannot store gateway credentials right now; the token was not used: ask the hub admin (the hub log names the file and the error), then enroll again with the same token' },
  SWG_ERR_ENROLL_HUB: { kind: 'protocol', status: 502, hint: 'check the hub URL, that the hub runs with its API on HTTPS, and the CA fingerprint printed with the token' },
  SWG_ERR_ENROLL_RESPONSE: { kind: 'protocol', status: 502, hint: 'the enrollment answer failed its check (changed on the way, or not from the hub that issued the token); nothing was written; check the network path and try again' },
  SWG_ERR_ENROLL_TEMPLATE: { kind: 'config', status: 500, hint: 'fix the site template named above (enrollment.templatesDir in the hub config): it must be a gateway config YAML mapping' },
  SWG_ERR_ENROLL_RATE_LIMITED: { kind: 'auth', status: 429, hint: 'too many failed enrollments with this token or from this address (boxes behind one NAT share it: one retrying a refused token locks out the others); wait for the Retry-After seconds, or ask a hub admin to lift it (GET /api/v1/login-limits lists it; POST /api/v1/login-limits/unlock with the address or the tokenId)' },
  SWG_ERR_ENROLL_ENROLLED: { kind: 'state', status: 409, hint: 'this folder holds a gateway that enrolled already; give --force to enroll again with a new token (a new identity replaces it), or --out another folder' },
  SWG_ERR_ENROLL_TOKEN_SPENT: { kind: 'state', status: 409, hint: 'only an active (unused, unrevoked) token can be revoked; a used token already enrolled its gateway: revoke the gateway instead (`swarmgate hub enroll revoke-gateway GW`)' },
  SWG_ERR_ENROLL_SITE_MOVE: { kind: 'state', status: 409, hint: 'the gateway id is enrolled at another site; pick another id, or say the move is intended (--move-site, "moveSite": true): the gateway then leaves its site when the token is used' },
  SWG_ERR_GATEWAY_UNKNOWN: { kind: 'validation', status: 404, hint: 'the gateway has not announced itself to this hub yet; check the id, or wait for its birth message' },
  SWG_ERR_COMMAND_UNKNOWN: { kind: 'validation', status: 404, hint: 'list commands to see known ids' },
  SWG_ERR_COMMAND_STATE: { kind: 'state', status: 409, hint: 'only pending, delivered or timed-out commands can be retried; applied and rejected are final' },
  SWG_ERR_COMMAND_INVALID: { kind: 'validation', status: 400, hint: 'the message names the field and what it allows (type, length or range limit); fix that field (wire CommandSchema, shared/wire/messages.ts)' },
  SWG_ERR_COMMAND_EXPIRED: { kind: 'validation', status: 410, hint: 'the command reached the gateway after its expiresAt; send a new command (check the gateway clock if this repeats)' },
  SWG_ERR_COMMAND_UNSUPPORTED: { kind: 'validation', status: 501, hint: 'this gateway cannot apply that action kind; send a write action or enable the feature on the gateway' },
  SWG_ERR_REVIEW_CONFLICT: { kind: 'state', status: 409, hint: 'the review item was already decided, expired or changed by someone else; reload it and decide again only if it is still pending' },
  SWG_ERR_REVIEW_INVALID: { kind: 'validation', status: 400, hint: 'a decision needs the user; a rejection also a reason; a modified action must match the wire ActionSchema (write {device, point, value} or mode {mode})' },
  SWG_ERR_REVIEW_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the review queue to see known ids (`swarmgate review list`)' },
  SWG_ERR_WORK_ORDER_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the work orders to see known ids (GET /api/v1/work-orders)' },
  SWG_ERR_QUARANTINE_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the quarantine to see known ids (GET /api/v1/quarantine or `swarmgate hub quarantine list`)' },
  SWG_ERR_INCIDENT_UNKNOWN: { kind: 'validation', status: 404, hint: 'list the incidents to see known ids (GET /api/v1/incidents)' },
  SWG_ERR_WORK_ORDER_CLOSED: { kind: 'state', status: 409, hint: 'the work order was closed already; a new occurrence of the problem opens a new one' },
  SWG_ERR_API_VALIDATION: { kind: 'validation', status: 400, hint: 'fix the fields listed in error.fields; /docs shows the schema of every route' },
  SWG_ERR_API_NOT_FOUND: { kind: 'validation', status: 404, hint: 'no such route or resource; /docs lists the routes of this API' },
  SWG_ERR_AUTH_REQUIRED: { kind: 'auth', status: 401, hint: 'log in (POST /api/v1/auth/login) or send Authorization: Bearer <API token>' },
  SWG_ERR_AUTH_FAILED: { kind: 'auth', status: 401, hint: 'check the user name and password; an admin can reset it with PATCH /api/v1/users/{username}' },
  SWG_ERR_AUTH_FORBIDDEN: { kind: 'auth', status: 403, hint: 'your role may not do this; ask an admin for a role that may' },
  SWG_ERR_AUTH_RATE_LIMITED: { kind: 'auth', status: 429, hint: 'too many failed logins for this user name or from this address; wait for the Retry-After seconds, or ask an admin to unlock it (POST /api/v1/login-limits/unlock)' },
  SWG_ERR_USER_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /api/v1/users lists the users' },
  SWG_ERR_USER_EXISTS: { kind: 'state', status: 409, hint: 'pick another user name, or change the existing user with PATCH /api/v1/users/{username}' },
  SWG_ERR_USER_LAST_ADMIN: { kind: 'state', status: 409, hint: 'make another user admin first; the hub must keep at least one enabled admin' },
  SWG_ERR_TOKEN_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /api/v1/tokens lists the API tokens' },
  SWG_ERR_PLAN_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /api/v1/plans lists the plans' },
  SWG_ERR_API_UNAVAILABLE: { kind: 'config', status: 503, hint: 'this hub process runs without that feature (review queue, agents); check the hub config' },
  SWG_ERR_AGENTS_UNAVAILABLE: { kind: 'config', status: 503, hint: 'the hub runs without decision agents or a facility model; enable agents (agents.facilityModel) in the hub config' },
  SWG_ERR_RELEASE_KEY: { kind: 'config', status: 400, hint: 'name an Ed25519 key in PEM (`swarmgate release keygen --out DIR` writes release.key (private, 0600) and release.pub)' },
  SWG_ERR_RELEASE_BUILD: { kind: 'config', status: 400, hint: 'build the app first (npm run build), or name a staged app folder with --from DIR' },
  SWG_ERR_RELEASE_INVALID: { kind: 'validation', status: 400, hint: 'the release manifest does not match its schema (shared/release/manifest.ts); rebuild it with `swarmgate release build`' },
  SWG_ERR_RELEASE_SIGNATURE: { kind: 'auth', status: 400, hint: 'the manifest is not signed by the fleet key pinned here: sign releases with the fleet\'s private key, or check which public key the hub and gateways hold' },
  SWG_ERR_RELEASE_DIGEST: { kind: 'validation', status: 400, hint: 'the artifact is not the one the signed manifest names (size or sha256 differ): it was cut short or altered; download or upload it again' },
  SWG_ERR_RELEASE_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /api/v1/releases lists the releases this hub holds' },
  SWG_ERR_RELEASE_STORAGE: { kind: 'config', status: 503, hint: 'the hub cannot write its releases.dir (the message says why): under the shipped systemd units leave releases.dir relative, so that it resolves in the state directory /var/lib/swarmgate-hub, or give a folder there' },
  SWG_ERR_RELEASE_EXISTS: { kind: 'state', status: 409, hint: 'a release with this version is stored already; build the new one with a new --version' },
  SWG_ERR_UPDATE_DOWNLOAD: { kind: 'device', status: 503, hint: 'check that the hub URL is reachable over HTTPS (plain http only on loopback) and its certificate trusted (update.caFile); the download resumes on the next try' },
  SWG_ERR_UPDATE_INSTALL: { kind: 'state', status: 500, hint: 'check free space and that the gateway user may write in update.installRoot; the running version stays' },
  SWG_ERR_UPDATE_NODE: { kind: 'config', status: 400, hint: 'this release needs a newer Node.js than the gateway runs; upgrade Node.js on the gateway first' },
  SWG_ERR_UPDATE_UNHEALTHY: { kind: 'state', status: 503, hint: 'the new version did not report healthy (connected, devices up, outbox draining) within update.healthDeadlineSec; it was rolled back, see its log' },
  SWG_ERR_DEPLOYMENT_UNKNOWN: { kind: 'validation', status: 404, hint: 'GET /api/v1/deployments lists the deployments' },
  SWG_ERR_API_UNREACHABLE: { kind: 'protocol', status: 502, hint: 'check --api (or SWARMGATE_API_URL) and that the hub API runs there; a hub on HTTPS with its own CA needs NODE_EXTRA_CA_CERTS=/path/ca.pem' },
  SWG_ERR_DEPLOYMENT_STATE: { kind: 'state', status: 409, hint: 'the deployment has ended (done, halted or cancelled); GET /api/v1/deployments/<id> shows its gateways' },
  SWG_ERR_DEPLOYMENT_INVALID: { kind: 'validation', status: 400, hint: 'a deployment names a stored release and exactly one target: a site, a list of gateways or a percentage of the fleet' },
  SWG_ERR_OUTBOX_FILE: { kind: 'config', status: 404, hint: "name the config the gateway service runs (--config /etc/swarmgate/gateway.yaml) or its data folder (--data-dir; the shipped unit's is /var/lib/swarmgate): the outbox is outbox.sqlite there, created at the gateway's first start" },
  SWG_ERR_OUTBOX_OWNER: { kind: 'config', status: 403, hint: "run the command as the user that owns the outbox file, the gateway's service user (sudo -u swarmgate swarmgate edge dead-letters ...): run as root, it could leave SQLite's -wal and -shm files next to the outbox owned by root, and the gateway could then no longer open its outbox" },
  SWG_ERR_DEAD_LETTER_UNKNOWN: { kind: 'validation', status: 404, hint: '`swarmgate edge dead-letters list` shows the ids of the dead letters this outbox holds' },
  SWG_ERR_DEAD_LETTER_REFUSED_AGAIN: { kind: 'state', status: 409, hint: 'the broker still refuses them (an ACL refusal or a message size limit: the gateway log and the broker log name the topic and size); fix that first, then re-queue them with --force, or drop them (`swarmgate edge dead-letters drop ID`)' },
  SWG_ERR_INTERNAL: { kind: 'internal', status: 500, hint: 'this is a bug; please report it with the log' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export interface ErrorDetails {
  readonly [key: string]: string | number | boolean | undefined | readonly unknown[];
}

export class SwarmgateError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly status: number;
  readonly hint: string;
  readonly details: ErrorDetails;

  /** `hint` replaces the table's hint where the raiser knows better what to do (e.g. which command to run). */
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ERROR_TABLE[code];
    this.name = 'SwarmgateError';
    this.code = code;
    this.kind = spec.kind;
    this.status = spec.status;
    this.hint = options.hint ?? spec.hint;
    this.details = options.details ?? {};
  }

  /** One line for a terminal: code, message and what to do. */
  toDisplay(): string {
    return escapeControl(`${this.code}: ${this.message} (${this.hint})`, { keepNewlines: true });
  }
}

export function isSwarmgateError(err: unknown, code?: ErrorCode): err is SwarmgateError {
  return err instanceof SwarmgateError && (code === undefined || err.code === code);
}

/** Message of any thrown value, for logs and reading causes. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
