/**
 * First start from a bootstrap config (`swarmgate edge --config gateway.yaml` holding only an
 * `enrollment:` section) against a stand-in hub on loopback that answers as the real one does: a
 * token refused for good ends the process with exit 3 (which the systemd unit does not restart)
 * and says to flash a new token, on stderr and in the service manager's status line; a 429 is
 * waited out for its Retry-After and the enrollment asked again.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollGateway } from '../../edge/enrollment/enroll.js';
import { isSwarmgateError, type SwarmgateError } from '../../shared/kit/errors.js';
import { listenNotifySocket, python3Peer, type NotifySocket } from '../support/notify-socket.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = `swg-enroll-v1.abcdef123456.${'A'.repeat(43)}`;

interface HubAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: unknown;
}

const refusedForGood: HubAnswer = {
  status: 403,
  body: { error: { code: 'SWG_ERR_ENROLL_TOKEN', message: 'token abcdef123456 was already used at 2026-12-01T10:00:00.000Z (by gateway hq-gw-1); each token enrolls one gateway once' } },
};

describe('first start from a bootstrap config', () => {
  const dir = tempDir('swg-enroll-first-');
  let server: Server;
  let hubUrl = '';
  /** What the stand-in hub answers, in turn (the last one repeats), and when it was asked. */
  let answers: HubAnswer[] = [];
  const asked: number[] = [];
  const notifyRuns = peerOrSkip(python3Peer());

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked.push(Date.now());
        const answer = answers.length > 1 ? (answers.shift() as HubAnswer) : (answers[0] as HubAnswer);
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    dir.remove();
  });

  /** A bootstrap folder, and `swarmgate edge --config` run on it (asynchronously: the hub is in this process). */
  async function firstStart(name: string, env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string; folder: string }> {
    const folder = join(dir.path, name);
    mkdirSync(folder);
    writeFileSync(join(folder, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(folder, 'gateway.yaml'), `enrollment: { hub: "${hubUrl}", tokenFile: token }\n`);
    asked.length = 0;
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'edge', '--config', join(folder, 'gateway.yaml')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn', ...env } }, (err, _stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr, folder }),
      );
    });
  }

  it('a token refused for good exits 3 at once, says to flash a new token, and keeps the token file', async () => {
    answers = [refusedForGood];
    const run = await firstStart('refused');
    expect(run.stderr).toMatch(/SWG_ERR_ENROLL_TOKEN: the hub refused the enrollment: token abcdef123456 was already used/);
    expect(run.stderr).toMatch(/retrying cannot help: flash a new token/);
    expect(run.stderr).toContain(`put it in ${join(run.folder, 'token')}`);
    expect(run.stderr).toMatch(/not restarted until it is given a new token/);
    expect(run.status).toBe(3);
    expect(asked).toHaveLength(1);
    expect(existsSync(join(run.folder, 'token'))).toBe(true);
    expect(readFileSync(join(run.folder, 'gateway.yaml'), 'utf8')).toContain('enrollment:');
  }, 60_000);

  it('the systemd unit does not restart a gateway that exited 3', () => {
    const unit = readFileSync(join(ROOT, 'deploy/systemd/swarmgate-edge.service'), 'utf8');
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=3$/m);
  });

  it('a 429 is waited out for its Retry-After and asked again; the status line says so', async ({ skip }) => {
    if (!notifyRuns) skip();
    answers = [
      // As hubs before SWG_ERR_ENROLL_RATE_LIMITED answered: any 429 is waited out, whatever its code.
      { status: 429, headers: { 'retry-after': '3' }, body: { error: { code: 'SWG_ERR_AUTH_RATE_LIMITED', message: 'too many failed enrollments from this address or with this token; retry in 3 s' } } },
      refusedForGood,
    ];
    const socket: NotifySocket = await listenNotifySocket(join(dir.path, 'notify.sock'));
    try {
      const run = await firstStart('limited', { NOTIFY_SOCKET: socket.path });
      expect(run.stderr).not.toMatch(/SWG_ERR_ENROLL_RATE_LIMITED|SWG_ERR_AUTH_RATE_LIMITED/);
      expect(asked).toHaveLength(2);
      expect((asked[1] ?? 0) - (asked[0] ?? 0)).toBeGreaterThanOrEqual(2900);
      expect(run.status).toBe(3);
      const waiting = socket.messages.find((m) => /retrying in 3 s/.test(m.fields.STATUS ?? ''));
      expect(waiting?.fields.STATUS).toMatch(/rate-limits enrollment/);
      expect(Number(waiting?.fields.EXTEND_TIMEOUT_USEC)).toBeGreaterThanOrEqual(3_000_000);
      const last = await socket.waitFor('STATUS', 5000, socket.messages.length - 1);
      expect(last.fields.STATUS).toMatch(/refused the enrollment token for good; flash a new token/);
    } finally {
      await socket.close();
    }
  }, 60_000);
});

describe('enrolling into a folder that holds an enrolled gateway', () => {
  const dir = tempDir('swg-enroll-again-');
  afterAll(() => dir.remove());

  it('is refused with its own code and what to do, before anything is sent', async () => {
    writeFileSync(join(dir.path, 'identity.json'), '{"gateway":"gw-1"}\n');
    // No hub listens there: the refusal must come first.
    const err = await enrollGateway({ hub: 'http://127.0.0.1:9', token: TOKEN, out: dir.path }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_ENROLL_ENROLLED')).toBe(true);
    expect((err as SwarmgateError).message).toContain(`${dir.path} already holds an enrolled gateway (identity.json)`);
    expect((err as SwarmgateError).hint).toMatch(/--force/);
    expect((err as SwarmgateError).hint).not.toMatch(/1 MiB|regular files/);
  });
});
