/**
 * `swarmgate edge dead-letters` as a technician runs it on a gateway, on a real outbox file: the
 * list (from the config's data folder or --data-dir), a re-queue with no gateway running (asked,
 * taken at the next start) and with one running (taken within a second, said so), drops, and the
 * refusals: an unknown id, root on the service user's outbox.
 */
import { chownSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDeadLetters } from '../../edge/federation/dead-letters.js';
import { Outbox } from '../../edge/federation/outbox.js';
import { PROJECT_ROOT, runCli, runCliAsync, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const PROFILES = join(PROJECT_ROOT, 'devices', 'profiles');
const dir = tempDir('swg-cli-dead-');
afterAll(() => dir.remove());

const cli = (args: string[]): CliResult => runCli(args);

/** Async: the gateway's outbox under test runs in this process and must keep looking at its file. */
async function cliAsync(args: string[]): Promise<string> {
  return (await runCliAsync(args)).stdout;
}

describe('swarmgate edge dead-letters', { timeout: 240_000 }, () => {
  it('lists, re-queues (gateway stopped, then running) and drops; refuses an unknown id and root on the service user’s file', async () => {
    const gwDir = join(dir.path, 'etc');
    mkdirSync(gwDir);
    const config = join(gwDir, 'gateway.yaml');
    writeFileSync(config, `gateway: { id: gw-cli, site: site-a }\ndataDir: state\ndevices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${PROFILES}/ahu-modbus.yaml\n    connection: { host: 127.0.0.1, port: 1502 }\n`);
    const dataDir = join(gwDir, 'state');
    mkdirSync(dataDir);
    const path = join(dataDir, 'outbox.sqlite');
    const options = { path, site: 'site-a', gateway: 'gw-cli', flushMs: 10_000, batchMax: 10 };
    const t0 = Date.UTC(2026, 0, 5, 8, 0, 0);
    const before = new Outbox(options);
    for (let i = 0; i < 20; i++) before.addReading({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + i * 1000 });
    before.flush();
    before.enqueue('swarmgate/v2/site-a/gw-cli/events', 'other', Buffer.from('{"v":2}'));
    before.setAside(before.all()[0]!.seq);
    before.setAside(before.all().find((r) => r.kind === 'other')!.seq);
    const batchBytes = before.deadLetters()[0]!.payload.length;
    before.close();

    const help = cli(['edge', 'dead-letters', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('swarmgate edge dead-letters requeue ID... | --all');

    // From the config: its data folder.
    const listed = cli(['edge', 'dead-letters', 'list', '--config', config]);
    expect(listed.status, listed.stderr).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^2 dead letters, ${batchBytes + 7} bytes, the oldest set aside \\d{4}-\\d\\d-\\d\\dT`));
    expect(lines[1]!.split(/\s{2,}/)).toEqual(['ID', 'SET ASIDE', 'REASON', 'CHANNEL', 'READINGS', 'FIRST READING', 'LAST READING', 'BYTES', 'NOTE']);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['1', expect.stringMatching(/Z$/), 'refused', 'telemetry', '10', '2026-01-05T08:00:00.000Z', '2026-01-05T08:00:09.000Z', String(batchBytes)]);
    expect(lines[3]!.split(/\s{2,}/)).toEqual(['2', expect.stringMatching(/Z$/), 'refused', 'swarmgate/v2/site-a/gw-cli/events', '0', '-', '-', '7']);

    // No gateway running: asked, taken at its next start.
    const asked = cli(['edge', 'dead-letters', 'requeue', '1', '--wait', '0', '--data-dir', dataDir]);
    expect(asked.status, asked.stderr).toBe(0);
    expect(asked.stdout).toContain('asked the gateway to re-queue 1 dead letter (id 1); not waited for (--wait 0): a running gateway takes it within a second, a stopped one when it starts');
    const json = cli(['edge', 'dead-letters', 'list', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ id: 1, kind: 'telemetry', readings: 10, batchSeq: 0, bytes: batchBytes, requeues: 0, requeueRequestedAt: expect.any(Number) }),
      expect.objectContaining({ id: 2, kind: 'other', topic: 'swarmgate/v2/site-a/gw-cli/events', requeueRequestedAt: null }),
    ]);

    // The gateway starts (takes id 1) and runs while the technician re-queues id 2.
    const running = new Outbox(options);
    try {
      expect(running.deadLetters().map((d) => d.id)).toEqual([2]);
      const out = await cliAsync(['edge', 'dead-letters', 'requeue', '2', '--data-dir', dataDir]);
      expect(out).toContain('re-queued 1 dead letter (id 2): the gateway sends it again');
      expect(running.deadLetters()).toEqual([]);
      expect(running.all().filter((r) => r.requeues === 1).map((r) => r.kind)).toEqual(['telemetry', 'other']);
      running.setAside(running.all().find((r) => r.kind === 'other')!.seq);
    } finally {
      running.close();
    }

    const unknown = cli(['edge', 'dead-letters', 'drop', '7', '--data-dir', dataDir]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('SWG_ERR_DEAD_LETTER_UNKNOWN: no dead letter 7 in this outbox');

    if (process.getuid?.() === 0) {
      // Root on the outbox of the gateway's service user (here: nobody).
      for (const f of readdirSync(dataDir)) chownSync(join(dataDir, f), 65534, 65534);
      const refused = cli(['edge', 'dead-letters', 'list', '--data-dir', dataDir]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`SWG_ERR_OUTBOX_OWNER: the outbox ${path} belongs to user 65534`);
      expect(refused.stderr).toContain('sudo -u ');
      for (const f of readdirSync(dataDir)) chownSync(join(dataDir, f), 0, 0);
    }

    const dropped = cli(['edge', 'dead-letters', 'drop', '--all', '--data-dir', dataDir]);
    expect(dropped.status, dropped.stderr).toBe(0);
    expect(dropped.stdout).toContain('dropped 1 dead letter (id 3): it is not sent');
    const file = openDeadLetters(path);
    expect(file.table.list()).toEqual([]);
    file.close();
  });
});
