/**
 * Remote configuration from the hub. The hub publishes a ConfigDocument retained on the
 * gateway's config/desired topic; a version newer than the one applied here is written next to
 * the config file (<file>.desired.yaml, so relative profile and data paths resolve the same way),
 * checked exactly like `swarmgate edge check`, and refused when it would turn this process into
 * another gateway. A good one replaces the config file atomically (the old one kept as
 * <file>.previous) and the process is asked to restart: the new config takes effect on a clean
 * start, never half-applied to running drivers.
 *
 * Reports go through the outbox (durable) on config/reported, with the schema unchanged: the
 * document's config carries { status, problems?, config?, applied? } (applied: the version this
 * gateway runs, on the refusal of an older one, so the hub numbers its next push above it).
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parse, stringify } from 'yaml';
import { SourceFile, formatProblem, readConfigFile, type ConfigProblem } from '../../shared/kit/config-file.js';
import { errorMessage } from '../../shared/kit/errors.js';
import { ConfigDocumentSchema, decode, encode, gatewayTopic, type ConfigDocument } from '../../shared/wire/index.js';
import type { Outbox } from './outbox.js';
import type { FederationState } from './state.js';
import { REDACTED, redactSecrets, restoreSecrets } from '../../shared/kit/secrets.js';

export type ConfigStatus = 'running' | 'rejected' | 'applied-pending-restart';

/** The full gateway-config check (checkGatewayConfigFile with the gateway's driver registry). */
export type ConfigFileChecker = (file: string) => {
  readonly loaded?: { readonly config: { readonly gateway: { readonly id: string; readonly site: string } } };
  readonly problems: readonly ConfigProblem[];
};

export interface RemoteConfigOptions {
  readonly site: string;
  readonly gateway: string;
  /** The config file this process was started from. */
  readonly configFile: string;
  readonly check: ConfigFileChecker;
  readonly outbox: Outbox;
  readonly state: FederationState;
  /** Called once a new config file is in place; the process should stop cleanly and restart. */
  readonly onRestart: (version: number) => void;
  readonly log: Logger;
  readonly clock?: () => number;
}

/** Reports carry at most this many problems and this much of the parsed config. */
const MAX_PROBLEMS = 20;
const MAX_CONFIG_BYTES = 64 * 1024;

export class RemoteConfig {
  readonly topic: string;
  private readonly reportTopic: string;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();

  /** The config file as this process started from it (read when the process sets up federation). */
  private readonly startedWith: string | undefined;

  constructor(private readonly options: RemoteConfigOptions) {
    this.startedWith = readIfAny(options.configFile);
    this.topic = gatewayTopic(options.site, options.gateway, 'config/desired');
    this.reportTopic = gatewayTopic(options.site, options.gateway, 'config/reported');
    this.clock = options.clock ?? Date.now;
  }

  get desiredFile(): string {
    return `${this.options.configFile}.desired.yaml`;
  }

  /** Handles one config/desired payload; resolves with the report sent (undefined when none). */
  handle(payload: Buffer): Promise<ConfigDocument | undefined> {
    // Never rejects: the caller subscribes with `void handle(…)`, and an unhandled rejection would
    // end the process (and the retained document would end the next one the same way).
    const run = this.queue
      .then(() => this.process(payload))
      .catch((err: unknown) => {
        this.options.log.error({ err: errorMessage(err) }, 'desired config could not be handled; the running config stays');
        return undefined;
      });
    this.queue = run;
    return run;
  }

  async idle(): Promise<void> {
    await this.queue;
  }

  /** Reports the version running now (on every connect). */
  reportRunning(): ConfigDocument {
    return this.report(this.options.state.configVersion ?? 0, 'running', [], this.running());
  }

  /** The config file as it is now, parsed; undefined when it cannot be read. */
  private running(): unknown {
    try {
      return parse(readConfigFile(this.options.configFile)) as unknown;
    } catch {
      return undefined;
    }
  }

  private async process(payload: Buffer): Promise<ConfigDocument | undefined> {
    const { log, state } = this.options;
    // A cleared retained message: nothing desired.
    if (payload.length === 0) return undefined;
    const decoded = decode(ConfigDocumentSchema, this.topic, payload);
    if (!decoded.ok) {
      log.warn({ error: decoded.error }, 'invalid desired config refused');
      return undefined;
    }
    const desired = decoded.value;
    const applied = state.configVersion;
    // The retained document comes back on every connect: what is applied already is not news.
    if (applied !== null && desired.version === applied) return undefined;
    // An older version than the applied one (the hub's store rebuilt or restored, numbering from 1
    // again) is refused out loud: silence would leave the hub waiting for a report that never comes.
    // The body names the applied version, from which the hub numbers its next push.
    if (applied !== null && desired.version < applied) {
      log.warn({ version: desired.version, applied }, 'desired config older than the applied one refused');
      return this.report(desired.version, 'rejected', [`version ${desired.version} <= applied ${applied}: this gateway runs config version ${applied} already; push the config again as version ${applied + 1} or later`], undefined, { applied });
    }
    let problems: ConfigProblem[];
    try {
      problems = this.validate(desired);
    } catch (err) {
      // Whatever the check throws rejects this config: an exception here would be an unhandled
      // rejection, the process would exit, and the retained document would do it again on every start.
      log.error({ version: desired.version, err: errorMessage(err) }, 'desired config could not be checked; the running config stays');
      return this.report(desired.version, 'rejected', [formatProblem({ file: this.desiredFile, line: 1, column: 1, path: '', message: `the config check failed: ${errorMessage(err)}` })]);
    }
    if (problems.length > 0) {
      log.warn({ version: desired.version, problems: problems.length }, 'desired config rejected; the running config stays');
      return this.report(desired.version, 'rejected', problems.map(formatProblem));
    }
    let installed: { readonly changed: boolean; readonly text: string };
    try {
      installed = this.install();
    } catch (err) {
      log.error({ version: desired.version, err: errorMessage(err) }, 'desired config could not be installed');
      return this.report(desired.version, 'rejected', [`${this.options.configFile}: cannot replace the config file: ${errorMessage(err)}`]);
    }
    // Recorded before the restart: the retained copy seen after it is then the applied version.
    await state.setConfigVersion(desired.version);
    if (!installed.changed && installed.text === this.startedWith) {
      // This process started from this very config (after a crash between the rename and the
      // version's save, or the hub pushed the running config again): only the version was
      // missing, nothing to restart for.
      log.info({ version: desired.version, file: this.options.configFile }, 'desired config is the config file already; its version recorded');
      return this.report(desired.version, 'running', [], desired.config);
    }
    const report = this.report(desired.version, 'applied-pending-restart', [], desired.config);
    log.info({ version: desired.version, file: this.options.configFile }, 'desired config installed; restarting to apply it');
    this.options.onRestart(desired.version);
    return report;
  }

