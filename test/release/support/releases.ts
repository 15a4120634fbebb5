/**
 * Test releases and installs: a tiny app tree (its entry hands over to the test gateway process,
 * gateway-process.ts, which runs the real federation and the real updater), built into a signed
 * release by the real builder; an install root bootstrapped the way a package install lays it out
 * (releases/<version>/ and a `current` link); and a hub with the releases feature.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import mqtt from 'mqtt';
import { parseHubConfig } from '../../../hub/config.js';
import { startHub, type Hub } from '../../../hub/index.js';
import { buildRelease, stagedFiles, type BuiltRelease } from '../../../shared/release/artifact.js';
import { generateReleaseKeys, parsePublicKey, readPrivateKey } from '../../../shared/release/signing.js';
import { UpdateDesiredSchema, decode, gatewayTopic, type UpdateDesired } from '../../../shared/wire/index.js';
import { addGatewayUser, credentialsFile } from '../../e2e/support/hub.js';

export interface Keys {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly privateFile: string;
  readonly publicFile: string;
}

export function makeKeys(dir: string): Keys {
  mkdirSync(dir, { recursive: true });
  const k = generateReleaseKeys();
  const privateFile = join(dir, 'release.key');
  const publicFile = join(dir, 'release.pub');
  writeFileSync(privateFile, k.privatePem, { mode: 0o600 });
  writeFileSync(publicFile, k.publicPem);
  return { privateKey: readPrivateKey(privateFile), publicKey: parsePublicKey(k.publicPem, publicFile), privateFile, publicFile };
}

export interface AppOptions {
  /** What the test gateway process reports: devices up (healthy) or down. */
  readonly healthy?: boolean;
  /** The release dies as it loads, before any updater runs. */
  readonly crash?: boolean;
  /** Padding files, to make unpacking take measurable time. */
  readonly padFiles?: number;
  readonly padBytes?: number;
}

const ENTRY = `// A test release: hands over to the test gateway process named by the environment.
const harness = process.env.SWG_TEST_GATEWAY_HARNESS;
if (!harness) {
  process.stdout.write('no harness\\n');
  process.exit(0);
}
await import(harness);
`;

/** A staged app tree for `version`. */
export function stageApp(dir: string, version: string, options: AppOptions = {}): string {
  const app = join(dir, `app-${version}`);
  mkdirSync(join(app, 'bin'), { recursive: true });
  writeFileSync(join(app, 'bin', 'swarmgate.js'), options.crash ? `throw new Error('release ${version} is broken: it dies as it loads');\n` : ENTRY);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'swarmgate', version, type: 'module', engines: { node: '>=20.0' } }));
  writeFileSync(join(app, 'health.json'), JSON.stringify({ devicesUp: options.healthy ?? true }));
  if (options.padFiles) {
    const pad = join(app, 'node_modules', 'padding');
    mkdirSync(pad, { recursive: true });
    const each = Math.max(1, Math.floor((options.padBytes ?? 0) / options.padFiles));
    for (let i = 0; i < options.padFiles; i++) writeFileSync(join(pad, `f${i}.bin`), randomBytes(each));
  }
  return app;
}

export async function buildTestRelease(dir: string, keys: Keys, version: string, options: AppOptions = {}): Promise<BuiltRelease> {
  const app = stageApp(dir, version, options);
  return buildRelease({ version, privateKey: keys.privateKey, sourceDir: app, files: stagedFiles(app), outDir: join(dir, 'out'), minNode: '20.0.0' });
}

/** An install root running `built`, laid out as the updater expects (what a package install does). */
export function bootstrapInstall(root: string, built: BuiltRelease): void {
  const target = join(root, 'releases', built.manifest.version);
  mkdirSync(target, { recursive: true });
  const tar = spawnSync('tar', ['-xzf', built.tarball, '-C', target]);
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  writeFileSync(join(target, '.swarmgate-release.json'), JSON.stringify(built.manifest));
  symlinkSync(join('releases', built.manifest.version), join(root, 'current'));
}

