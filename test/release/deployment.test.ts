/**
 * A deployment end to end, on real processes: a hub (embedded broker, API, releases), three gateway
 * processes each supervised like systemd does (restarted on exit 75, from `current`), running the
 * real federation and updater. Releases go to the hub with `swarmgate hub release upload`, are
 * deployed with `swarmgate hub release deploy` (canary first); two gateways update to 2.0.0 and
 * keep it, the third is given a release whose devices never come up, and rolls back by itself,
 * saying why. A deployment of that release to the fleet halts after its canary fails. A release
 * that dies as it loads is rolled back by the start guard the supervisor runs before each start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/index.js';
import type { DeploymentView } from '../../hub/releases/index.js';
import type { BuiltRelease } from '../../shared/release/artifact.js';
import { addGatewayUser, credentialsFile } from '../e2e/support/hub.js';
import { exited } from '../support/child.js';
import { tempDir } from '../support/tmp.js';
import { adminToken, bootstrapInstall, buildTestRelease, makeKeys, startReleaseHub, until, type Keys } from './support/releases.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = join(ROOT, 'cli', 'main.ts');
const HARNESS = join(ROOT, 'test', 'release', 'support', 'gateway-process.ts');
const SITE = 'site-d';
const dir = tempDir('swg-deploy-');
let hub: Hub;
let keys: Keys;
let token = '';
const built: Record<string, BuiltRelease> = {};

/**
 * A gateway process supervised as systemd does it: the start guard first (ExecStartPre), then
 * `current`; started again whenever it exits (Restart=always), after a short RestartSec.
 */
class Supervised {
  child?: ChildProcess;
  readonly versions: string[] = [];
  readonly restarts: string[] = [];
  crashes = 0;
  stderr = '';
  private stopped = false;
  constructor(
    readonly id: string,
    readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): void {
    const guard = join(this.root, 'update-guard.mjs');
    if (!existsSync(guard)) return this.run();
    const pre = spawn(process.execPath, [guard, this.root], { stdio: ['ignore', 'ignore', 'pipe'] });
    pre.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    pre.on('exit', () => this.run());
  }

  private run(): void {
    if (this.stopped) return;
    const child = spawn(process.execPath, ['--import', 'tsx', join(this.root, 'current', 'bin', 'swarmgate.js')], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('running ')) this.versions.push(line.slice(8));
        if (line.startsWith('restart ')) this.restarts.push(line.slice(8));
      }
    });
    child.stderr?.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-20_000)));
    child.on('exit', (code) => {
      if (code !== 75) this.crashes++;
      if (!this.stopped) setTimeout(() => this.start(), 200);
    });
  }

  get current(): string {
    return readlinkSync(join(this.root, 'current')).split('/').pop() ?? '';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.child;
    if (!c) return;
    c.kill('SIGTERM');
    await Promise.race([exited(c), new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  }
}

const gateways: Supervised[] = [];

/** The CLI as a separate process (asynchronously: the hub it calls runs in this process). */
async function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn', SWARMGATE_API_URL: hub.api?.url ?? '', SWARMGATE_API_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  await exited(child);
  return { status: child.exitCode, stdout, stderr };
}

async function deployment(id: string, done: (d: DeploymentView) => boolean, timeoutMs = 60_000): Promise<DeploymentView> {
  return until(
    `deployment ${id}`,
    async () => {
      const d = await hub.releases?.deployments.get(id);
      return d && done(d) ? d : undefined;
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  keys = makeKeys(join(dir.path, 'keys'));
  built['1.0.0'] = await buildTestRelease(dir.path, keys, '1.0.0');
  built['2.0.0'] = await buildTestRelease(dir.path, keys, '2.0.0');
  built['2.1.0-broken'] = await buildTestRelease(dir.path, keys, '2.1.0-broken', { healthy: false });
  built['2.1.0-crash'] = await buildTestRelease(dir.path, keys, '2.1.0-crash', { crash: true });
  hub = await startReleaseHub(dir.path, keys);
  token = await adminToken(hub);
  for (const id of ['gw-a', 'gw-b', 'gw-c']) {
    const root = join(dir.path, `install-${id}`);
    bootstrapInstall(root, built['1.0.0']);
    const auth = await addGatewayUser(credentialsFile(dir.path), SITE, id);
    const env = {
      ...process.env,
      SWARMGATE_LOG_LEVEL: 'warn',
      SWG_TEST_GATEWAY_HARNESS: HARNESS,
      SWG_TEST_GATEWAY: JSON.stringify({ site: SITE, gateway: id, url: hub.broker?.url ?? '', ...auth, installRoot: root, releaseKeyFile: keys.publicFile, dataDir: join(dir.path, `data-${id}`) }),
    };
    gateways.push(new Supervised(id, root, env));
  }
  for (const g of gateways) g.start();
  await until('three gateways online on 1.0.0', async () => {
    const list = await hub.registry.list();
    return list.filter((g) => g.status === 'online' && g.version === '1.0.0').length === 3 ? true : undefined;
  }, 60_000);
}, 120_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await hub?.stop();
  dir.remove();
});

