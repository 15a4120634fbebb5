/**
 * `swarmgate edge enroll --hub URL --token T [--ca-fingerprint sha256:..] [--ca FILE] [--out DIR] [--id ID] [--force]`:
 * enrolls this gateway with the hub and writes its identity, secrets (0600) and first config into DIR.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkGatewayConfigFile } from '../edge/config/check-file.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { enrollGateway } from '../edge/enrollment/enroll.js';
import { formatProblem } from '../shared/kit/config-file.js';
import { usageError } from './usage.js';

export async function enroll(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      hub: { type: 'string' },
      token: { type: 'string' },
      'ca-fingerprint': { type: 'string' },
      ca: { type: 'string' },
      out: { type: 'string', default: '/etc/swarmgate' },
      id: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  if (!values.token) throw usageError('edge', 'enroll: --token TOKEN (or the claim URI from the QR code) is required');
  const enrolled = await enrollGateway({
    token: values.token,
    out: values.out,
    force: values.force,
    ...(values.hub ? { hub: values.hub } : {}),
    ...(values.id ? { requestedId: values.id } : {}),
    trust: {
      ...(values['ca-fingerprint'] ? { caFingerprint: values['ca-fingerprint'] } : {}),
      ...(values.ca ? { caPem: readFileSync(values.ca, 'utf8') } : {}),
    },
  });
  const { identity } = enrolled;
  process.stdout.write(`enrolled as ${identity.gateway} (site ${identity.site}); broker ${identity.broker.url} as ${identity.broker.username}\n`);
  for (const file of enrolled.files) process.stdout.write(`  wrote ${file}\n`);
  const { problems } = checkGatewayConfigFile(enrolled.configFile, builtinDrivers());
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`enrolled, but the config from the site template has ${problems.length} problem(s) on this gateway: fix ${enrolled.configFile} (swarmgate edge check)\n`);
    return 1;
  }
  process.stdout.write(`config ok: start the gateway with swarmgate edge --config ${enrolled.configFile}\n`);
  return 0;
}
