/**
 * `swarmgate edge dead-letters list [--json]`
 * `swarmgate edge dead-letters requeue ID... | --all [--force] [--wait S]`
 * `swarmgate edge dead-letters drop ID... | --all`
 * each with --config gateway.yaml or --data-dir DIR.
 *
 * The messages the broker kept refusing, set aside in the outbox's dead-letter table (README,
 * Federation), worked on next to a running gateway: this process never writes the send queue. A
 * re-queue is a request the gateway takes (within a second while it runs, else when it starts);
 * the command waits for it and says which happened. What came from the outbox is printed with its
 * control characters escaped.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GATEWAY_STATE_DIRECTORY, defaultDataDir, loadConfig } from '../edge/config/load.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { openDeadLetters, type DeadLetter, type DeadLetterSelection, type DeadLetterTable } from '../edge/federation/dead-letters.js';
import { SwarmgateError } from '../shared/kit/errors.js';
import { accountName, idName } from '../shared/kit/id-name.js';
import { escapeControl } from '../shared/kit/terminal-text.js';
import { parseTopic } from '../shared/wire/index.js';
import { usageError } from './usage.js';

const HELP = `usage:
  swarmgate edge dead-letters list [--json] (--config gateway.yaml | --data-dir DIR)
  swarmgate edge dead-letters requeue ID... | --all [--force] [--wait SECONDS] (--config gateway.yaml | --data-dir DIR)
  swarmgate edge dead-letters drop ID... | --all (--config gateway.yaml | --data-dir DIR)
Messages the broker kept refusing (an ACL refusal, a message size limit), set aside in the gateway's
outbox dead-letter table so the messages behind them could flow.
  list     id, when set aside, reason, channel, readings, first and last reading time, bytes
  requeue  the gateway puts them back in its send queue, in the order they were set aside: while it
           runs within a second (this waits up to --wait seconds, default 10, and says so), else when
           it starts. Fix what the broker refused first: a message refused again after a re-queue is
           set aside again, and re-queued once more only with --force.
  drop     deletes them for good (the hub keeps the gap record, reason refused, of their readings)
Safe while the gateway runs: this command never writes the send queue. Run it as the gateway's user
(sudo -u swarmgate ...).
`;

const COMMAND = 'edge dead-letters';

export async function deadLettersCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      force: { type: 'boolean' },
      wait: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [verb, ...idTexts] = positionals;
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (verb !== 'list' && verb !== 'requeue' && verb !== 'drop') throw usageError(COMMAND, `unknown subcommand "${escapeControl(verb)}" (list, requeue or drop)`);
  if ((values.config === undefined) === (values['data-dir'] === undefined)) throw usageError(COMMAND, 'give the gateway config (--config gateway.yaml) or its data folder (--data-dir DIR), one of them');
  if (verb === 'list' && (idTexts.length > 0 || values.all)) throw usageError(COMMAND, 'list takes no ids');
  const selection = verb === 'list' ? 'all' : parseSelection(idTexts, values.all === true);
  const waitS = values.wait === undefined ? 10 : parseWait(values.wait);
  const path = outboxPath(values.config, values['data-dir']);
  checkOwner(path);
  const file = openDeadLetters(path);
  try {
    const out = (text: string): void => void process.stdout.write(`${escapeControl(text, { keepNewlines: true })}\n`);
    switch (verb) {
      case 'list':
        list(file.table, values.json === true, out);
        return 0;
      case 'requeue':
        await requeue(file.table, selection, { force: values.force === true, waitMs: waitS * 1000 }, out);
        return 0;
      case 'drop': {
        const dropped = file.table.drop(selection);
        if (dropped.length === 0) out('the outbox holds no dead letters');
        else out(`dropped ${count(dropped.length)} (${ids(dropped)}): ${dropped.length === 1 ? 'it is' : 'they are'} not sent${dropped.some((d) => d.kind === 'telemetry') ? '; the hub has the gap records (reason refused) of their readings' : ''}`);
        return 0;
      }
    }
  } finally {
    file.close();
  }
}

function parseSelection(texts: readonly string[], all: boolean): DeadLetterSelection {
  if (all && texts.length > 0) throw usageError(COMMAND, 'give ids or --all, not both');
  if (all) return 'all';
  if (texts.length === 0) throw usageError(COMMAND, 'name the dead letters by id (`swarmgate edge dead-letters list` shows them), or give --all');
  return texts.map((t) => {
    const n = Number(t);
    if (!/^[0-9]+$/.test(t) || !Number.isSafeInteger(n) || n < 1) throw usageError(COMMAND, `"${escapeControl(t)}" is not a dead letter id (a whole number from 1)`);
    return n;
  });
}

function parseWait(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n > 600) throw usageError(COMMAND, `--wait takes whole seconds from 0 to 600, got "${escapeControl(text)}"`);
  return n;
}

/**
 * The outbox the gateway service uses: in --data-dir, or in the data folder of the config. Run
 * from a shell, the config's default data folder is the service's state directory when only that
 * exists (the service gets $STATE_DIRECTORY, a shell does not).
 */