  private validate(desired: ConfigDocument): ConfigProblem[] {
    const file = this.desiredFile;
    // Secrets the hub only showed redacted keep the running config's values.
    const { value, reasons } = restoreSecrets(desired.config, this.running());
    try {
      writeFileSync(file, stringify(value), 'utf8');
    } catch (err) {
      return [{ file, line: 1, column: 1, path: '', message: `cannot write the desired config: ${errorMessage(err)}` }];
    }
    const checked = this.options.check(file);
    const problems = [...checked.problems];
    const gateway = checked.loaded?.config.gateway;
    const { source } = SourceFile.read(file);
    const at = (path: (string | number)[], message: string): ConfigProblem => (source ? source.problem(path, message) : { file, line: 1, column: 1, path: path.join('.'), message });
    // Checked whatever the check found: a secret that cannot be kept is a refusal of its own.
    for (const { path, reason } of reasons) problems.push(at(path, `is "${REDACTED}" but ${reason}`));
    if (gateway) {
      // A gateway must not become another one: its data folder, outbox and ACL belong to this id.
      if (gateway.id !== this.options.gateway) problems.push(at(['gateway', 'id'], `is "${gateway.id}" but this gateway is "${this.options.gateway}"; a gateway's id cannot be changed remotely`));
      if (gateway.site !== this.options.site) problems.push(at(['gateway', 'site'], `is "${gateway.site}" but this gateway is at site "${this.options.site}"; a gateway's site cannot be changed remotely`));
    }
    return problems;
  }

  /**
   * Replaces the config file by rename (atomic on one filesystem), keeping the old one as
   * <file>.previous; changed is false when the file holds the desired config already (nothing written: a
   * crash between the rename and the version's save must not put the new config over .previous
   * when the retained document is applied again). The new file and .previous are synced before
   * their renames, and the folder after, so a power cut leaves the old config or the new one.
   */
  private install(): { readonly changed: boolean; readonly text: string } {
    const target = this.options.configFile;
    const next = readConfigFile(this.desiredFile);
    const current = readConfigFile(target);
    if (current === next) return { changed: false, text: next };
    // A config may hold secrets: the copies keep the config file's mode.
    const mode = statSync(target).mode & 0o777;
    const previous = `${target}.previous`;
    // Never rewritten with what it holds already.
    if (readIfAny(previous) !== current) {
      writeSynced(`${previous}.tmp-${process.pid}`, current, mode);
      renameSync(`${previous}.tmp-${process.pid}`, previous);
    }
    const tmp = `${target}.tmp-${process.pid}`;
    writeSynced(tmp, next, mode);
    renameSync(tmp, target);
    syncFolder(dirname(target));
    return { changed: true, text: next };
  }

  private report(version: number, status: ConfigStatus, problems: readonly string[], config?: unknown, extra: { readonly applied?: number } = {}): ConfigDocument {
    const body: Record<string, unknown> = { status, ...extra };
    if (problems.length > 0) body.problems = problems.slice(0, MAX_PROBLEMS).map((p) => p.slice(0, 1000));
    // Whoever may read the gateway's topics or the hub's API sees the config, not its secrets.
    const shown = config === undefined ? undefined : redactSecrets(config);
    if (shown !== undefined && JSON.stringify(shown).length <= MAX_CONFIG_BYTES) body.config = shown;
    const doc: ConfigDocument = { v: 1, version, ts: this.clock(), config: body };
    this.options.outbox.enqueue(this.reportTopic, 'other', encode(ConfigDocumentSchema, doc));
    return doc;
  }
}

/** Writes a file and flushes it to disk before it is renamed into place. */
function writeSynced(file: string, text: string, mode: number): void {
  const fd = openSync(file, 'w', mode);
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes a folder's entries (the renames in it); some filesystems cannot, which is no error here. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // EISDIR/EINVAL/EPERM: the folder cannot be synced on this filesystem; the renames stand.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A config file's text, or undefined when it cannot be read. */
function readIfAny(file: string): string | undefined {
  try {
    return readConfigFile(file);
  } catch {
    return undefined;
  }
}
