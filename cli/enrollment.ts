/**
 * `swarmgate hub enroll create --config hub.yaml --site S [--gateway G [--move-site]] [--count N] [--ttl 7d] [--note T] [--qr] [--json]`
 * `swarmgate hub enroll list --config hub.yaml [--site S] [--state active|used|expired|revoked] [--json]`
 * `swarmgate hub enroll revoke TOKEN-ID --config hub.yaml`
 * `swarmgate hub enroll revoke-gateway GATEWAY --config hub.yaml`
 *
 * Worked on the hub store directly, next to a running hub (like `swarmgate review`). A created
 * token is printed once (with its claim URI and a QR code for the sticker); only its hash is kept.
 * Revoking a gateway removes its broker user from the credentials file; the running hub notices
 * within a second and disconnects it.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import type { CreatedToken, EnrollmentToken, TokenState } from '../hub/enrollment/service.js';
import { numberOption, usageError } from './usage.js';

/** Tokens made by one `create` (the enrollment service's own limit). */
const MAX_COUNT = 1000;

const HELP = `usage:
  swarmgate hub enroll create --config hub.yaml --site SITE [--gateway GW [--move-site]] [--count N] [--ttl 7d] [--note TEXT] [--qr] [--json]
  swarmgate hub enroll list --config hub.yaml [--site SITE] [--state active|used|expired|revoked] [--json]
  swarmgate hub enroll revoke TOKEN-ID --config hub.yaml
  swarmgate hub enroll revoke-gateway GATEWAY --config hub.yaml
Tokens are one-time: each enrolls one gateway of its site (with --gateway: that gateway id) until
it expires. They are shown once; the hub stores only their hash. --qr prints the claim URI (hub
URL, token, CA fingerprint; needs enrollment.hubUrl in the hub config) as a QR code for a sticker.
A token for a gateway id enrolled at another site is refused unless --move-site says the gateway
is meant to move to SITE.
`;

const STATES: readonly TokenState[] = ['active', 'used', 'expired', 'revoked'];

function line(t: EnrollmentToken): string {
  const when = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString());
  return [t.id, t.site, t.gateway ?? '*', t.state.padEnd(7), `expires ${when(t.expiresAt)}`, t.usedBy ? `used by ${t.usedBy} ${when(t.usedAt)}` : ''].join('  ').trimEnd();
}

async function printCreated(created: readonly CreatedToken[], claimFor: (token: string) => string | undefined, qr: boolean): Promise<void> {
  for (const t of created) {
    const claim = claimFor(t.token);
    process.stdout.write(`token ${t.id} for site ${t.site}${t.gateway ? `, gateway ${t.gateway}` : ''}, expires ${new Date(t.expiresAt).toISOString()}\n  ${t.token}\n`);
    if (claim) process.stdout.write(`  claim: ${claim}\n`);
    if (qr) process.stdout.write(`${await QRCode.toString(claim ?? t.token, { type: 'utf8', errorCorrectionLevel: 'M' })}\n`);
  }
  process.stdout.write(`${created.length} token(s), shown once: only their hashes are stored\n`);
}

