/**
 * `swarmgate edge enroll --hub URL --token T|--token-file F [--ca-fingerprint sha256:..] [--ca FILE] [--out DIR] [--id ID] [--force]`:
 * enrolls this gateway with the hub and writes its identity, secrets (0600) and first config into DIR.
 * Exit 0 enrolled, config ok; 1 not enrolled, worth retrying (hub unreachable, rate-limited, ...);
 * 3 the hub refused the token for good (used, expired, revoked, unknown): a script should stop
 * retrying and ask for a new token; 4 enrolled (identity and files written, the token spent), but
 * the config the hub issued has problems on this gateway (e.g. a device profile missing here):
 * enrolling again cannot help, the config must be fixed (on the hub's site template, or here).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { fileErrorReason } from '../shared/kit/config-file.js';
import { dirname } from 'node:path';
import { isSwarmgateError } from '../shared/kit/errors.js';
import { parseArgs } from 'node:util';
import { checkGatewayConfigFile } from '../edge/config/check-file.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { enrollGateway, idDifference } from '../edge/enrollment/enroll.js';
import { formatProblem } from '../shared/kit/config-file.js';
import { escapeControl } from '../shared/kit/terminal-text.js';
import { usageError } from './usage.js';

/** The hub refused the token for good: retrying cannot help. */
export const EXIT_TOKEN_REFUSED = 3;
/** Enrolled, but the config issued has problems here: fix the config, do not enroll again. */
export const EXIT_ENROLLED_CONFIG_PROBLEMS = 4;

export async function enroll(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      hub: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'ca-fingerprint': { type: 'string' },
      ca: { type: 'string' },
      out: { type: 'string', default: '/etc/swarmgate' },
      id: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  // --token-file keeps the token out of the process list (first boot uses it).
  const token = values['token-file'] ? readInput('--token-file', values['token-file']).trim() : values.token;
  if (!token) throw usageError('edge', 'enroll: --token TOKEN or --token-file FILE (the token or the claim URI from the QR code) is required');
  let enrolled;
  try {
    enrolled = await enrollGateway({
      token,
      out: values.out,
      force: values.force,
      ...(values.hub ? { hub: values.hub } : {}),
      ...(values.id ? { requestedId: values.id } : {}),
      trust: {
        ...(values['ca-fingerprint'] ? { caFingerprint: values['ca-fingerprint'] } : {}),
        ...(values.ca ? { caPem: readInput('--ca', values.ca) } : {}),
      },
    });
  } catch (err) {
    if (!isSwarmgateError(err, 'SWG_ERR_ENROLL_TOKEN')) throw err;
    process.stderr.write(`swarmgate: ${err.toDisplay()}\n`);
    return EXIT_TOKEN_REFUSED;
  }
  const { identity } = enrolled;
  process.stdout.write(`enrolled as ${identity.gateway} (site ${identity.site}); broker ${identity.broker.url} as ${identity.broker.username}\n`);
  const differs = idDifference(values.id, identity);
  if (differs) process.stdout.write(`${differs}\n`);
  for (const file of enrolled.files) process.stdout.write(`  wrote ${file}\n`);
  const { problems } = checkGatewayConfigFile(enrolled.configFile, builtinDrivers());
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    // One line that says it all (first boot copies it into status.txt on the card).
    const listed = problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; ');
    process.stderr.write(
      `enrolled as ${identity.gateway} (site ${identity.site}); the config issued has ${problems.length} problem(s): ${escapeControl(listed)}; ` +
        `fix the site template on the hub (enrollment.templatesDir) and enroll again with a token for ${identity.gateway} ` +
        `(swarmgate hub enroll create --site ${identity.site} --gateway ${identity.gateway}; then --force here), ` +
        `or fix ${enrolled.configFile} on this gateway until \`swarmgate edge check ${enrolled.configFile}\` passes (exit ${EXIT_ENROLLED_CONFIG_PROBLEMS})\n`,
    );
    return EXIT_ENROLLED_CONFIG_PROBLEMS;
  }
  // The service, not a root shell: as root the gateway would make its data files root's, and the service (User=swarmgate) could not write them.
  process.stdout.write(`config ok: start the gateway service with systemctl enable --now swarmgate-edge (the folder must be the swarmgate user's: chown -R swarmgate:swarmgate ${dirname(enrolled.configFile)})\n`);
  return 0;
}

/**
 * A file named on the command line, or a usage error naming the option. On an installed gateway
 * the command runs as the swarmgate user even under sudo (/usr/bin/swarmgate): a file only root
 * can read is refused, and the message says so.
 */
function readInput(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const uid = process.getuid?.();
    const asWhom = uid !== undefined && uid !== 0 && (err as NodeJS.ErrnoException).code === 'EACCES' ? ` by user ${userInfoName()} (the command runs as the gateway's service user on an installed gateway, also under sudo: put the file where that user can read it, e.g. /etc/swarmgate, mode 0600, owned by it)` : '';
    throw usageError('edge', `enroll: ${option} ${file}: ${fileErrorReason(err)}${asWhom}`);
  }
}

function userInfoName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.());
  }
}
