/**
 * Claim-based enrollment end to end: a real hub (embedded broker, SQLite, web API over HTTPS with
 * a self-signed certificate made by openssl) and a real gateway process started from a bootstrap
 * config holding only { hub, tokenFile, caFingerprint }. The admin creates the token over the
 * API; the gateway enrolls on first start, connects with its own credentials and shows in the
 * fleet. Then: the token cannot be used again, a wrong CA fingerprint, a bad token, an expired or
 * revoked token and a tampered answer are refused with their reason and nothing is written; and
 * revoking the gateway cuts it off at once.
 */
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../devices/facility.js';
import { enrollGateway } from '../../edge/enrollment/enroll.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { isSwarmgateError, type SwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';
import { ROOT, spawnEdge, killHard, type EdgeChild } from './support/edge.js';
import { startBusyFacility } from './support/facility.js';
import { uniqueId, waitFor } from './support/util.js';

const ADMIN_PW = 'enroll-admin-password-1';
const PW_ENV = 'SWG_TEST_ENROLL_ADMIN_PW';
const PROFILES = join(ROOT, 'devices', 'profiles');

async function freeTcpPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly setCookie?: string;
}

describe('enrollment: token -> first start -> own credentials -> fleet; refusals; revocation', () => {
  const dir = tempDir('swg-e2e-enroll-');
  const site = uniqueId('site');
  let facility: Facility | undefined;
  let hub: Hub | undefined;
  let edge: EdgeChild | undefined;
  let certPem = '';
  let fingerprint = '';
  let apiUrl = '';
  let cookie = '';
  let proxy: Server | undefined;
  let releaseKeyPem = '';

  /** The hub API over HTTPS, trusting its self-signed certificate. */
  const api = (method: string, path: string, body?: unknown): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(`${apiUrl}${path}`, { method, ca: certPem, headers: { cookie, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const setCookie = res.headers['set-cookie']?.[0]?.split(';')[0];
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ...(setCookie ? { setCookie } : {}) });
        });
      });
      req.on('error', reject);
      req.end(data);
    });

  const newToken = async (extra: Record<string, unknown> = {}): Promise<{ id: string; token: string }> => {
    const res = await api('POST', '/api/v1/enrollment/tokens', { site, ...extra });
    expect(res.status).toBe(201);
    const item = (res.body.items as { id: string; token: string }[])[0];
    if (!item) throw new Error('no token created');
    return item;
  };

  const filesIn = (path: string): string[] => (existsSync(path) ? readdirSync(path, { recursive: true }).map(String).sort() : []);

  beforeAll(async () => {
    process.env[PW_ENV] = ADMIN_PW;
    facility = await startBusyFacility(31);
    // node-opcua (loaded by the simulators) may leave OPENSSL_CONF set to "undefined": openssl would fail on it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENSSL_CONF'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir.path, 'api-key.pem'), '-out', join(dir.path, 'api-cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe', env });
    certPem = readFileSync(join(dir.path, 'api-cert.pem'), 'utf8');
    fingerprint = `sha256:${new X509Certificate(certPem).fingerprint256}`;
    mkdirSync(join(dir.path, 'templates'));
    releaseKeyPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(join(dir.path, 'release.pub'), releaseKeyPem);
    const f = facility.endpoints;
    writeFileSync(
      join(dir.path, 'templates', 'default.yaml'),
      `# The template every gateway of any site starts from\ngateway: { id: placeholder, site: placeholder }\n` +
        `dataDir: ${join(dir.path, 'gw-data')}\nmetrics: { enabled: false }\npolling: { defaultIntervalMs: 200, heartbeatMs: 5000 }\n` +
        `federation: { mqtt: { url: "mqtt://unused", reconnectPeriodMs: 200 }, outbox: { flushMs: 50 }, stateIntervalS: 0 }\n` +
        `update: { installRoot: ${join(dir.path, 'install')}, releaseKeyFile: /nowhere }\n` +
        `devices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${PROFILES}/ahu-modbus.yaml\n    connection: { host: 127.0.0.1, port: ${f.modbusTcp.port}, timeoutMs: 500 }\n`,
    );
    const brokerPort = await freeTcpPort();
    const yaml =
      `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: ${brokerPort}, credentialsFile: users.yaml }\n` +
      `store: { kind: sqlite, path: hub.db }\n` +
      `api: { host: 127.0.0.1, port: 0, tls: { certFile: api-cert.pem, keyFile: api-key.pem }, initialAdmin: { username: root, passwordEnv: ${PW_ENV} } }\n` +
      `enrollment: { brokerUrl: "mqtt://127.0.0.1:${brokerPort}", templatesDir: templates }\n` +
      `releases: { dir: releases, publicKeyFile: release.pub }\n`;
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
    apiUrl = hub.api?.url ?? '';
    expect(apiUrl).toMatch(/^https:\/\//);
    const login = await api('POST', '/api/v1/auth/login', { username: 'root', password: ADMIN_PW });
    expect(login.status).toBe(200);
    cookie = login.setCookie ?? '';
  }, 60_000);

  afterAll(async () => {
    if (edge) await killHard(edge);
    proxy?.close();
    await hub?.stop();
    await facility?.stop();
    delete process.env[PW_ENV];
    dir.remove();
  });

  it('a gateway started from a bootstrap config enrolls, connects with its own user and shows in the fleet', async () => {
    const { token } = await newToken({ gateway: 'gw-boot-1', note: 'sticker on box 1' });
    const gwDir = join(dir.path, 'gw1');
    mkdirSync(gwDir);
    writeFileSync(join(gwDir, 'token'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(gwDir, 'gateway.yaml'), `enrollment: { hub: "${apiUrl}", tokenFile: token, caFingerprint: "${fingerprint}" }\n`);
    // Cookie-less login state would be lost by the child: it talks to the hub only through enrollment and MQTT.
    edge = spawnEdge(join(gwDir, 'gateway.yaml'));
    await edge.waitForReadings(3, 60_000);
    const fleet = await waitFor(async () => {
      const res = await api('GET', '/api/v1/gateways');
      const gws = res.body.gateways as { gateway: string; site: string; status: string }[];
      return gws.find((g) => g.gateway === 'gw-boot-1' && g.status === 'online');
    }, 30_000, 'gw-boot-1 online in the fleet');
    expect(fleet.site).toBe(site);

    // What the gateway wrote: the hub's config (no secret in it), its secrets 0600, no token left.
    expect(existsSync(join(gwDir, 'token'))).toBe(false);
    const config = readFileSync(join(gwDir, 'gateway.yaml'), 'utf8');
    expect(config).not.toContain('enrollment:');
    expect(config).toContain('id: gw-boot-1');
    expect(config).toContain(`passwordFile: ${join(gwDir, 'secrets', 'broker-password')}`);
    expect(config).not.toMatch(/password: /);
    // Software updates: the fleet's release key is pinned, the hub's CA kept for downloads.
    expect(config).toContain(`releaseKeyFile: ${join(gwDir, 'release-key.pem')}`);
    expect(config).toContain(`caFile: ${join(gwDir, 'hub-ca.pem')}`);
    expect(readFileSync(join(gwDir, 'release-key.pem'), 'utf8')).toBe(releaseKeyPem);
    expect(new X509Certificate(readFileSync(join(gwDir, 'hub-ca.pem'))).fingerprint256).toBe(fingerprint.slice('sha256:'.length));
    for (const secret of ['secrets/broker-password', 'secrets/gateway-key.pem']) expect(statSync(join(gwDir, secret)).mode & 0o777).toBe(0o600);
    const identity = JSON.parse(readFileSync(join(gwDir, 'identity.json'), 'utf8')) as { gateway: string; site: string; keyFingerprint: string };
    expect(identity).toMatchObject({ gateway: 'gw-boot-1', site });

    // The hub recorded the key the gateway generated, and the token is spent.
    const enrolled = await api('GET', `/api/v1/enrollment/gateways?site=${site}`);
    expect((enrolled.body.items as { gateway: string; keyFingerprint: string }[]).find((g) => g.gateway === 'gw-boot-1')?.keyFingerprint).toBe(identity.keyFingerprint);
    const tokens = await api('GET', `/api/v1/enrollment/tokens?site=${site}&state=used`);
    expect((tokens.body.items as { usedBy: string; note: string }[])[0]).toMatchObject({ usedBy: 'gw-boot-1', note: 'sticker on box 1' });
  }, 120_000);

  it('a token for a gateway enrolled at another site is refused (409) unless moveSite says so', async () => {
    const refused = await api('POST', '/api/v1/enrollment/tokens', { site: `${site}-other`, gateway: 'gw-boot-1' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'SWG_ERR_ENROLL_SITE_MOVE', message: expect.stringContaining(`"gw-boot-1" is enrolled at site ${site}, not ${site}-other`) as unknown });
    const moving = await api('POST', '/api/v1/enrollment/tokens', { site: `${site}-other`, gateway: 'gw-boot-1', moveSite: true });
    expect(moving.status).toBe(201);
    expect((moving.body.items as { moveSite?: boolean }[])[0]?.moveSite).toBe(true);
    expect((await api('DELETE', `/api/v1/enrollment/tokens/${(moving.body.items as { id: string }[])[0]?.id ?? ''}`)).status).toBe(200);
  });

  it('refuses the same token again with its reason and writes nothing', async () => {
    const { token } = await newToken();
    const first = join(dir.path, 'again-1');
    await enrollGateway({ hub: apiUrl, token, out: first, trust: { caFingerprint: fingerprint } });
    const second = join(dir.path, 'again-2');
    const err = await enrollGateway({ hub: apiUrl, token, out: second, trust: { caFingerprint: fingerprint } }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_ENROLL_TOKEN')).toBe(true);
    expect(String((err as Error).message)).toMatch(/already used at .* \(by gateway site-.*-gw-[0-9a-f]{6}\)/);
    expect(filesIn(second)).toEqual([]);
    // The command says so with exit 3 (refused for good: a first-boot script stops retrying).
    const tokenFile = join(dir.path, 'used-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    // Run asynchronously: the hub answering it lives in this process.
    const cli = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'edge', 'enroll', '--hub', apiUrl, '--token-file', tokenFile, '--ca-fingerprint', fingerprint, '--out', second], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
      );
    });
    expect(cli.stderr).toMatch(/SWG_ERR_ENROLL_TOKEN: the hub refused the enrollment: token [a-z0-9]{12} was already used/);
    expect(cli.status).toBe(3);
    expect(filesIn(second)).toEqual([]);
  }, 60_000);

  it('enrolled but the config issued has problems on this box: exit 4 (not 1, "worth retrying"), one line saying who enrolled and what to fix', async () => {
    const broken = `${site}-b`;
    writeFileSync(join(dir.path, 'templates', `${broken}.yaml`), `gateway: { id: x, site: y }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: /nowhere/ahu-modbus.yaml, connection: { host: 127.0.0.1, port: 502 } }\n`);
    const res = await api('POST', '/api/v1/enrollment/tokens', { site: broken, gateway: 'gw-broken-1' });
    const token = (res.body.items as { token: string }[])[0]?.token ?? '';
    const tokenFile = join(dir.path, 'broken-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const out = join(dir.path, 'broken');
    const cli = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'edge', 'enroll', '--hub', apiUrl, '--token-file', tokenFile, '--ca-fingerprint', fingerprint, '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
    expect(cli.stdout).toContain(`enrolled as gw-broken-1 (site ${broken})`);
    expect(cli.stderr).toMatch(new RegExp(`^enrolled as gw-broken-1 \\(site ${broken}\\); the config issued has 1 problem\\(s\\): devices\\[0\\]\\.profile: profile file not found: /nowhere/ahu-modbus\\.yaml; fix the site template on the hub .*--gateway gw-broken-1.* \\(exit 4\\)$`, 'm'));
    expect(cli.status).toBe(4);
    expect(filesIn(out)).toContain('identity.json');
  }, 60_000);

  it('an answer lost on the way: asked again with the same token and key, the hub answers again', async () => {
    // A loopback relay that hands the request to the hub and drops the link instead of its answer.
    let claimed = 0;
    const relay = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const upstream = httpsRequest(`${apiUrl}${req.url ?? ''}`, { method: req.method, ca: certPem, headers: { 'content-type': 'application/json' } }, (up) => {
          up.resume();
          up.on('end', () => {
            if (up.statusCode === 200) claimed++;
            res.socket?.destroy();
          });
        });
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    try {
      const { id, token } = await newToken();
      const out = join(dir.path, 'lost-answer');
      const lost = await enrollGateway({ hub: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, token, out }).catch((e: unknown) => e);
      expect(isSwarmgateError(lost, 'SWG_ERR_ENROLL_HUB')).toBe(true);
      expect(claimed).toBe(1);
      // Not enrolled; only the key it asked with is kept (owner-only) for the next try.
      expect(filesIn(out)).toEqual(['secrets', 'secrets/enrolling-key.json']);
      expect(statSync(join(out, 'secrets', 'enrolling-key.json')).mode & 0o777).toBe(0o600);
      const enrolled = await enrollGateway({ hub: apiUrl, token, out, trust: { caFingerprint: fingerprint } });
      const gateways = await api('GET', `/api/v1/enrollment/gateways?site=${site}`);
      const record = (gateways.body.items as { gateway: string; tokenId: string; keyFingerprint: string }[]).find((g) => g.tokenId === id);
      expect(record).toMatchObject({ gateway: enrolled.identity.gateway, keyFingerprint: enrolled.identity.keyFingerprint });
      expect(filesIn(out)).not.toContain('secrets/enrolling-key.json');
      expect(filesIn(out)).toContain('secrets/gateway-key.pem');
      expect(filesIn(out)).toContain('identity.json');
      // The password answered the second time is the broker's.
      const client = await mqtt.connectAsync(enrolled.identity.broker.url, { username: enrolled.identity.gateway, password: enrolled.identity.broker.password, reconnectPeriod: 0, clientId: enrolled.identity.gateway });
      await client.endAsync();
    } finally {
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  it('refuses a wrong CA fingerprint before sending the token, and the token stays usable', async () => {
    const { id, token } = await newToken();
    const out = join(dir.path, 'wrong-ca');
    const err = await enrollGateway({ hub: apiUrl, token, out, trust: { caFingerprint: `sha256:${'AB:'.repeat(31)}AB` } }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_ENROLL_HUB')).toBe(true);
    expect(String((err as Error).message)).toMatch(/does not contain the pinned CA/);
    expect(filesIn(out)).toEqual([]);
    const list = await api('GET', `/api/v1/enrollment/tokens?site=${site}&state=active`);
    expect((list.body.items as { id: string }[]).map((t) => t.id)).toContain(id);
    // Without any pin or CA the system CAs do not know the self-signed hub: refused too.
    const untrusted = await enrollGateway({ hub: apiUrl, token, out }).catch((e: unknown) => e);
    expect(isSwarmgateError(untrusted, 'SWG_ERR_ENROLL_HUB')).toBe(true);
    expect(filesIn(out)).toEqual([]);
  });

  it('refuses bad, unknown, expired and revoked tokens with their reason', async () => {
    const out = join(dir.path, 'bad');
    const attempt = (token: string): Promise<unknown> => enrollGateway({ hub: apiUrl, token, out, trust: { caFingerprint: fingerprint } }).catch((e: unknown) => e);
    const malformed = await attempt('not-a-token');
    expect(isSwarmgateError(malformed, 'SWG_ERR_ENROLL_TOKEN')).toBe(true);
    expect((malformed as Error).message).toMatch(/not an enrollment token/);
    const { token } = await newToken();
    const guessed = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await attempt(guessed)) as Error).toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/not recognised/) as unknown });
    const expiring = await newToken({ ttl: '1s' });
    await new Promise((r) => setTimeout(r, 1200));
    expect((await attempt(expiring.token)) as Error).toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/expired at/) as unknown });
    const revoked = await newToken();
    expect((await api('DELETE', `/api/v1/enrollment/tokens/${revoked.id}`)).body).toMatchObject({ state: 'revoked', revokedBy: 'root' });
    expect((await attempt(revoked.token)) as Error).toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/revoked at .* by root/) as unknown });
    expect(filesIn(out)).toEqual([]);
    // The untouched good token still works afterwards.
    await enrollGateway({ hub: apiUrl, token, out, trust: { caFingerprint: fingerprint } });
    expect(filesIn(out)).toContain('identity.json');
  });

  it('revoking a token already revoked or used is refused (409, saying so) and not audited again', async () => {
    const revokes = async (id: string): Promise<number> => {
      const res = await api('GET', '/api/v1/audit?action=enrollment.tokens.revoke&limit=1000');
      return (res.body.entries as { target?: string }[]).filter((e) => e.target === id).length;
    };
    const { id } = await newToken();
    expect((await api('DELETE', `/api/v1/enrollment/tokens/${id}`)).status).toBe(200);
    expect(await revokes(id)).toBe(1);
    const again = await api('DELETE', `/api/v1/enrollment/tokens/${id}`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN_SPENT', message: expect.stringMatching(new RegExp(`token ${id} was already revoked at .* by root`)) as unknown });
    expect(await revokes(id)).toBe(1);
    const used = await newToken();
    await enrollGateway({ hub: apiUrl, token: used.token, out: join(dir.path, 'used-then-revoked'), trust: { caFingerprint: fingerprint } });
    const late = await api('DELETE', `/api/v1/enrollment/tokens/${used.id}`);
    expect(late.status).toBe(409);
    expect((late.body.error as { message: string }).message).toMatch(/already used at .* \(by gateway .*\): there is nothing left to revoke/);
    expect(await revokes(used.id)).toBe(0);
  });

  it('--id that the hub does not give is said, with why', async () => {
    const run = (args: string[]): Promise<{ status: number | null; stdout: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'edge', 'enroll', '--hub', apiUrl, '--ca-fingerprint', fingerprint, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, stdout) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout }),
        );
      });
    const bound = await newToken({ gateway: 'gw-bound-9' });
    const first = await run(['--token', bound.token, '--id', 'my-name', '--out', join(dir.path, 'id-bound')]);
    expect(first.stdout).toContain('asked for gateway id my-name, enrolled as gw-bound-9: the token is bound to gw-bound-9');
    const taken = await newToken();
    const second = await run(['--token', taken.token, '--id', 'gw-bound-9', '--out', join(dir.path, 'id-taken')]);
    expect(second.stdout).toMatch(new RegExp(`asked for gateway id gw-bound-9, enrolled as ${site}-gw-[0-9a-f]{6}: gw-bound-9 is taken by another gateway, so the hub picked one`));
  }, 60_000);

  it('failed enrollments are rate-limited with their own code and hint (not failed logins)', async () => {
    const unknown = `swg-enroll-v1.zzzzzzzzzzzz.${'Q'.repeat(43)}`;
    let last: unknown;
    for (let i = 0; i < 8 && !isSwarmgateError(last, 'SWG_ERR_ENROLL_RATE_LIMITED'); i++) {
      last = await enrollGateway({ hub: apiUrl, token: unknown, out: join(dir.path, 'limited'), trust: { caFingerprint: fingerprint } }).catch((e: unknown) => e);
    }
    expect(isSwarmgateError(last, 'SWG_ERR_ENROLL_RATE_LIMITED')).toBe(true);
    const err = last as SwarmgateError;
    expect(err.status).toBe(429);
    expect(err.details.retryAfterS).toBeGreaterThan(0);
    expect(err.hint).toMatch(/failed enrollments/);
    expect(err.hint).not.toMatch(/failed logins|user name/);
    expect(filesIn(join(dir.path, 'limited'))).toEqual([]);
    // The hint's way out: an admin sees the limit among the login limits and lifts it.
    const listed = await api('GET', '/api/v1/login-limits');
    const held = (listed.body.limits as { for: string; kind: string; tokenId?: string; address?: string }[]).filter((l) => l.for === 'enrollment');
    expect(held).toEqual(expect.arrayContaining([expect.objectContaining({ tokenId: 'zzzzzzzzzzzz' })]));
    const address = held.find((l) => l.address !== undefined)?.address;
    const lifted = await api('POST', '/api/v1/login-limits/unlock', { tokenId: 'zzzzzzzzzzzz', ...(address ? { address } : {}) });
    expect(lifted.status).toBe(200);
    expect(lifted.body.cleared).toBeGreaterThan(0);
    expect(((await api('GET', '/api/v1/login-limits')).body.limits as { for: string }[]).filter((l) => l.for === 'enrollment')).toEqual([]);
    const again = await enrollGateway({ hub: apiUrl, token: unknown, out: join(dir.path, 'limited'), trust: { caFingerprint: fingerprint } }).catch((e: unknown) => e);
    expect(isSwarmgateError(again, 'SWG_ERR_ENROLL_TOKEN')).toBe(true);
  });

  it('refuses an answer changed on the way (MAC) and writes nothing', async () => {
    // A loopback relay in the middle that rewrites the broker URL in the hub's answer.
    proxy = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const upstream = httpsRequest(`${apiUrl}${req.url ?? ''}`, { method: req.method, ca: certPem, headers: { 'content-type': 'application/json' } }, (up) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            const text = Buffer.concat(body).toString('utf8').replace(/mqtt:\/\/127\.0\.0\.1:\d+/, 'mqtt://evil.example:1883');
            res.writeHead(up.statusCode ?? 500, { 'content-type': 'application/json' }).end(text);
          });
        });
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', () => r()));
    const relay = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const { token } = await newToken();
    const out = join(dir.path, 'tampered');
    const err = await enrollGateway({ hub: relay, token, out }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_ENROLL_RESPONSE')).toBe(true);
    expect((err as Error).message).toMatch(/does not carry the MAC/);
    expect(filesIn(out)).toEqual([]);
    // Plain http anywhere but loopback is refused before anything is sent.
    const remote = await enrollGateway({ hub: 'http://hub.example.com:8080', token, out }).catch((e: unknown) => e);
    expect((remote as Error).message).toMatch(/needs https/);
  });

  it('revoking the gateway disconnects it at once and its password stops working', async () => {
    const before = hub?.broker?.connectedClients ?? 0;
    const res = await api('POST', '/api/v1/enrollment/gateways/gw-boot-1/revoke');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ gateway: 'gw-boot-1', revokedBy: 'root' });
    await waitFor(() => (hub?.broker?.connectedClients ?? 0) < before, 5000, 'the revoked gateway disconnected');
    const password = readFileSync(join(dir.path, 'gw1', 'secrets', 'broker-password'), 'utf8').trim();
    const client = mqtt.connect(hub?.broker?.url ?? '', { username: 'gw-boot-1', password, clientId: 'gw-boot-1-probe', protocolVersion: 4, reconnectPeriod: 0 });
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (e) => resolve(e.message));
    });
    client.end(true);
    expect(outcome).toMatch(/Bad username or password|Not authorized/i);
    const fleet = await waitFor(async () => {
      const r = await api('GET', '/api/v1/gateways');
      return (r.body.gateways as { gateway: string; status: string; revoked?: { at: number; by: string } }[]).find((g) => g.gateway === 'gw-boot-1' && g.status === 'offline');
    }, 15_000, 'gw-boot-1 offline');
    // Offline because it was revoked, and the fleet says so (not a box that lost its network).
    expect(fleet.revoked).toEqual({ at: res.body.revokedAt as number, by: 'root' });
    expect((await api('GET', '/api/v1/gateways/gw-boot-1')).body.revoked).toEqual({ at: res.body.revokedAt as number, by: 'root' });
  }, 120_000);
});
