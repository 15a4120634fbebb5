/**
 * Connection storms: N simulated gateways (10,000 by default; SWARMGATE_BENCH_GATEWAYS overrides)
 * with real credentials (generated 256-bit secrets, as enrollment issues) against one hub process
 * (embedded broker, SQLite, in a child process so its RSS and CPU are its own), then the same
 * clients against a Mosquitto of the run's own with the password and ACL files `swarmgate hub
 * mosquitto` writes for the same users. Each gateway is a socket speaking what the hub link does
 * (test/support/gateway-fleet.ts): persistent session, retained will, three subscriptions,
 * retained birth, keepalive pings and a state heartbeat every 60 s, driven by
 * SWARMGATE_BENCH_CLIENT_PROCS processes (default 2), each over its own loopback addresses.
 *
 * Per broker: time for all to connect (CONNACK; for the hub also until every birth is stored and
 * the registry says online), connections/s, RSS per connected gateway and CPU % at idle heartbeat
 * traffic (over SWARMGATE_BENCH_IDLE_S, default 30 s), then every gateway dropping at once (a
 * site's network gone: wills) and reconnecting at once: whether the broker lives, and how long.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { upsertUsers } from '../hub/broker/credentials.js';
import { emitMosquittoConf, writeMosquittoFiles } from '../hub/broker/mosquitto.js';
import { generatePassword } from '../hub/broker/passwords.js';
import { parseHubConfig } from '../hub/config.js';
import { startHub } from '../hub/index.js';
import { createLogger } from '../shared/kit/log.js';
import { GatewayFleet, type ConnectRound, type FleetMember } from '../test/support/gateway-fleet.js';
import { freePort } from '../test/support/mosquitto.js';
import { tempDir } from '../test/support/tmp.js';
import { cpuSeconds } from './proc.js';
import { atMost, progress, type BenchEntry } from './results.js';

const SELF = fileURLToPath(import.meta.url);
const MOSQUITTO_BIN = '/usr/sbin/mosquitto';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- measuring a process ----

function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

async function cpuPercent(pid: number, seconds: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
}

// ---- child processes ----

type ToChild = { cmd: 'connect' } | { cmd: 'drop' } | { cmd: 'close' } | { cmd: 'status' } | { cmd: 'stop' };
type FromChild = { type: 'ready'; port?: number } | { type: 'round'; round: ConnectRound } | { type: 'done' } | { type: 'status'; online: number; offline: number; clients: number };

/** Runs a command with its open-file limit raised to the hard limit (each holds thousands of sockets). */
const RAISE_FILES = 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"';

function child(args: string[]): ChildProcess {
  // The IPC channel survives the shell's exec (its fd and NODE_CHANNEL_FD are inherited).
  return spawn('/bin/sh', ['-c', RAISE_FILES, process.execPath, '--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask<T extends FromChild['type']>(proc: ChildProcess, msg: ToChild, type: T): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild): void => {
      if (m.type !== type) return;
      proc.off('message', onMessage);
      proc.off('exit', onExit);
      resolve(m as Extract<FromChild, { type: T }>);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      proc.off('message', onMessage);
      reject(new Error(`child exited (code ${code}, signal ${signal}) while waiting for ${type}`));
    };
    proc.on('message', onMessage);
    proc.once('exit', onExit);
    if (msg.cmd !== 'stop' || proc.connected) proc.send(msg);
  });
}

