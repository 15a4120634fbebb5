/**
 * The gateway's updater: takes desired updates from the hub, installs them (install.ts), restarts
 * into them, and on the next start keeps the new release only when it proves healthy before its
 * deadline (health-gate.ts); otherwise it switches `current` back, restarts into the old release
 * and reports why. Every step is reported to the hub (UpdateStatus, through the durable outbox, so
 * a report written just before a restart is sent by the next process).
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { readPublicKey } from '../../shared/release/signing.js';
import { UpdateDesiredSchema, decode, type UpdateDesired, type UpdateState, type UpdateStatus } from '../../shared/wire/index.js';
import { awaitHealthy, type UpdateHealthProbe } from './health-gate.js';
import { installRelease, type InstallStep } from './install.js';
import { InstallLayout } from './layout.js';
import type { UpdateSettings } from './schema.js';
import { readUpdateState, withOutcome, writeUpdateState, type UpdateOutcome } from './state.js';

export type UpdateReport = Omit<UpdateStatus, 'v' | 'gateway' | 'ts'>;

export interface UpdaterOptions {
  readonly settings: UpdateSettings;
  readonly probe: UpdateHealthProbe;
  /** Sends a status to the hub (durably). */
  readonly report: (status: UpdateReport) => void;
  /** Ends this process so the service manager starts `current` again (exit 75 under systemd). */
  readonly restart: (reason: string) => void;
  readonly log: Logger;
  readonly clock?: () => number;
  readonly healthIntervalMs?: number;
  /** Download attempts (resuming) before the update is reported failed; default 3. */
  readonly downloadAttempts?: number;
  readonly retryDelayMs?: number;
  /** Install steps as they happen (progress; tests). */
  readonly onStep?: (step: InstallStep) => void;
}

export type StartOutcome = 'none' | 'checking' | 'interrupted';

export class Updater {
  readonly layout: InstallLayout;
  /** The release this process runs (current at start). */
  readonly running: string | undefined;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stopping = new AbortController();
  private verdict: Promise<void> | undefined;
  private key: KeyObject | undefined;
  /** A desired update that arrived while another waited for its verdict: taken up after it. */
  private deferred: Buffer | undefined;
  /** A restart was asked for: what arrives now is left for the next process (retained, it comes again). */
  private restarting = false;

  constructor(private readonly options: UpdaterOptions) {
    this.layout = new InstallLayout(options.settings.installRoot);
    this.running = this.layout.currentVersion();
    this.clock = options.clock ?? Date.now;
  }

