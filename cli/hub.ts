/**
 * `swarmgate hub --config hub.yaml`                                   run the hub
 * `swarmgate hub user add --credentials FILE --role gateway --site S --gateway G [--username U] [--sparkplug-group G,...]`
 * `swarmgate hub user add --credentials FILE --role integration --username U [--read F,...] [--write F,...]`
 * `swarmgate hub user remove --credentials FILE --username U`
 * `swarmgate hub mosquitto --credentials FILE --out DIR`              emit Mosquitto password + ACL files
 */
import { parseArgs } from 'node:util';
import { SwarmgateError } from '../shared/errors.js';
import type { UserSpec } from '../hub/index.js';
import type { Command } from './commands.js';
import { untilSignal } from './shutdown.js';

const HELP = `usage:
  swarmgate hub --config hub.yaml
  swarmgate hub user add --credentials FILE --role gateway --site SITE --gateway GW [--username U] [--password P] [--sparkplug-group GROUP,...]
  swarmgate hub user add --credentials FILE --role integration --username U [--read 'filter,...'] [--write 'filter,...']
  swarmgate hub user add --credentials FILE --role hub --username U
  swarmgate hub user remove --credentials FILE --username U
  swarmgate hub mosquitto --credentials FILE --out DIR
Passwords: given with --password, or generated and printed once (only hashes are stored).
--sparkplug-group: the Sparkplug group ids the gateway may be an edge node in (its
integration.sparkplug.groupId); repeat it or separate with commas. Default: the site.
`;

const list = (text: string | undefined): string[] => (text ? text.split(',').map((s) => s.trim()).filter(Boolean) : []);

async function user(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      credentials: { type: 'string' },
      role: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      site: { type: 'string' },
      gateway: { type: 'string' },
      read: { type: 'string' },
      write: { type: 'string' },
      'sparkplug-group': { type: 'string', multiple: true },
    },
  });
  const { upsertUser, removeUser, generatePassword } = await import('../hub/index.js');
  const file = values.credentials;
  if (!file) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', '--credentials FILE is required');
  if (positionals[0] === 'remove') {
    if (!values.username) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', '--username is required');
    const removed = removeUser(file, values.username);
    process.stdout.write(removed ? `removed ${values.username}\n` : `no user ${values.username}\n`);
    return removed ? 0 : 1;
  }
  if (positionals[0] !== 'add') {
    process.stderr.write(HELP);
    return 2;
  }
  const password = values.password ?? generatePassword();
  const role = values.role;
  const spec: UserSpec | undefined =
    role === 'gateway'
      ? {
          role: 'gateway',
          username: values.username ?? values.gateway ?? '',
          site: values.site ?? '',
          gateway: values.gateway ?? '',
          ...(values['sparkplug-group'] ? { sparkplugGroups: [...new Set(values['sparkplug-group'].flatMap(list))] } : {}),
        }
      : role === 'integration'
        ? { role: 'integration', username: values.username ?? '', read: list(values.read), write: list(values.write) }
        : role === 'hub'
          ? { role: 'hub', username: values.username ?? '' }
          : undefined;
  if (!spec) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `--role must be gateway, integration or hub, got "${role ?? ''}"`);
  const { created } = await upsertUser(file, spec, password);
  process.stdout.write(`${created ? 'added' : 'updated'} ${spec.username} (${role})${values.password ? '' : `\npassword: ${password}\n(shown once; only its hash is stored)`}\n`);
  return 0;
}

export const hubCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'user') return user(args.slice(1));
    if (args[0] === 'mosquitto') {
      const { values } = parseArgs({ args: args.slice(1), options: { credentials: { type: 'string' }, out: { type: 'string' } } });
      if (!values.credentials || !values.out) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', '--credentials FILE and --out DIR are required');
      const { writeMosquittoFiles } = await import('../hub/index.js');
      const written = writeMosquittoFiles(values.credentials, values.out);
      process.stdout.write(`wrote ${written.passwordFile} and ${written.aclFile}${written.skipped.length ? `; users without a Mosquitto hash (re-add them): ${written.skipped.join(', ')}` : ''}\n`);
      return 0;
    }
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help || !values.config) {
      process.stdout.write(HELP);
      return values.help ? 0 : 2;
    }
    const { loadHubConfig, startHub } = await import('../hub/index.js');
    const hub = await startHub(loadHubConfig(values.config));
    process.stderr.write(`hub running${hub.broker ? `: MQTT on ${hub.broker.url}` : ''}, store ${hub.store.kind}\n`);
    await untilSignal(() => hub.stop());
    return 0;
  },
};
