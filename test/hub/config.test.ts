import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES } from '../../edge/federation/telemetry.js';
import { MIN_BROKER_PAYLOAD_BYTES, loadHubConfig, parseHubConfig } from '../../hub/config.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

const problemsOf = (text: string): string => {
  try {
    parseHubConfig(text, '/etc/swarmgate/hub.yaml');
  } catch (err) {
    if (isSwarmgateError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
};

describe('hub config', () => {
  it('applies defaults and resolves paths against the file', () => {
    const config = parseHubConfig('broker:\n  embedded:\n    credentialsFile: users.yaml\nstore:\n  kind: sqlite\n', '/etc/swarmgate/hub.yaml');
    expect(config.broker.mode).toBe('embedded');
    expect(config.broker.embedded).toEqual({ host: '0.0.0.0', port: 1883, credentialsFile: '/etc/swarmgate/users.yaml' });
    expect(config.store).toEqual({ kind: 'sqlite', path: '/etc/swarmgate/data/hub.db' });
    expect(config.retention).toEqual({ rawDays: 30, rollups: [{ bucketS: 300, keepDays: 365 }, { bucketS: 3600, keepDays: 1825 }], intervalMinutes: 60 });
    expect(config.commands).toEqual({ timeoutMs: 30_000, retries: 1 });
  });

  it('reads an external broker and a postgres store with the url from DATABASE_URL', () => {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'postgres://u@db:5432/hub';
    try {
      const config = parseHubConfig('broker:\n  mode: external\n  external: { url: "mqtt://127.0.0.1:1883", username: hub }\nstore: { kind: postgres }\n', '/x/hub.yaml');
      expect(config.broker.external).toEqual({ url: 'mqtt://127.0.0.1:1883', username: 'hub', shareGroup: 'swarmgate-hub' });
      expect(config.store).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/hub', schema: 'swarmgate' });
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });

  it('takes the SQLite group-commit settings and refuses ones out of range, naming the field', () => {
    const config = parseHubConfig('broker: { embedded: { credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db, flushMs: 250, fsync: true }\n', '/x/hub.yaml');
    expect(config.store).toEqual({ kind: 'sqlite', path: '/x/hub.db', flushMs: 250, fsync: true });
    expect(problemsOf('broker: { embedded: { credentialsFile: users.yaml } }\nstore:\n  kind: sqlite\n  flushMs: 5\n')).toMatch(/hub\.yaml:4:\d+: store\.flushMs/);
  });

  it('names file, line, column and field of every problem', () => {
    const text = ['broker:', '  mode: embedded', '  embedded:', '    port: 99999', '    credentialsFile: u.yaml', '    colour: red', 'store: { kind: sqlite }', 'commands: { timeoutMs: "soon" }', ''].join('\n');
    const message = problemsOf(text);
    expect(message).toMatch(/^SWG_ERR_CONFIG_INVALID/);
    expect(message).toContain('/etc/swarmgate/hub.yaml:4:11: broker.embedded.port:');
    expect(message).toMatch(/hub\.yaml:\d+:\d+: broker\.embedded\.colour: /);
    expect(message).toMatch(/hub\.yaml:8:\d+: commands\.timeoutMs: /);
  });

  it('explains the store union by kind, and missing mode sections', () => {
    expect(problemsOf('broker: { embedded: { credentialsFile: u } }\nstore: { kind: mysql }\n')).toContain('store.kind: expected sqlite or postgres');
    expect(problemsOf('broker: { embedded: { credentialsFile: u } }\nstore: { kind: sqlite, path: 3 }\n')).toContain('store.path:');
    expect(problemsOf('broker: { embedded: { credentialsFile: u } }\n')).toContain('store: missing');
    expect(problemsOf('broker: { mode: external }\nstore: { kind: sqlite }\n')).toContain('broker.external: mode is external');
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expect(problemsOf('broker: { embedded: { credentialsFile: u } }\nstore: { kind: postgres }\n')).toContain('store.url: missing');
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });

  it('reports YAML syntax errors with their position and a missing file', () => {
    expect(problemsOf('broker:\n  mode: [embedded\n')).toMatch(/^SWG_ERR_CONFIG_YAML: \/etc\/swarmgate\/hub\.yaml:\d+:\d+/);
    const dir = tempDir();
    try {
      expect(() => loadHubConfig(`${dir.path}/missing.yaml`)).toThrow(/cannot read hub config/);
      writeFileSync(`${dir.path}/hub.yaml`, 'broker: { embedded: { credentialsFile: u.yaml, port: 0 } }\nstore: { kind: sqlite, path: ":memory:" }\n');
      const config = loadHubConfig(`${dir.path}/hub.yaml`);
      expect(config.store).toEqual({ kind: 'sqlite', path: ':memory:' });
      expect(config.broker.embedded?.credentialsFile).toBe(`${dir.path}/u.yaml`);
    } finally {
      dir.remove();
    }
  });

  it('refuses a PostgreSQL schema name the store cannot use (upper case, too long), naming the field', () => {
    const withSchema = (schema: string): string => problemsOf(`broker: { embedded: { credentialsFile: u.yaml } }\nstore:\n  kind: postgres\n  url: postgres://u@db/hub\n  schema: ${schema}\n`);
    expect(withSchema('Plant1')).toMatch(/^SWG_ERR_CONFIG_INVALID: .*\n\/etc\/swarmgate\/hub\.yaml:5:\d+: store\.schema: .*lower-case/);
    expect(withSchema(`s${'x'.repeat(63)}`)).toMatch(/store\.schema: .*at most 63/);
    expect(withSchema('plant_1')).toBe('no error');
    expect(withSchema(`s${'x'.repeat(62)}`)).toBe('no error');
  });

  it("refuses a broker.maxPayloadBytes below the wire limit, naming the field and why: a gateway's largest telemetry batch must always fit", () => {
    const yaml = (bytes: number): string => `broker: { embedded: { credentialsFile: u }, maxPayloadBytes: ${bytes} }\nstore: { kind: sqlite }\n`;
    for (const bytes of [1024, 64 * 1024, MIN_BROKER_PAYLOAD_BYTES - 1]) {
      const message = problemsOf(yaml(bytes));
      expect(message).toMatch(/^SWG_ERR_CONFIG_INVALID/);
      expect(message).toMatch(new RegExp(`hub\\.yaml:1:\\d+: broker\\.maxPayloadBytes: ${bytes} is below 262144 \\(256 KiB\\), the wire limit gateways size their messages to`));
      expect(message).toContain("the broker would refuse a gateway's normal batch and close its connection");
    }
    expect(parseHubConfig(yaml(MIN_BROKER_PAYLOAD_BYTES), '/x/hub.yaml').broker.maxPayloadBytes).toBe(MIN_BROKER_PAYLOAD_BYTES);
    expect(parseHubConfig(yaml(1024 * 1024), '/x/hub.yaml').broker.maxPayloadBytes).toBe(1024 * 1024);
    expect(parseHubConfig('broker: { embedded: { credentialsFile: u } }\nstore: { kind: sqlite }\n', '/x/hub.yaml').broker.maxPayloadBytes).toBe(MIN_BROKER_PAYLOAD_BYTES);
    // The gateway's bound on one batch's readings, with room for the batch head and one more reading.
    expect(MAX_BATCH_BYTES + 16 * 1024).toBeLessThanOrEqual(MIN_BROKER_PAYLOAD_BYTES);
  });

  it('refuses to read a hub config that is not a regular file', () => {
    expect(() => loadHubConfig('/dev/zero')).toThrow('/dev/zero: not a regular file (character device)');
  });
});