  /**
   * At process start: a pending update whose switch never happened was interrupted (reported
   * failed); one that is current now must prove itself (the verdict runs in the background).
   */
  start(): StartOutcome {
    const { layout } = this;
    const state = readUpdateState(layout.stateFile);
    const pending = state.pending;
    const log = this.options.log;
    // The start guard rolled a release back before any updater could say so: report it now.
    if (!pending && state.last && state.last.reported === false) {
      const { reported: _r, ...last } = state.last;
      log.error({ version: last.version, reason: last.reason }, 'the start guard rolled back a release');
      writeUpdateState(layout.stateFile, { ...state, last });
      this.report(last.deployment, last.version, last.outcome, { ...(this.running ? { from: this.running } : {}), ...(last.code ? { code: last.code } : {}), ...(last.reason ? { reason: last.reason } : {}) });
    }
    if (!pending) return 'none';
    if (this.running !== pending.version) {
      // Killed between recording the update and switching `current`: the old release runs on.
      const reason = `the install of ${pending.version} was interrupted before the switch; ${this.running ?? 'the old release'} runs on`;
      log.warn({ version: pending.version }, reason);
      this.finish({ deployment: pending.deployment, version: pending.version, outcome: 'failed', code: 'SWG_ERR_UPDATE_INSTALL', reason, ts: this.clock() }, pending.previous);
      layout.clean();
      return 'interrupted';
    }
    const boots = pending.boots + 1;
    const now = this.clock();
    // The window opens when the new release first starts: a slow restart does not eat into it.
    const deadline = boots === 1 ? Math.max(pending.deadline, now + this.options.settings.healthDeadlineMs) : pending.deadline;
    writeUpdateState(layout.stateFile, { ...state, pending: { ...pending, phase: 'checking', boots, deadline } });
    if (boots > this.options.settings.maxBoots || now >= deadline) {
      this.rollBack(boots > this.options.settings.maxBoots ? `started ${boots} times without a health verdict (crash loop)` : 'the health deadline passed before this start');
      return 'checking';
    }
    this.report(pending.deployment, pending.version, 'checking', { from: pending.previous });
    log.info({ version: pending.version, previous: pending.previous, deadlineInS: Math.round((deadline - now) / 1000), boot: boots }, 'new release running; waiting for its health verdict');
    this.verdict = awaitHealthy({
      probe: this.options.probe,
      deadline,
      healthyForMs: this.options.settings.healthyForMs,
      clock: this.clock,
      signal: this.stopping.signal,
      ...(this.options.healthIntervalMs ? { intervalMs: this.options.healthIntervalMs } : {}),
    }).then((v) => {
      if (this.stopping.signal.aborted) return;
      if (v.healthy) {
        this.finish({ deployment: pending.deployment, version: pending.version, outcome: 'healthy', ts: this.clock() }, pending.previous);
        const removed = this.layout.prune(this.options.settings.keepReleases, [pending.version, pending.previous]);
        log.info({ version: pending.version, pruned: removed }, 'new release healthy; kept');
        const next = this.deferred;
        this.deferred = undefined;
        if (next) void this.handle(next);
      } else this.rollBack(v.reason);
    });
    return 'checking';
  }

  /** Handles one update/desired payload (serialised; never rejects). */
  handle(payload: Buffer): Promise<void> {
    const run = this.queue.then(() => this.process(payload)).catch((err: unknown) => this.options.log.error({ err: errorMessage(err) }, 'update handling failed'));
    this.queue = run;
    return run;
  }

  async idle(): Promise<void> {
    await this.queue;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.verdict;
  }

  private publicKey(): KeyObject {
    this.key ??= readPublicKey(this.options.settings.releaseKeyFile);
    return this.key;
  }

