/**
 * A hub whose broker credentials file is on a read-only file system (under the shipped systemd
 * units /etc is read-only to the hub: ProtectSystem=full). It used to answer an enrolling gateway
 * SWG_ERR_INTERNAL "internal error (this is a bug)" after an EROFS on users.yaml.<pid>.tmp. Now
 * the hub says at start that enrollment cannot issue credentials, naming the file; an enrollment
 * is refused with 503 SWG_ERR_ENROLL_STORAGE ("cannot store gateway credentials now"), the token
 * stays usable, and the hub log names the file and the errno.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollGateway } from '../../edge/enrollment/enroll.js';
import { upsertUser } from '../../hub/broker/credentials.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { capturedLog } from '../support/captured-log.js';
import { peerOrSkip } from '../support/peers.js';
import { readOnlyFolder } from '../support/read-only-folder.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-enroll-rofs-');
const etc = readOnlyFolder(join(dir.path, 'etc'));
const ro = etc?.path ?? '';
const runnable = peerOrSkip({ available: etc !== undefined, reason: 'needs root and mount (a read-only tmpfs for the credentials file)' });

interface Line {
  msg: string;
  file?: string;
  errno?: string;
}

describe.skipIf(!runnable)('enrollment with the credentials file on a read-only file system', { timeout: 60_000 }, () => {
  const { log, lines } = capturedLog<Line>('warn');
  const credentialsFile = join(ro, 'users.yaml');
  let hub: Hub | undefined;

  beforeAll(async () => {
    await upsertUser(credentialsFile, { role: 'integration', username: 'bms', read: ['swarmgate/v1/#'] }, 'a-password-long-enough', { mosquittoIterations: 101 });
    etc?.seal();
    mkdirSync(join(dir.path, 'templates'));
    writeFileSync(join(dir.path, 'templates', 'default.yaml'), 'gateway: { id: x, site: y }\ndevices: []\n');
    const yaml =
      `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: 0, credentialsFile: ${credentialsFile} }\n` +
      'store: { kind: sqlite, path: hub.db }\n' +
      'api: { host: 127.0.0.1, port: 0 }\n' +
      'enrollment: { brokerUrl: "mqtt://127.0.0.1:1883", templatesDir: templates }\n';
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0, logger: log });
  });

  afterAll(async () => {
    await hub?.stop();
    etc?.remove();
    dir.remove();
  });

  it('warns at start, naming the file', () => {
    const warning = lines.find((l) => l.msg.startsWith('enrollment cannot issue broker credentials'));
    expect(warning?.msg).toContain(`the folder ${ro} of the credentials file ${credentialsFile} is on a read-only file system`);
    expect(warning?.msg).toContain('/var/lib/swarmgate-hub');
  });

  it('refuses an enrollment with 503 SWG_ERR_ENROLL_STORAGE, keeps the token, logs file and errno', async () => {
    if (!hub) throw new Error('no hub');
    const [created] = await hub.enrollment.createTokens({ site: 'hq', createdBy: 'test' });
    const err = await enrollGateway({ hub: hub.api?.url ?? '', token: created?.token ?? '', out: join(dir.path, 'gw') }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_ENROLL_STORAGE'), String(err)).toBe(true);
    if (!isSwarmgateError(err)) throw new Error('not coded');
    expect(err.status).toBe(503);
    expect(err.message).toContain('cannot store gateway credentials now');
    expect(err.message).not.toMatch(/bug|internal/);
    expect((await hub.enrollment.listTokens({ site: 'hq' }))[0]).toMatchObject({ state: 'active' });
    const logged = lines.find((l) => l.msg.startsWith('enrollment refused: the broker credentials file cannot be written'));
    expect(logged).toMatchObject({ file: credentialsFile, errno: 'EROFS' });
  });
});
