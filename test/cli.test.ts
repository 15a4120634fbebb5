/**
 * The `swarmgate` executable as a user runs it: exit codes, messages, JSON lines on stdout.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startFacility } from '../devices/facility.js';
import { sqlFor } from '../hub/db/sql.js';
import { featureMigrations } from '../hub/features.js';
import { QuarantineService } from '../hub/quarantine/service.js';
import { SqliteStore } from '../hub/store/sqlite/sqlite.js';
import { upsertUser } from '../hub/broker/credentials.js';
import { loadHubConfig, openHubStore } from '../hub/index.js';
import { CLI_ENTRY, PROJECT_ROOT, runCli, runCliAsync, type CliResult } from './support/cli.js';
import { tempDir } from './support/tmp.js';

const ROOT = PROJECT_ROOT;
const ENTRY = CLI_ENTRY;
const PROFILES = join(ROOT, 'devices', 'profiles');
const dir = tempDir('swarmgate-cli-');
afterAll(() => dir.remove());

/** `logLevel: 'unset'` runs it as a person does, without SWARMGATE_LOG_LEVEL. */
const cli = (args: string[], logLevel: 'warn' | 'unset' = 'warn'): CliResult => runCli(args, { logLevel });

/** Async: the facility under test runs in this process and must keep answering. */
const cliAsync = (args: string[]): Promise<{ stdout: string; stderr: string }> => runCliAsync(args, { logLevel: 'error' });