export async function enrollmentCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      site: { type: 'string' },
      gateway: { type: 'string' },
      count: { type: 'string' },
      ttl: { type: 'string' },
      note: { type: 'string' },
      state: { type: 'string' },
      qr: { type: 'boolean', default: false },
      'move-site': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [verb, target] = positionals;
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (!values.config) throw usageError('hub enroll', '--config hub.yaml is required (tokens live in the hub store)');
  // Checked before the store opens: a CLI option is the command's usage, not the web API's.
  const count = verb !== 'create' || values.count === undefined ? 1 : numberOption('hub enroll', '--count', values.count, { min: 1, max: MAX_COUNT });
  if (count > 1 && values.gateway !== undefined) throw usageError('hub enroll', `--count ${count} with --gateway ${values.gateway}: a token bound to one gateway id is made one at a time`);
  const { commandStoreConfig, loadHubConfig, openHubStore } = await import('../hub/index.js');
  const { sqlFor } = await import('../hub/db/sql.js');
  const { AuditLog } = await import('../hub/api/audit.js');
  const { EnrollmentService } = await import('../hub/enrollment/service.js');
  const { enrollmentSettings } = await import('../hub/enrollment/settings.js');
  const { parseDuration } = await import('../hub/enrollment/schema.js');
  const { CredentialsFileIssuer } = await import('../hub/broker/gateway-credentials.js');
  const config = loadHubConfig(values.config);
  const store = await openHubStore(commandStoreConfig(config.store));
  try {
    const sql = sqlFor(store);
    const credentialsFile = config.broker.embedded?.credentialsFile;
    const enrollment = new EnrollmentService({
      sql,
      ...(config.enrollment ? { settings: enrollmentSettings(config.enrollment, config.api?.tls?.certFile, config.releases?.publicKeyFile) } : {}),
      ...(credentialsFile ? { issuer: new CredentialsFileIssuer(credentialsFile) } : {}),
    });
    const user = userInfo().username;
    const audit = new AuditLog(sql);
    const json = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    switch (verb) {
      case 'create': {
        if (!values.site) throw usageError('hub enroll', 'create: --site SITE is required');
        const ttlMs = values.ttl === undefined ? undefined : parseDuration(values.ttl);
        if (values.ttl !== undefined && ttlMs === undefined) throw usageError('hub enroll', `--ttl: expected a duration like 30m, 12h or 7d, got "${values.ttl}"`);
        const created = await enrollment.createTokens({
          site: values.site,
          count,
          createdBy: `cli:${user}`,
          ...(values.gateway ? { gateway: values.gateway } : {}),
          ...(ttlMs ? { ttlMs } : {}),
          ...(values.note ? { note: values.note } : {}),
          ...(values['move-site'] ? { moveSite: true } : {}),
        });
        await audit.write({ name: user, via: 'cli' }, 'enrollment.tokens.create', values.site, { count: created.length, gateway: values.gateway, ids: created.map((t) => t.id), ...(values['move-site'] ? { moveSite: true } : {}) });
        if (values.json) json(created.map((t) => ({ ...t, claim: enrollment.claimFor(t.token) })));
        else await printCreated(created, (t) => enrollment.claimFor(t), values.qr);
        return 0;
      }
      case 'list': {
        const state = values.state as TokenState | undefined;
        if (state !== undefined && !STATES.includes(state)) throw usageError('hub enroll', `--state: expected ${STATES.join(', ')}, got "${values.state ?? ''}"`);
        const tokens = await enrollment.listTokens({ ...(values.site ? { site: values.site } : {}), ...(state ? { state } : {}) });
        if (values.json) json(tokens);
        else if (tokens.length === 0) process.stdout.write('no enrollment tokens\n');
        else for (const t of tokens) process.stdout.write(`${line(t)}\n`);
        return 0;
      }
      case 'revoke': {
        if (!target) throw usageError('hub enroll', 'revoke: give the token id (see `swarmgate hub enroll list`)');
        const token = await enrollment.revokeToken(target, `cli:${user}`);
        await audit.write({ name: user, via: 'cli' }, 'enrollment.tokens.revoke', token.id, { site: token.site });
        process.stdout.write(`${line(token)}\n`);
        return token.state === 'revoked' ? 0 : 1;
      }
      case 'revoke-gateway': {
        if (!target) throw usageError('hub enroll', 'revoke-gateway: give the gateway id');
        const gateway = await enrollment.revokeGateway(target, `cli:${user}`);
        await audit.write({ name: user, via: 'cli' }, 'enrollment.gateways.revoke', gateway.gateway, { site: gateway.site });
        process.stdout.write(`revoked ${gateway.gateway} (site ${gateway.site}): its broker user is removed; a running hub disconnects it within a second\n`);
        return 0;
      }
      default:
        process.stderr.write(HELP);
        return 2;
    }
  } finally {
    await store.close();
  }
}