function outboxPath(config: string | undefined, dataDir: string | undefined): string {
  let dir: string;
  if (dataDir !== undefined) dir = dataDir;
  else {
    const loaded = loadConfig(config!, builtinDrivers());
    dir = loaded.config.dataDir === undefined ? defaultDataDir(loaded.file, loaded.config.gateway.id, process.env, existsSync, GATEWAY_STATE_DIRECTORY) : loaded.dataDir;
  }
  const path = join(dir, 'outbox.sqlite');
  if (!existsSync(path)) throw new SwarmgateError('SWG_ERR_OUTBOX_FILE', `no outbox at ${path}`);
  return path;
}

/** Root on a file the gateway's user owns: SQLite would leave root's -wal and -shm files beside it. */
function checkOwner(path: string): void {
  if (process.getuid?.() !== 0) return;
  const owner = statSync(path).uid;
  if (owner === 0) return;
  const name = accountName('passwd', owner) ?? `'#${owner}'`;
  throw new SwarmgateError('SWG_ERR_OUTBOX_OWNER', `the outbox ${path} belongs to user ${idName('passwd', owner)}, and this command runs as root`, {
    hint: `run it as that user: sudo -u ${name} swarmgate edge dead-letters ...; as root it could leave SQLite's -wal and -shm files beside the outbox owned by root, and the gateway could then no longer open its outbox`,
  });
}

function list(table: DeadLetterTable, json: boolean, out: (text: string) => void): void {
  const entries = table.list();
  if (json) {
    out(JSON.stringify(entries, null, 2));
    return;
  }
  if (entries.length === 0) {
    out('the outbox holds no dead letters');
    return;
  }
  const s = table.summary();
  out(`${count(s.count)}, ${s.bytes} bytes, the oldest set aside ${iso(s.oldestSetAsideAt ?? null)}`);
  const header = ['ID', 'SET ASIDE', 'REASON', 'CHANNEL', 'READINGS', 'FIRST READING', 'LAST READING', 'BYTES', 'NOTE'];
  const rows = entries.map((d) => [String(d.id), iso(d.setAsideAt), d.reason, channel(d), String(d.readings), iso(d.firstTs), iso(d.lastTs), String(d.bytes), note(d)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) out(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

async function requeue(table: DeadLetterTable, selection: DeadLetterSelection, options: { force: boolean; waitMs: number }, out: (text: string) => void): Promise<void> {
  const asked = table.requestRequeue(selection, Date.now(), { force: options.force });
  if (asked.length === 0) {
    out('the outbox holds no dead letters');
    return;
  }
  const wanted = asked.map((d) => d.id);
  let waiting = table.stillRequested(wanted);
  const deadline = Date.now() + options.waitMs;
  while (waiting.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    waiting = table.stillRequested(wanted);
  }
  const pending = new Set(waiting);
  const taken = asked.filter((d) => !pending.has(d.id));
  if (taken.length > 0) out(`re-queued ${count(taken.length)} (${ids(taken)}): the gateway sends ${them(taken.length)} again, in the order they were set aside`);
  if (pending.size > 0) {
    const left = asked.filter((d) => pending.has(d.id));
    const why =
      options.waitMs === 0
        ? `not waited for (--wait 0): a running gateway takes ${them(left.length)} within a second, a stopped one when it starts`
        : `it has not taken ${them(left.length)} within ${options.waitMs / 1000} s: it is not running (or runs a release older than this command). It takes ${them(left.length)} when it starts`;
    out(`asked the gateway to re-queue ${count(left.length)} (${ids(left)}); ${why}; \`swarmgate edge dead-letters list\` shows ${them(left.length)} as "re-queue pending" until then`);
  }
}

function channel(d: DeadLetter): string {
  return parseTopic(d.topic)?.rest ?? d.topic;
}

function note(d: DeadLetter): string {
  const notes: string[] = [];
  if (d.requeueRequestedAt !== null) notes.push(`re-queue pending since ${iso(d.requeueRequestedAt)}`);
  if (d.requeues > 0) notes.push(`refused again after ${d.requeues} re-queue${d.requeues === 1 ? '' : 's'}`);
  return notes.join('; ');
}

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function them(n: number): string {
  return n === 1 ? 'it' : 'them';
}

function count(n: number): string {
  return `${n} dead letter${n === 1 ? '' : 's'}`;
}

function ids(entries: readonly DeadLetter[]): string {
  return `id${entries.length === 1 ? '' : 's'} ${entries.map((d) => d.id).join(', ')}`;
}