function ready(proc: ChildProcess): Promise<Extract<FromChild, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    proc.once('message', (m: FromChild) => (m.type === 'ready' ? resolve(m) : reject(new Error(`unexpected ${m.type}`))));
    proc.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
  });
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** The hub process: starts a hub on the given dir and answers status questions. */
async function hubChild(dir: string): Promise<void> {
  const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', join(dir, 'hub.yaml'));
  const hub = await startHub(config, { retentionIntervalMs: 0, logger: createLogger('bench-hub', 'warn') });
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'status') {
      void hub.registry.list().then((list) => {
        let online = 0;
        for (const g of list) if (g.status === 'online') online++;
        process.send?.({ type: 'status', online, offline: list.length - online, clients: (hub.broker?.connectedClients ?? 1) - 1 } satisfies FromChild);
      });
    } else if (m.cmd === 'stop') {
      void hub.stop().then(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready', port: hub.broker?.port } satisfies FromChild);
}

/** A client process: a slice of the fleet. */
async function clientChild(file: string, port: number, firstAddress: number): Promise<void> {
  const members = JSON.parse(readFileSync(file, 'utf8')) as FleetMember[];
  const localAddresses = Array.from({ length: 4 }, (_, i) => `127.0.${firstAddress + i}.1`);
  const fleet = new GatewayFleet({ host: '127.0.0.1', port, members, keepaliveS: 30, stateIntervalS: 60, concurrency: 256, localAddresses });
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'connect') void fleet.connectAll().then((round) => process.send?.({ type: 'round', round } satisfies FromChild));
    else if (m.cmd === 'drop') {
      fleet.dropAll();
      process.send?.({ type: 'done' } satisfies FromChild);
    } else if (m.cmd === 'close') {
      fleet.close();
      setTimeout(() => process.send?.({ type: 'done' } satisfies FromChild), 500);
    } else if (m.cmd === 'stop') process.exit(0);
  });
  process.send?.({ type: 'ready' } satisfies FromChild);
}

// ---- one broker under the fleet ----

interface Run {
  readonly connect: ConnectRound;
  readonly rssBaseKb: number;
  readonly rssConnectedKb: number;
  readonly cpuIdlePct: number;
  readonly reconnect: ConnectRound;
  /** Alive after the mass disconnect and the reconnect. */
  readonly survived: boolean;
}

function merge(rounds: ConnectRound[]): ConnectRound {
  const latencies = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
  return { ms: Math.max(...rounds.map((r) => r.ms)), connected: latencies.length, refused: rounds.reduce((n, r) => n + r.refused, 0), failed: rounds.reduce((n, r) => n + r.failed, 0), latencies };
}

const pct = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function startClients(dir: string, members: readonly FleetMember[], port: number, procs: number, tag: string): Promise<ChildProcess[]> {
  const clients: ChildProcess[] = [];
  for (let i = 0; i < procs; i++) {
    const file = join(dir, `${tag}-fleet-${i}.json`);
    writeFileSync(file, JSON.stringify(members.filter((_, j) => j % procs === i)));
    clients.push(child(['clients', file, String(port), String(1 + i * 4)]));
  }
  await Promise.all(clients.map(ready));
  return clients;
}

async function runFleet(label: string, pid: number, clients: ChildProcess[], idleS: number, settled: () => Promise<void>, allGone: () => Promise<void>): Promise<Run> {
  const rssBaseKb = rssKb(pid);
  progress(`${label}: connecting ${clients.length} client processes`);
  const connect = merge(await Promise.all(clients.map((c) => ask(c, { cmd: 'connect' }, 'round').then((m) => m.round))));
  progress(`${label}: ${connect.connected} connected in ${(connect.ms / 1000).toFixed(1)} s (${connect.refused} refused, ${connect.failed} failed)`);
  await settled();
  await sleep(5000);
  const rssConnectedKb = rssKb(pid);
  const cpuIdlePct = await cpuPercent(pid, idleS);
  progress(`${label}: RSS ${(rssConnectedKb / 1024).toFixed(0)} MB (${(rssBaseKb / 1024).toFixed(0)} MB before), CPU ${cpuIdlePct.toFixed(1)} % idle`);
  await Promise.all(clients.map((c) => ask(c, { cmd: 'drop' }, 'done')));
  await allGone();
  const reconnect = merge(await Promise.all(clients.map((c) => ask(c, { cmd: 'connect' }, 'round').then((m) => m.round))));
  progress(`${label}: reconnected ${reconnect.connected} in ${(reconnect.ms / 1000).toFixed(1)} s`);
  let survived = true;
  try {
    process.kill(pid, 0);
  } catch {
    survived = false;
  }
  await Promise.all(clients.map((c) => ask(c, { cmd: 'close' }, 'done')));
  return { connect, rssBaseKb, rssConnectedKb, cpuIdlePct, reconnect, survived };
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Whether the broker at url lets this member in (a probe under another client id). */
async function accepts(url: string, member: FleetMember | undefined): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(url, { username: member?.username, password: member?.password, clientId: 'bench-probe', reconnectPeriod: 0, connectTimeout: 1000 });
    await c.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

/** The hard open-file limit: what the children raise theirs to. */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.split(/\s+/)[4];
  return hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard ?? 1024);
}