/** Every path under dir with its size (a snapshot to compare). */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statSync(p, { throwIfNoEntry: false });
      out.push(`${relative(dir, p)} ${s?.isDirectory() ? 'dir' : (s?.size ?? 'link')}`);
      if (s?.isDirectory() && !p.endsWith('/current')) walk(p);
    }
  };
  walk(dir);
  return out;
}

export const ADMIN_PASSWORD = 'release-admin-password';

/** A hub with embedded broker, API (HTTPS with `tls`) and the releases feature holding the fleet public key. */
export async function startReleaseHub(dir: string, keys: Keys, options: { readonly tls?: { readonly certFile: string; readonly keyFile: string } } = {}): Promise<Hub> {
  process.env.SWG_TEST_RELEASE_ADMIN_PW = ADMIN_PASSWORD;
  const tls = options.tls ? `tls: { certFile: ${options.tls.certFile}, keyFile: ${options.tls.keyFile} }, ` : '';
  const yaml =
    `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml }\n` +
    `store: { kind: sqlite, path: hub.db }\n` +
    `api: { host: 127.0.0.1, port: 0, ${tls}initialAdmin: { username: root, passwordEnv: SWG_TEST_RELEASE_ADMIN_PW } }\n` +
    `releases: { dir: hub-releases, publicKeyFile: ${keys.publicFile} }\n`;
  return startHub(parseHubConfig(yaml, join(dir, 'hub.yaml')), { retentionIntervalMs: 0 });
}

/** An admin API token of the hub (what `swarmgate hub release` uses). */
export async function adminToken(hub: Hub): Promise<string> {
  const base = hub.api?.url ?? '';
  const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: ADMIN_PASSWORD }) });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const res = await fetch(`${base}/api/v1/tokens`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'release-tests', role: 'admin' }) });
  return ((await res.json()) as { token: string }).token;
}

/** Stores a built release on the hub (service calls, as the upload route makes them). */
export async function storeRelease(hub: Hub, built: BuiltRelease): Promise<void> {
  const { createReadStream } = await import('node:fs');
  const r = hub.releases?.releases;
  if (!r) throw new Error('hub without releases');
  await r.create(built.manifest);
  await r.upload(built.manifest.version, createReadStream(built.tarball));
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The desired update a gateway receives for a deployment of `version`: the test connects as the
 * gateway (its own broker user), announces it, deploys to it and reads update/desired.
 */
export async function desiredUpdate(hub: Hub, dir: string, site: string, gateway: string, version: string, options: { allowDowngrade?: boolean } = {}): Promise<UpdateDesired> {
  const auth = await addGatewayUser(credentialsFile(dir), site, gateway);
  const client = await mqtt.connectAsync(hub.broker?.url ?? '', { ...auth, clientId: gateway, protocolVersion: 4 });
  try {
    await client.publishAsync(gatewayTopic(site, gateway, 'state'), JSON.stringify({ v: 1, gateway, site, status: 'online', ts: Date.now() }), { qos: 1, retain: true });
    await until('the gateway in the registry', async () => ((await hub.registry.get(gateway)) ? true : undefined));
    const got = new Promise<UpdateDesired>((resolve, reject) => {
      client.on('message', (topic, payload) => {
        if (payload.length === 0) return;
        const d = decode(UpdateDesiredSchema, topic, payload);
        if (d.ok && d.value.manifest.version === version) resolve(d.value);
        else if (!d.ok) reject(new Error(d.error));
      });
    });
    await client.subscribeAsync(gatewayTopic(site, gateway, 'update/desired'), { qos: 1 });
    await hub.releases?.deployments.create({ version, target: { gateways: [gateway] }, user: 'test', ...options });
    return await got;
  } finally {
    await client.endAsync();
  }
}
