/**
 * `swarmgate hub release upload --manifest FILE [--artifact FILE]`      add a signed release to the hub
 * `swarmgate hub release deploy --version V (--site S | --gateways A,B | --percent P) [--canary N | --canary-percent P] [--max-failures N] [--allow-downgrade]`
 * `swarmgate hub release status [DEPLOYMENT] [--json]`                   deployments and per-gateway progress
 * `swarmgate hub release cancel DEPLOYMENT`                              cancel the gateways not updating yet
 * `swarmgate hub release list [--json]`                                  releases on the hub
 * All through the running hub's API: --api URL (or SWARMGATE_API_URL) and an admin API token
 * (SWARMGATE_API_TOKEN, or --token), since deploying tells gateways over the hub's MQTT link.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { SwarmgateError, type ErrorCode } from '../shared/kit/errors.js';
import { escapeControl } from '../shared/kit/terminal-text.js';
import type { DeploymentView, ReleaseView } from '../hub/releases/index.js';
import { numberOption, usageError, type NumberOptionRange } from './usage.js';

const HELP = `usage:
  swarmgate hub release upload --manifest swarmgate-V.manifest.json [--artifact swarmgate-V.tar.gz]
  swarmgate hub release deploy --version V (--site S | --gateways GW,... | --percent P) [--canary N | --canary-percent P] [--max-failures N] [--allow-downgrade]
  swarmgate hub release status [DEPLOYMENT] [--json]
  swarmgate hub release cancel DEPLOYMENT      (gateways already updating finish; the others are not updated)
  swarmgate hub release list [--json]
options of every subcommand: --api URL (default $SWARMGATE_API_URL), --token T (default $SWARMGATE_API_TOKEN: an admin API token)
The artifact defaults to the file the manifest names, beside the manifest.
A hub on HTTPS with a certificate of its own CA: NODE_EXTRA_CA_CERTS=/path/ca.pem swarmgate hub release ...
`;

/** Certificate errors of Node's TLS: the hub's CA is not one this process trusts. */
const CERT_ERRORS: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** fetch says only "fetch failed"; what failed is its cause (a TLS or socket error with a code). */
function unreachable(method: string, url: string, err: unknown): SwarmgateError {
  const cause = (err as { cause?: unknown }).cause;
  const detail = cause instanceof Error ? cause : err instanceof Error ? err : new Error(String(err));
  const code = (detail as NodeJS.ErrnoException).code;
  const what = `${detail.message}${code && !detail.message.includes(code) ? ` (${code})` : ''}`;
  const hint = code && CERT_ERRORS.has(code)
    ? `the hub's certificate is not signed by a CA this machine trusts: give its CA with NODE_EXTRA_CA_CERTS=/path/ca.pem (the CA of api.tls in the hub config), e.g. NODE_EXTRA_CA_CERTS=/etc/swarmgate/ca.pem swarmgate hub release ...`
    : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? "the hub's certificate does not name the host in --api: use the name or address its certificate has"
      : undefined;
  return new SwarmgateError('SWG_ERR_API_UNREACHABLE', `${method} ${url}: ${what}`, { cause: err, ...(hint ? { hint } : {}) });
}

interface Api {
  readonly url: string;
  readonly token: string;
}

async function call<T>(api: Api, method: string, path: string, body?: { json: unknown } | { stream: Readable; length: number }): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${api.token}` };
  let payload: BodyInit | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = 'application/octet-stream';
    headers['content-length'] = String(body.length);
    payload = Readable.toWeb(body.stream) as unknown as BodyInit;
  }
  const url = `${api.url.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(payload ? { body: payload, duplex: 'half' } : {}) } as RequestInit);
  } catch (err) {
    throw unreachable(method, url, err);
  }
  const json = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string; hint?: string } } | undefined;
  if (!res.ok) {
    const e = json?.error;
    const code = (e?.code ?? 'SWG_ERR_INTERNAL') as ErrorCode;
    throw new SwarmgateError(code, `${method} ${path}: HTTP ${res.status}: ${e?.message ?? 'no error body'}`, e?.hint ? { hint: e.hint } : {});
  }
  return json as T;
}

function gatewayLine(g: DeploymentView['gateways'][number]): string {
  return escapeControl(`  ${g.gateway.padEnd(24)} ${g.wave.padEnd(7)} ${g.state.padEnd(12)} ${g.from ? `from ${g.from}` : ''}${g.code ? `  ${g.code}` : ''}${g.reason ? `: ${g.reason}` : ''}`);
}

function deploymentText(d: DeploymentView): string {
  const counts = Object.entries(d.counts).map(([k, v]) => `${v} ${k}`).join(', ');
  return [`${d.id}  release ${d.version}  ${d.state}${d.reason ? ` (${d.reason})` : ''}  ${counts}`, ...d.gateways.map(gatewayLine)].join('\n');
}