export async function benchConnections(): Promise<BenchEntry[]> {
  const n = Number(process.env.SWARMGATE_BENCH_GATEWAYS ?? 10_000);
  const idleS = Number(process.env.SWARMGATE_BENCH_IDLE_S ?? 30);
  const procs = Number(process.env.SWARMGATE_BENCH_CLIENT_PROCS ?? 2);
  if (openFileLimit() < n + 200) throw new Error(`${n} gateways need ${n + 200} open files in the broker process; the hard limit (ulimit -Hn) is ${openFileLimit()}`);
  const dir = tempDir('swg-bench-conn-');
  const children: ChildProcess[] = [];
  try {
    const members: FleetMember[] = Array.from({ length: n }, (_, i) => ({ site: `site-${i % 50}`, gateway: `gw-${i}`, username: `gw-${i}`, password: generatePassword() }));
    const usersFile = join(dir.path, 'users.yaml');
    // Mosquitto's own default PBKDF2 iteration count for its copy of the hashes.
    await upsertUsers(usersFile, members.map((m) => ({ spec: { role: 'gateway' as const, username: m.username, site: m.site, gateway: m.gateway }, password: m.password })), { generated: true, mosquittoIterations: 101 });

    // --- the hub ---
    const hubProc = child(['hub', dir.path]);
    children.push(hubProc);
    const { port } = await ready(hubProc);
    const hubPid = hubProc.pid ?? 0;
    await sleep(2000);
    let clients = await startClients(dir.path, members, port ?? 0, procs, 'hub');
    children.push(...clients);
    const status = (): Promise<Extract<FromChild, { type: 'status' }>> => ask(hubProc, { cmd: 'status' }, 'status');
    let birthsMs = 0;
    let dropMs = 0;
    const t0 = performance.now();
    const hub = await runFleet(
      'hub',
      hubPid,
      clients,
      idleS,
      async () => {
        await waitUntil('every gateway online in the registry', async () => (await status()).online === n, 300_000);
        birthsMs = performance.now() - t0;
      },
      async () => {
        dropMs = await waitUntil('every gateway offline in the registry', async () => {
          const s = await status();
          return s.clients === 0 && s.offline === n;
        }, 300_000);
      },
    );
    await ask(hubProc, { cmd: 'stop' }, 'done').catch(() => undefined);
    await Promise.race([exited(hubProc), sleep(10_000)]);
    for (const c of clients) c.kill();
    progress(`hub: births stored after ${(birthsMs / 1000).toFixed(1)} s; mass drop handled in ${(dropMs / 1000).toFixed(1)} s`);

    // --- Mosquitto, same users and clients ---
    const mosqDir = join(dir.path, 'mosquitto');
    const { passwordFile, aclFile } = writeMosquittoFiles(usersFile, mosqDir);
    const mosqPort = await freePort();
    const conf = join(mosqDir, 'mosquitto.conf');
    writeFileSync(conf, `user root\nmax_connections -1\n${emitMosquittoConf({ port: mosqPort, host: '127.0.0.1', passwordFile, aclFile, persistenceLocation: false })}`.replace('persistence true', 'persistence false'));
    const mosq = spawn('/bin/sh', ['-c', RAISE_FILES, MOSQUITTO_BIN, '-c', conf], { stdio: 'ignore' });
    children.push(mosq);
    await waitUntil('mosquitto accepting the users', () => accepts(`mqtt://127.0.0.1:${mosqPort}`, members[0]), 60_000);
    await sleep(1000);
    clients = await startClients(dir.path, members, mosqPort, procs, 'mosquitto');
    children.push(...clients);
    const mosqPid = mosq.pid ?? 0;
    const mosquitto = await runFleet(
      'mosquitto',
      mosqPid,
      clients,
      idleS,
      async () => undefined,
      async () => {
        await sleep(2000);
      },
    );
    for (const c of clients) c.kill();

    const perGw = (r: Run): number => (r.rssConnectedKb - r.rssBaseKb) / n;
    const rate = (r: ConnectRound): number => (r.connected / r.ms) * 1000;
    const notes = `${n} gateways (generated secrets; persistent session, retained will, 3 subscriptions, retained birth, keepalive 30 s, state every 60 s), ${procs} client processes, ${(await import('node:os')).cpus().length} cores shared with the clients; Mosquitto ${MOSQUITTO_BIN} with the emitted password/ACL files (PBKDF2 101 iterations)`;
    const hubRate = rate(hub.connect);
    const mosqRate = rate(mosquitto.connect);
    return [
      atMost('connections: the fleet connects (CONNACK)', Number((hub.connect.ms / 1000).toFixed(1)), 's', 60, `${notes}; ${hub.connect.refused} refused, ${hub.connect.failed} failed; p50 ${pct(hub.connect.latencies, 50).toFixed(0)} ms, p99 ${pct(hub.connect.latencies, 99).toFixed(0)} ms`),
      { name: 'connections: hub births stored (every gateway online in the registry)', value: Number((birthsMs / 1000).toFixed(1)), unit: 's', notes: 'from the first CONNECT until the registry shows every gateway online' },
      { name: 'connections: hub connections/s', value: Math.round(hubRate), unit: '/s', baseline: { name: 'mosquitto connections/s', value: Math.round(mosqRate), unit: '/s' }, ratio: Number((hubRate / mosqRate).toFixed(3)), notes },
      { name: 'connections: hub RSS per gateway', value: Number(perGw(hub).toFixed(2)), unit: 'kB', baseline: { name: 'mosquitto RSS per gateway', value: Number(perGw(mosquitto).toFixed(2)), unit: 'kB' }, ratio: Number((perGw(hub) / perGw(mosquitto)).toFixed(2)), notes: `RSS of the broker process with all connected minus before; hub ${(hub.rssConnectedKb / 1024).toFixed(0)} MB total, Mosquitto ${(mosquitto.rssConnectedKb / 1024).toFixed(0)} MB` },
      { name: 'connections: hub CPU at idle heartbeat traffic', value: Number(hub.cpuIdlePct.toFixed(1)), unit: '%', baseline: { name: 'mosquitto CPU at idle', value: Number(mosquitto.cpuIdlePct.toFixed(1)), unit: '%' }, ratio: mosquitto.cpuIdlePct > 0 ? Number((hub.cpuIdlePct / mosquitto.cpuIdlePct).toFixed(2)) : 0, notes: `over ${idleS} s with all connected; % of one core` },
      { name: 'connections: hub survives all gateways dropping at once', value: hub.survived ? 1 : 0, unit: 'bool', target: '= 1', meetsTarget: hub.survived, notes: `${n} sockets closed without DISCONNECT (wills); every gateway offline in the registry after ${(dropMs / 1000).toFixed(1)} s` },
      atMost('connections: the fleet reconnects at once', Number((hub.reconnect.ms / 1000).toFixed(1)), 's', 60, `after the mass drop, persistent sessions kept; ${hub.reconnect.connected} connected, p99 ${pct(hub.reconnect.latencies, 99).toFixed(0)} ms; Mosquitto ${(mosquitto.reconnect.ms / 1000).toFixed(1)} s`),
    ];
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    dir.remove();
  }
}

// Run as a child of the bench: `connections.ts hub DIR` or `connections.ts clients FILE PORT FIRST-ADDRESS`.
const [role, ...rest] = process.argv.slice(2);
if (process.send && role === 'hub') await hubChild(rest[0] ?? '');
else if (process.send && role === 'clients') await clientChild(rest[0] ?? '', Number(rest[1]), Number(rest[2]));