describe('a deployment to three gateway processes', () => {
  it('refuses a release signed by another key at upload, before anything is stored', async () => {
    const other = makeKeys(join(dir.path, 'other-keys'));
    const forged = await buildTestRelease(join(dir.path, 'other'), other, '9.9.9');
    const r = await cli(['hub', 'release', 'upload', '--manifest', forged.manifestFile]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SWG_ERR_RELEASE_SIGNATURE');
    expect((await hub.releases?.releases.list())?.map((x) => x.version)).not.toContain('9.9.9');
  }, 120_000);

  it('two gateways update and stay; the one given a failing release rolls back by itself and says why', async () => {
    for (const v of ['2.0.0', '2.1.0-broken']) {
      const up = await cli(['hub', 'release', 'upload', '--manifest', built[v]?.manifestFile ?? '']);
      expect(up.status, up.stderr).toBe(0);
      expect(up.stdout).toContain(`release ${v}: ready`);
    }
    const started = Date.now();
    const good = await cli(['hub', 'release', 'deploy', '--version', '2.0.0', '--gateways', 'gw-a,gw-b', '--canary', '1', '--json']);
    expect(good.status, good.stderr).toBe(0);
    const goodId = (JSON.parse(good.stdout) as DeploymentView).id;
    const bad = await cli(['hub', 'release', 'deploy', '--version', '2.1.0-broken', '--gateways', 'gw-c', '--json']);
    expect(bad.status, bad.stderr).toBe(0);
    const badId = (JSON.parse(bad.stdout) as DeploymentView).id;

    // Canary first: while gw-a has no outcome, gw-b is not told.
    const early = await hub.releases?.deployments.get(goodId);
    expect(early?.state).toBe('canary');
    expect(early?.gateways.find((g) => g.gateway === 'gw-b')?.state).toBe('waiting');

    const done = await deployment(goodId, (d) => d.state === 'done');
    const goodMs = Date.now() - started;
    expect(done.gateways.map((g) => [g.gateway, g.wave, g.state, g.from])).toEqual([
      ['gw-a', 'canary', 'healthy', '1.0.0'],
      ['gw-b', 'rest', 'healthy', '1.0.0'],
    ]);
    const rolled = await deployment(badId, (d) => d.state !== 'canary' && d.state !== 'rolling');
    const badMs = Date.now() - started;
    expect(rolled.state).toBe('halted');
    expect(rolled.gateways[0]).toMatchObject({ gateway: 'gw-c', state: 'rolled-back', code: 'SWG_ERR_UPDATE_UNHEALTHY' });
    expect(rolled.gateways[0]?.reason).toContain('0/1 devices up (dev1 down)');

    const [a, b, c] = gateways as [Supervised, Supervised, Supervised];
    // The rollback is reported before the restart into the old release: wait for that start.
    await until('gw-c running 1.0.0 again', () => (c.versions.length === 3 ? true : undefined));
    expect([a.current, b.current, c.current]).toEqual(['2.0.0', '2.0.0', '1.0.0']);
    expect(a.versions).toEqual(['1.0.0', '2.0.0']);
    expect(c.versions).toEqual(['1.0.0', '2.1.0-broken', '1.0.0']);
    expect(c.restarts).toEqual(['release 2.1.0-broken installed', 'rolled back to 1.0.0']);
    // The fleet as the hub sees it: the running versions from the gateways' births.
    await until('births with the running versions', async () => {
      const v = Object.fromEntries((await hub.registry.list()).map((g) => [g.gateway, g.version]));
      return v['gw-a'] === '2.0.0' && v['gw-b'] === '2.0.0' && v['gw-c'] === '1.0.0' ? true : undefined;
    });
    const status = await cli(['hub', 'release', 'status', badId]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/gw-c\s+canary\s+rolled-back/);
    console.log(`2 gateways updated (canary then rest) in ${goodMs} ms; broken release rolled back in ${badMs} ms (health deadline 10 s)`);
  }, 120_000);

  it('a fleet deployment of the failing release halts after its canary rolls back; the others are never told', async () => {
    const r = await cli(['hub', 'release', 'deploy', '--version', '2.1.0-broken', '--site', SITE, '--canary', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as DeploymentView).id;
    const halted = await deployment(id, (d) => d.state === 'halted');
    // The site's gateways in name order: gw-a is the canary; it runs 2.0.0 now and goes back to it.
    expect(halted.gateways.map((g) => [g.gateway, g.wave, g.state])).toEqual([
      ['gw-a', 'canary', 'rolled-back'],
      ['gw-b', 'rest', 'waiting'],
      ['gw-c', 'rest', 'waiting'],
    ]);
    expect(halted.gateways[0]?.from).toBe('2.0.0');
    expect(halted.reason).toContain('1 gateway(s) failed or rolled back');
    const [a, b, c] = gateways as [Supervised, Supervised, Supervised];
    await until('gw-a back on 2.0.0', () => (a.versions.at(-1) === '2.0.0' ? true : undefined));
    expect([a.current, b.current, c.current]).toEqual(['2.0.0', '2.0.0', '1.0.0']);
  }, 90_000);

  it('a release that dies as it loads (no updater ever runs) is rolled back by the start guard, and reported', async () => {
    const up = await cli(['hub', 'release', 'upload', '--manifest', built['2.1.0-crash']?.manifestFile ?? '']);
    expect(up.status, up.stderr).toBe(0);
    const r = await cli(['hub', 'release', 'deploy', '--version', '2.1.0-crash', '--gateways', 'gw-b', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as DeploymentView).id;
    const b = gateways[1] as Supervised;
    const crashesBefore = b.crashes;
    const d = await deployment(id, (x) => x.state === 'halted' || x.state === 'done', 90_000);
    expect(d.gateways[0]).toMatchObject({ gateway: 'gw-b', state: 'rolled-back', code: 'SWG_ERR_UPDATE_UNHEALTHY' });
    expect(d.gateways[0]?.reason).toContain('crash loop');
    expect(b.current).toBe('2.0.0');
    // maxBoots (3) starts of the broken release died; the guard's fourth start ran 2.0.0 again.
    expect(b.crashes - crashesBefore).toBe(3);
    expect(b.versions.at(-1)).toBe('2.0.0');
  }, 120_000);
});
