/**
 * `swarmgate hub --config hub.yaml`                                   run the hub
 * `swarmgate hub user add --credentials FILE --role gateway --site S --gateway G [--username U] [--sparkplug-group G,...] [--owner USER]`
 * `swarmgate hub user add --credentials FILE --role integration --username U [--read F,...] [--write F,...]`
 * `swarmgate hub user remove --credentials FILE --username U`
 * `swarmgate hub mosquitto --credentials FILE --out DIR [--owner USER]`  emit Mosquitto password + ACL files
 * `swarmgate hub quarantine list|show ID|discard ID --config hub.yaml`  refused messages (cli/quarantine.ts)
 * `swarmgate hub enroll create|list|revoke|revoke-gateway --config hub.yaml`  enrollment tokens (cli/enrollment.ts)
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { UserSpec } from '../hub/index.js';
import type { Command } from './commands.js';
import { untilSignal } from './shutdown.js';
import { escapeControl } from '../shared/kit/terminal-text.js';
import { usageError } from './usage.js';

const HELP = `usage:
  swarmgate hub --config hub.yaml
  swarmgate hub user add --credentials FILE --role gateway --site SITE --gateway GW [--username U] [--password P] [--sparkplug-group GROUP,...]
  swarmgate hub user add --credentials FILE --role integration --username U [--read 'filter,...'] [--write 'filter,...']
  swarmgate hub user add --credentials FILE --role hub --username U
  swarmgate hub user remove --credentials FILE --username U
  (user add/remove also take --owner USER[:GROUP])
  swarmgate hub mosquitto --credentials FILE --out DIR [--owner USER[:GROUP]]
  swarmgate hub quarantine list [--gateway G] [--limit N] [--json] --config hub.yaml
  swarmgate hub quarantine show ID [--json] --config hub.yaml
  swarmgate hub quarantine discard ID [--user U] --config hub.yaml
  swarmgate hub release upload|deploy|status|list|cancel ... signed releases and deployments (--help for options)
  swarmgate hub enroll create --config hub.yaml --site SITE [--gateway GW] [--count N] [--ttl 7d] [--qr]
  swarmgate hub enroll list|revoke TOKEN-ID|revoke-gateway GW --config hub.yaml
Passwords: given with --password, or generated and printed once (only hashes are stored).
hub user add/remove: an existing credentials file keeps its owner, group and mode (the hub reads it
  as its service user, swarmgate under the shipped units); a new one is mode 0600 and belongs to
  --owner USER[:GROUP] (as root: sudo ... --owner swarmgate), else to the owner of its folder when
  root writes it in a folder another user owns (the hub's state directory), else to whoever runs it.
hub mosquitto: creates DIR when missing and writes mosquitto.passwd and mosquitto.acl (mode 0600).
  Mosquitto reads them as the user it runs as (\`user\` in mosquitto.conf; Debian: mosquitto), so that
  user must own them: --owner mosquitto does it (as root), or chown them afterwards.
Embedded broker: MQTT 3.1.1 and 3.1 clients; MQTT 5 clients are refused (CONNACK 132): connect with
  protocol version 4 (MQTT.js protocolVersion: 4, mosquitto_sub -V mqttv311).
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
      owner: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { upsertUser, removeUser, generatePassword, resolveFileOwner } = await import('../hub/index.js');
  const file = values.credentials;
  if (!file) throw usageError('hub', '--credentials FILE is required');
  const owner = values.owner === undefined ? undefined : resolveFileOwner(values.owner, 'name the user the hub runs as (the shipped systemd units: swarmgate), optionally user:group');
  if (positionals[0] === 'remove') {
    if (!values.username) throw usageError('hub', '--username is required');
    const removed = removeUser(file, values.username, owner ? { owner } : {});
    process.stdout.write(removed ? `removed ${values.username}\n` : `no user ${values.username}\n`);
    return removed ? 0 : 1;
  }
  if (positionals[0] !== 'add') {
    process.stderr.write(HELP);
    return 2;
  }
  const role = values.role;
  // What each role needs, named as the options it comes from, before the credentials file is read.
  const needed: Record<string, readonly ('site' | 'gateway' | 'username')[]> = { gateway: ['site', 'gateway'], integration: ['username'], hub: ['username'] };
  const needs = role !== undefined && Object.hasOwn(needed, role) ? needed[role] : undefined;
  if (!needs) throw usageError('hub', `user add: --role must be gateway, integration or hub, got "${escapeControl(role ?? '')}"`);
  const missing = needs.filter((option) => values[option] === undefined || values[option] === '');
  if (missing.length > 0) throw usageError('hub', `user add --role ${role} needs ${missing.map((o) => `--${o}`).join(' and ')}`);
  const password = values.password ?? generatePassword();
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
  if (!spec) throw usageError('hub', `--role must be gateway, integration or hub, got "${role ?? ''}"`);
  const wrong = await optionProblems(spec, values.username !== undefined);
  if (wrong.length > 0) throw usageError('hub', `user add: ${wrong.join('; ')}`);
  const { created } = await upsertUser(file, spec, password, { generated: values.password === undefined, ...(owner ? { owner } : {}) });
  process.stdout.write(`${created ? 'added' : 'updated'} ${spec.username} (${role})${values.password ? '' : `\npassword: ${password}\n(shown once; only its hash is stored)`}\n`);
  return 0;
}

/** The user's fields as the options they came from: a wrong value is the command line's, not the credentials file's. */
const OPTION_OF: Readonly<Record<string, string>> = { username: '--username', site: '--site', gateway: '--gateway', sparkplugGroups: '--sparkplug-group', read: '--read', write: '--write' };