  private async process(payload: Buffer): Promise<void> {
    if (payload.length === 0 || this.stopping.signal.aborted || this.restarting) return;
    const { log, settings } = this.options;
    const decoded = decode(UpdateDesiredSchema, 'update/desired', payload);
    if (!decoded.ok) {
      log.warn({ error: decoded.error }, 'invalid desired update refused');
      return;
    }
    const desired = decoded.value;
    const state = readUpdateState(this.layout.stateFile);
    // The retained message comes back on every connect: what was handled (kept, failed, rolled back) is not retried.
    if (state.handled.includes(desired.deployment)) return;
    if (state.pending) {
      // Another release is on probation: this one waits for its verdict.
      if (state.pending.deployment !== desired.deployment) this.deferred = payload;
      return;
    }
    const version = desired.manifest.version;
    if (!settings.enabled) return this.fail(desired, new SwarmgateError('SWG_ERR_UPDATE_INSTALL', 'updates are disabled on this gateway (update.enabled: false)'));
    if (version === this.running) {
      this.finish({ deployment: desired.deployment, version, outcome: 'healthy', reason: 'running already', ts: this.clock() }, this.running);
      return;
    }
    log.info({ deployment: desired.deployment, version, from: this.running }, 'installing release');
    const attempts = this.options.downloadAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        const installed = await installRelease(
          { deployment: desired.deployment, manifest: desired.manifest, url: desired.url, token: desired.token, ...(desired.downgrade ? { downgrade: true } : {}) },
          {
            layout: this.layout,
            publicKey: this.publicKey(),
            healthDeadlineMs: settings.healthDeadlineMs,
            maxBoots: settings.maxBoots,
            clock: this.clock,
            ...(settings.caFile ? { caFile: settings.caFile } : {}),
            onStep: (step) => {
              // Reported once per try: 'downloading' only after the manifest verified.
              if (step === 'downloading' && attempt === 1) this.report(desired.deployment, version, 'downloading');
              if (step === 'unpacking') this.report(desired.deployment, version, 'installing');
              this.options.onStep?.(step);
            },
          },
        );
        log.info({ version, previous: installed.previous, resumedFromBytes: installed.resumedFrom, downloadMs: installed.downloadMs, installMs: installed.installMs }, 'release installed; restarting into it');
        this.report(desired.deployment, version, 'restarting', { from: installed.previous, bytes: installed.manifest.artifact.size });
        this.restarting = true;
        this.options.restart(`release ${version} installed`);
        return;
      } catch (err) {
        const transient = isSwarmgateError(err, 'SWG_ERR_UPDATE_DOWNLOAD') && err.details.check !== 'url';
        if (transient && attempt < attempts && !this.stopping.signal.aborted) {
          log.warn({ version, attempt, err: errorMessage(err) }, 'download failed; resuming');
          await new Promise((r) => setTimeout(r, (this.options.retryDelayMs ?? 2000) * attempt));
          continue;
        }
        return this.fail(desired, err);
      }
    }
  }

  private fail(desired: UpdateDesired, err: unknown): void {
    const code = isSwarmgateError(err) ? err.code : 'SWG_ERR_INTERNAL';
    const reason = errorMessage(err).slice(0, 1000);
    this.options.log.error({ deployment: desired.deployment, version: desired.manifest.version, code, err: reason }, 'update refused or failed; the running release stays');
    this.finish({ deployment: desired.deployment, version: desired.manifest.version, outcome: 'failed', code, reason, ts: this.clock() }, this.running);
  }

  /** Switches back to the previous release, records and reports why, and restarts into it. */
  private rollBack(reason: string): void {
    const state = readUpdateState(this.layout.stateFile);
    const pending = state.pending;
    if (!pending) return;
    const log = this.options.log;
    try {
      this.layout.switchCurrent(pending.previous);
    } catch (err) {
      log.error({ err: errorMessage(err), previous: pending.previous }, 'rollback impossible: the previous release is gone; the new one stays');
      this.finish({ deployment: pending.deployment, version: pending.version, outcome: 'failed', code: 'SWG_ERR_UPDATE_INSTALL', reason: `unhealthy (${reason}) but the previous release cannot be restored: ${errorMessage(err)}`, ts: this.clock() }, pending.previous);
      return;
    }
    log.error({ version: pending.version, previous: pending.previous, reason }, 'new release unhealthy; rolled back');
    this.finish({ deployment: pending.deployment, version: pending.version, outcome: 'rolled-back', code: 'SWG_ERR_UPDATE_UNHEALTHY', reason, ts: this.clock() }, pending.previous);
    this.restarting = true;
    this.options.restart(`rolled back to ${pending.previous}`);
  }

  private finish(outcome: UpdateOutcome, from: string | undefined): void {
    writeUpdateState(this.layout.stateFile, withOutcome(readUpdateState(this.layout.stateFile), outcome));
    this.report(outcome.deployment, outcome.version, outcome.outcome, { ...(from ? { from } : {}), ...(outcome.code ? { code: outcome.code } : {}), ...(outcome.reason ? { reason: outcome.reason } : {}) });
  }

  private report(deployment: string, version: string, state: UpdateState, extra: Partial<UpdateReport> = {}): void {
    try {
      this.options.report({ deployment, version, state, ...extra });
    } catch (err) {
      this.options.log.warn({ err: errorMessage(err), state }, 'update status could not be queued');
    }
  }
}