// Every test here starts `node --import tsx` children that load the whole app: on a loaded 2-core
// CI box one such start takes 10-15 s (edge discover runs three), so the tests get more than the
// suite's 60 s.
describe('swarmgate CLI', { timeout: 180_000 }, () => {
  it('lists its commands and refuses an unknown one with exit 2', () => {
    expect(cli(['--help'])).toMatchObject({ status: 0 });
    const r = cli(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    // Options of edge check are not config files.
    const help = cli(['edge', 'check', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('swarmgate edge check FILE [FILE...]');
    // Subcommands without a help of their own print their command's usage, exit 0.
    for (const args of [['edge', 'discover'], ['edge', 'enroll'], ['release', 'keygen'], ['sim', 'fault']]) {
      const sub = cli([...args, '--help']);
      expect(sub.status, `${args.join(' ')} --help: ${sub.stderr}`).toBe(0);
      expect(sub.stdout).toContain(`swarmgate ${args.join(' ')}`);
    }
    const option = cli(['edge', 'check', '--strict', 'gateway.yaml']);
    expect(option.status).toBe(2);
    expect(option.stderr).toContain('unknown option --strict (it takes config files only)');
  });

  it('edge check: exit 0 for the demo config, exit 1 with file:line for a broken one', () => {
    const ok = cli(['edge', 'check', join(ROOT, 'deploy/examples/demo-gateway.yaml')]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/ok \(7 devices, \d+ points\)/);
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, `gateway: { id: gw, site: s }\ndevices:\n  - id: a\n    protocol: modbus-tcp\n    profile: ${PROFILES}/ahu-modbus.yaml\n    connection: { host: h, port: 70000 }\n`);
    const r = cli(['edge', 'check', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${bad}:6:`);
    expect(r.stderr).toContain('devices[0].connection.port');
    // A device file is refused without being read (it used to crash the check reading /dev/zero).
    const zero = cli(['edge', 'check', '/dev/zero']);
    expect(zero.status).toBe(1);
    expect(zero.stderr).toContain('/dev/zero:1:1: (document): not a regular file (character device)');

    // A first-start bootstrap file (what the systemd unit's ExecStartPre checks before enrolling).
    const boot = join(dir.path, 'boot');
    mkdirSync(boot, { recursive: true });
    const bootstrap = join(boot, 'gateway.yaml');
    const pin = `sha256:${Array(32).fill('AB').join(':')}`;
    writeFileSync(bootstrap, `enrollment: { hub: "https://hub.example:8443", tokenFile: token, caFingerprint: "${pin}" }\n`);
    const missing = cli(['edge', 'check', bootstrap]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${bootstrap}: enrollment.tokenFile: cannot read ${join(boot, 'token')}`);
    writeFileSync(join(boot, 'token'), 'swgt_x\n');
    const ready = cli(['edge', 'check', bootstrap]);
    expect(ready.stderr).toBe('');
    expect(ready.status).toBe(0);
    expect(ready.stdout).toContain(`${bootstrap}: ok (enrolls with the hub on first start)`);
    writeFileSync(bootstrap, 'enrollment: { tokenFile: token }\n');
    const broken = cli(['edge', 'check', bootstrap]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('enrollment');
  });

  it('edge --print writes readings as JSON lines on stdout and stops cleanly on SIGTERM', async () => {
    const facility = await startFacility({ dataDir: dir.path });
    try {
      const file = join(dir.path, 'gw.yaml');
      writeFileSync(
        file,
        `gateway: { id: gw-cli, site: s }\ndataDir: ${dir.path}/gw\nmetrics: { enabled: false }\ndevices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${PROFILES}/ahu-modbus.yaml\n    connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port} }\n    pollIntervalMs: 200\n`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'edge', '--config', file, '--print'], { cwd: ROOT, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline && child.exitCode === null && out.split('\n').filter(Boolean).length < 10) await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const lines = out.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThanOrEqual(10);
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({ device: 'ahu1', quality: 'good' });
    } finally {
      await facility.stop();
    }
  });

  it('edge discover drafts profiles from OPC UA browse and a Modbus scan that edge check accepts', async () => {
    const facility = await startFacility({ dataDir: dir.path });
    try {
      const opcuaDraft = join(dir.path, 'draft-opcua.yaml');
      await cliAsync(['edge', 'discover', '--protocol', 'opcua', '--endpoint', facility.endpoints.opcua.endpointUrl, '--output', opcuaDraft, '--name', 'cold-room-draft']);
      const modbusDraft = join(dir.path, 'draft-modbus.yaml');
      await cliAsync(['edge', 'discover', '--protocol', 'modbus-tcp', '--host', '127.0.0.1', '--port', String(facility.endpoints.modbusTcp.port), '--units', '1', '--output', modbusDraft]);
      expect(readFileSync(opcuaDraft, 'utf8')).toContain('ns=1;s=ColdRoom.Temperature');
      const drafted = (parseYaml(readFileSync(opcuaDraft, 'utf8')) as { points: { name: string; unit?: string }[] }).points;
      expect(drafted.find((p) => p.name === 'facility_cold_room_temperature')?.unit).toBe('degC');
      expect(readFileSync(modbusDraft, 'utf8')).toMatch(/name: input_0\b/);
      const config = join(dir.path, 'drafts.yaml');
      writeFileSync(
        config,
        `gateway: { id: gw, site: s }\ndevices:\n  - { id: cr, protocol: opcua, profile: ${opcuaDraft}, connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}" } }\n  - { id: ahu, protocol: modbus-tcp, profile: ${modbusDraft}, connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port} } }\n`,
      );
      const checked = await cliAsync(['edge', 'check', config]);
      expect(checked.stdout).toContain('ok (2 devices');
    } finally {
      await facility.stop();
    }
  });

  it('hub quarantine: lists (how often each was received), shows (payload decoded, error naming the field) and discards refused messages', async () => {
    const hubDir = join(dir.path, 'quarantine-hub');
    mkdirSync(hubDir);
    const config = join(hubDir, 'hub.yaml');
    writeFileSync(config, 'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n');
    const store = SqliteStore.open({ path: join(hubDir, 'hub.db'), migrations: featureMigrations('sqlite') });
    const q = new QuarantineService(sqlFor(store));
    const t0 = Date.UTC(2026, 0, 2, 3, 4, 5);
    await q.add({ topic: 'swarmgate/v1/s/gw-1/telemetry', site: 's', gateway: 'gw-1', channel: 'telemetry', reason: 'schema', error: 'readings/0/seq: must be <= 9007199254740991', payload: Buffer.from('{"v":1,"seq":1e300}') }, t0);
    await q.add({ topic: 'swarmgate/v1/s/gw-2/telemetry', site: 's', gateway: 'gw-2', channel: 'telemetry', reason: 'not-json', error: 'not JSON at byte 0', payload: Buffer.from('\u001b[31mred\u0000', 'utf8') }, t0 + 1000);
    // Sent again a minute later: one entry, seen twice.
    await q.add({ topic: 'swarmgate/v1/s/gw-1/telemetry', site: 's', gateway: 'gw-1', channel: 'telemetry', reason: 'schema', error: 'readings/0/seq: must be <= 9007199254740991', payload: Buffer.from('{"v":1,"seq":1e300}') }, t0 + 60_000);
    const [binary, schema] = await q.list();
    await store.close();

    const list = cli(['hub', 'quarantine', 'list', '--config', config, '--gateway', 'gw-1']);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${schema!.id}  2026-01-02T03:04:05.000Z  gw-1  telemetry  schema  seen 2x, last 2026-01-02T03:05:05.000Z  readings/0/seq`);
    expect(list.stdout.trim().split('\n')).toHaveLength(1);
    expect(list.stdout).not.toContain('gw-2');

    const show = cli(['hub', 'quarantine', 'show', String(binary!.id), '--config', config]);
    expect(show.status, show.stderr).toBe(0);
    expect(show.stdout).toContain('error:    not JSON at byte 0');
    expect(show.stdout).toContain('received: 2026-01-02T03:04:06.000Z (first seen)\nseen:     once');
    expect(show.stdout).toContain('\\x1b[31mred\\x00'); // decoded from base64, control bytes escaped
    expect(show.stdout).not.toContain('\u001b');

    const discard = cli(['hub', 'quarantine', 'discard', String(schema!.id), '--config', config, '--user', 'ops-anna']);
    expect(discard.status, discard.stderr).toBe(0);
    expect(discard.stdout).toContain(`discarded ${schema!.id}`);

    const after = SqliteStore.open({ path: join(hubDir, 'hub.db'), migrations: featureMigrations('sqlite') });
    try {
      expect((await new QuarantineService(sqlFor(after)).list()).map((m) => m.id)).toEqual([binary!.id]);
      const audit = await sqlFor(after).all("SELECT actor, via, target FROM api_audit WHERE action = 'quarantine.discard'");
      expect(audit).toEqual([{ actor: 'ops-anna', via: 'cli', target: String(schema!.id) }]);
    } finally {
      await after.close();
    }
  });

  it('score: writes timestamp,value,anomaly_score,state (learning, then scoring), counts the learning rows, and names file and line of a bad row', () => {
    const input = join(dir.path, 'series.csv');
    const rows = Array.from({ length: 500 }, (_, i) => `${new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString()},${(20 + Math.sin(i / 20)).toFixed(3)}`);
    writeFileSync(input, `timestamp,value\n${rows.join('\n')}\n`);
    const output = join(dir.path, 'scored.csv');
    const ok = cli(['score', '--input', input, '--output', output]);
    expect(ok.status, ok.stderr).toBe(0);
    const lines = readFileSync(output, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score,state');
    expect(lines).toHaveLength(501);
    const states = lines.slice(1).map((line) => line.split(',')[3]);
    for (const line of lines.slice(1)) {
      const score = Number(line.split(',')[2]);
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
    }
    const learning = states.indexOf('scoring');
    expect(learning).toBeGreaterThan(0);
    expect(states.slice(0, learning).every((s) => s === 'learning')).toBe(true);
    expect(states.slice(learning).every((s) => s === 'scoring')).toBe(true);
    expect(ok.stderr).toContain(`${learning} of 500 rows scored while learning`);
    const bad = join(dir.path, 'bad.csv');
    writeFileSync(bad, `timestamp,value\n2026-01-01T00:00:00Z,1\n2026-01-01T00:01:00Z,abc\n`);
    const refused = cli(['score', '--input', bad]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${bad}:3`);
  });

  it('each error hint fits its command, review list logs nothing, hub mosquitto creates --out and names the owner', async () => {
    const hubDir = join(dir.path, 'hub');
    mkdirSync(hubDir);
    await upsertUser(join(hubDir, 'users.yaml'), { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, 'gw-1-password', { mosquittoIterations: 101 });
    const config = join(hubDir, 'hub.yaml');
    writeFileSync(config, 'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n');

    const badState = cli(['review', 'list', '--state', '', '--config', config]);
    expect(badState.status).toBe(2);
    expect(badState.stderr).toContain('--state must be one of');
    expect(badState.stderr).toContain('swarmgate review --help');
    expect(badState.stderr).not.toContain('edge check');
    const noCredentials = cli(['hub', 'user', 'add', '--role', 'gateway']);
    expect(noCredentials.status).toBe(2);
    expect(noCredentials.stderr).toContain('swarmgate hub --help');
    expect(noCredentials.stderr).not.toContain('edge check');

    // A normal interactive run next to a running hub (this process holds the store and its
    // ingest journal): its output on stdout, nothing on stderr (no JSON log lines).
    const hubStore = await openHubStore(loadHubConfig(config).store);
    const listed = cli(['review', 'list', '--config', config], 'unset');
    await hubStore.close();
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toBe('no review items\n');
    expect(listed.stderr).toBe('');

    const out = join(hubDir, 'etc', 'mosquitto', 'swarmgate');
    const written = cli(['hub', 'mosquitto', '--credentials', join(hubDir, 'users.yaml'), '--out', out]);
    expect(written.status, written.stderr).toBe(0);
    expect(readFileSync(join(out, 'mosquitto.passwd'), 'utf8')).toMatch(/^gw-1:\$7\$/);
    expect(readFileSync(join(out, 'mosquitto.acl'), 'utf8')).toContain('user gw-1');
    // Without --owner the files stay the caller's: the output says who must own them and how.
    expect(written.stdout).toContain(`chown mosquitto: ${join(out, 'mosquitto.passwd')} ${join(out, 'mosquitto.acl')}`);
    expect(written.stdout).toContain('--owner mosquitto');
  });
});