/** Each option whose value the credentials file would refuse, in words ("--gateway "bad id!": expected ..."). */
async function optionProblems(spec: UserSpec, usernameGiven: boolean): Promise<string[]> {
  const [{ CredentialUserSchema }, { Value }, { describeValue, discriminatedMember, errorText }] = await Promise.all([
    import('../hub/broker/credentials.js'),
    import('@sinclair/typebox/value'),
    import('../shared/kit/schema-text.js'),
  ]);
  const user = { ...spec, passwordHash: 'x' };
  const schema = discriminatedMember(CredentialUserSchema, user);
  if (!schema) return [];
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const error of Value.Errors(schema, user)) {
    const field = error.path.split('/')[1] ?? '';
    // A gateway's username is its --gateway unless --username is given: --gateway's own check is the stricter one.
    if (field === 'username' && !usernameGiven) continue;
    const option = Object.hasOwn(OPTION_OF, field) ? OPTION_OF[field] : undefined;
    if (option === undefined || seen.has(option)) continue;
    seen.add(option);
    const described = (error.schema as { description?: string }).description;
    const expected = error.message.startsWith('Expected string to match')
      ? `expected ${field === 'sparkplugGroups' ? 'a Sparkplug group id: letters, digits, "_", "." and "-", starting with a letter or digit, not "STATE"' : (described ?? 'letters, digits, "_" and "-", starting with a letter or digit, at most 64 characters')}`
      : errorText(error).replace(/^Expected/, 'expected');
    problems.push(`${option} ${escapeControl(describeValue(error.value))}: ${expected}`);
  }
  return problems;
}

async function mosquitto(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { credentials: { type: 'string' }, out: { type: 'string' }, owner: { type: 'string' } } });
  if (!values.credentials || !values.out) throw usageError('hub', '--credentials FILE and --out DIR are required');
  const { writeMosquittoFiles, resolveFileOwner } = await import('../hub/index.js');
  const owner = values.owner === undefined ? undefined : resolveFileOwner(values.owner);
  const written = writeMosquittoFiles(values.credentials, values.out, owner ? { owner } : {});
  const ownerName = owner?.name ?? userInfo().username;
  const lines = [
    ...(written.createdDir ? [`created ${resolve(values.out)}${owner ? ` (owned by ${ownerName})` : ''}`] : []),
    `wrote ${written.passwordFile} and ${written.aclFile} (mode 0600, owned by ${ownerName})`,
  ];
  if (written.skipped.length) lines.push(`users without a Mosquitto hash (re-add them): ${written.skipped.join(', ')}`);
  if (!owner) {
    lines.push(
      'Mosquitto reads these files as the user it runs as (`user` in mosquitto.conf; Debian: mosquitto), so that user must own them:',
      `  chown mosquitto: ${written.passwordFile} ${written.aclFile}`,
      'or write them with --owner mosquitto.',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export const hubCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'user') return user(args.slice(1));
    if (args[0] === 'quarantine') return (await import('./quarantine.js')).quarantineCommand(args.slice(1));
    if (args[0] === 'mosquitto') return mosquitto(args.slice(1));
    if (args[0] === 'release') return (await import('./hub-release.js')).hubReleaseCommand(args.slice(1));
    if (args[0] === 'enroll') return (await import('./enrollment.js')).enrollmentCommand(args.slice(1));
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