export async function hubReleaseCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      api: { type: 'string' },
      token: { type: 'string' },
      manifest: { type: 'string' },
      artifact: { type: 'string' },
      version: { type: 'string' },
      site: { type: 'string' },
      gateways: { type: 'string' },
      percent: { type: 'string' },
      canary: { type: 'string' },
      'canary-percent': { type: 'string' },
      'max-failures': { type: 'string' },
      'allow-downgrade': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (!sub || !['upload', 'deploy', 'status', 'list', 'cancel'].includes(sub) || values.help) {
    process.stdout.write(HELP);
    return sub === '--help' || sub === '-h' || values.help ? 0 : 2;
  }
  const url = values.api ?? process.env.SWARMGATE_API_URL;
  const token = values.token ?? process.env.SWARMGATE_API_TOKEN;
  if (!url || !token) throw usageError('hub', 'hub release needs --api URL and an API token (--token or SWARMGATE_API_TOKEN)');
  const api: Api = { url, token };
  // The ranges the hub's API takes (hub/api/plugins/releases.ts), refused here as this command's usage.
  const number = (text: string | undefined, what: string, range: NumberOptionRange): number | undefined => (text === undefined ? undefined : numberOption('hub release', what, text, range));

  if (sub === 'upload') {
    if (!values.manifest) throw usageError('hub', '--manifest FILE is required');
    const { inputFile } = await import('./release.js');
    const manifestFile = inputFile('hub release', '--manifest', values.manifest);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(manifestFile, 'utf8'));
    } catch (err) {
      throw usageError('hub release', `--manifest ${manifestFile}: not a release manifest (${err instanceof Error ? err.message : String(err)})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError('hub release', `--manifest ${manifestFile}: not a release manifest (a JSON object)`);
    const manifest = parsed as { version?: string; artifact?: { file?: string } };
    const artifact = inputFile('hub release', values.artifact === undefined ? '--artifact (default: the file the manifest names, beside it)' : '--artifact', values.artifact ?? join(dirname(manifestFile), manifest.artifact?.file ?? ''));
    const size = statSync(artifact).size;
    // A retried upload of the same release is accepted (the hub answers with the waiting release);
    // while no artifact is verified, a rebuilt release's manifest replaces the waiting one.
    const created = await call<ReleaseView>(api, 'POST', '/api/v1/releases', { json: { manifest } });
    const started = Date.now();
    const ready = await call<ReleaseView>(api, 'PUT', `/api/v1/releases/${encodeURIComponent(created.version)}/artifact`, { stream: createReadStream(artifact), length: size });
    process.stdout.write(`release ${ready.version}: ${ready.state} (${size} bytes in ${Date.now() - started} ms, signed by ${ready.manifest.signature.keyId})\n`);
    return 0;
  }
  if (sub === 'deploy') {
    if (!values.version) throw usageError('hub', '--version is required');
    const targets = [values.site, values.gateways, values.percent].filter((t) => t !== undefined).length;
    if (targets !== 1) throw usageError('hub', 'give exactly one target: --site, --gateways or --percent');
    const target = values.site ? { site: values.site } : values.gateways ? { gateways: values.gateways.split(',').map((s) => s.trim()).filter(Boolean) } : { percent: number(values.percent, '--percent', { min: 0, max: 100, integer: false, aboveMin: true }) ?? 0 };
    const canary = number(values.canary, '--canary', { min: 1, max: 10_000 });
    const canaryPercent = number(values['canary-percent'], '--canary-percent', { min: 0, max: 100, integer: false, aboveMin: true });
    const maxFailures = number(values['max-failures'], '--max-failures', { min: 0, max: 10_000 });
    const d = await call<DeploymentView>(api, 'POST', '/api/v1/deployments', {
      json: {
        version: values.version,
        target,
        ...(canary !== undefined ? { canary } : {}),
        ...(canaryPercent !== undefined ? { canaryPercent } : {}),
        ...(maxFailures !== undefined ? { maxFailures } : {}),
        ...(values['allow-downgrade'] ? { allowDowngrade: true } : {}),
      },
    });
    process.stdout.write(values.json ? `${JSON.stringify(d)}\n` : `${deploymentText(d)}\n`);
    return 0;
  }
  if (sub === 'list') {
    const { items } = await call<{ items: ReleaseView[] }>(api, 'GET', '/api/v1/releases');
    process.stdout.write(values.json ? `${JSON.stringify(items)}\n` : items.map((r) => escapeControl(`${r.version.padEnd(20)} ${r.state.padEnd(10)} ${r.size} bytes  ${new Date(r.createdAt).toISOString()}`)).join('\n') + (items.length ? '\n' : 'no releases\n'));
    return 0;
  }
  const id = positionals[0];
  if (sub === 'cancel') {
    if (!id) throw usageError('hub', 'hub release cancel needs the deployment id (hub release status lists them)');
    const d = await call<DeploymentView>(api, 'POST', `/api/v1/deployments/${encodeURIComponent(id)}/cancel`);
    process.stdout.write(values.json ? `${JSON.stringify(d)}\n` : `${deploymentText(d)}\n`);
    return 0;
  }
  const list = id ? [await call<DeploymentView>(api, 'GET', `/api/v1/deployments/${encodeURIComponent(id)}`)] : (await call<{ items: DeploymentView[] }>(api, 'GET', '/api/v1/deployments')).items;
  process.stdout.write(values.json ? `${JSON.stringify(id ? list[0] : list)}\n` : list.map(deploymentText).join('\n\n') + (list.length ? '\n' : 'no deployments\n'));
  return 0;
}
