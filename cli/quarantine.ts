/**
 * `swarmgate hub quarantine list [--gateway G] [--limit N] [--json] --config hub.yaml`
 * `swarmgate hub quarantine show ID [--json] --config hub.yaml`
 * `swarmgate hub quarantine discard ID [--user U] --config hub.yaml`
 *
 * The messages ingest refused and kept (README "Refused messages"), worked on the hub store
 * directly, next to a running hub (SQLite WAL, or PostgreSQL) like `swarmgate review`. Everything
 * that came from a gateway is printed with its control characters escaped: a crafted payload must
 * not drive the operator's terminal.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { SwarmgateError } from '../shared/kit/errors.js';
import { escapeControl } from '../shared/kit/terminal-text.js';
import type { QuarantinedMessage } from '../hub/quarantine/service.js';
import { numberOption, usageError } from './usage.js';

const COMMAND = 'hub quarantine';

const HELP = `usage:
  swarmgate hub quarantine list [--gateway G] [--limit N] [--json] --config hub.yaml
  swarmgate hub quarantine show ID [--json] --config hub.yaml
  swarmgate hub quarantine discard ID [--user U] --config hub.yaml
Messages the hub refused (invalid, implausible timestamps, refused by the store every time), newest
first: one entry per gateway and message, with how many times it was received and when it was last.
`;

/** How often a message was received: `seen 1x`, or for a repeated one `seen 3x, last <when>`. */
function seen(m: QuarantinedMessage): string {
  return m.seenCount > 1 ? `seen ${m.seenCount}x, last ${new Date(m.lastSeenAt).toISOString()}` : 'seen 1x';
}

function row(m: QuarantinedMessage): string {
  const error = m.error.length > 100 ? `${m.error.slice(0, 99)}…` : m.error;
  return escapeControl([m.id, new Date(m.receivedAt).toISOString(), m.gateway ?? '-', m.channel, m.reason, seen(m), error].join('  '));
}

/** The payload as text: decoded from base64; bytes that are not UTF-8 shown as \xNN. */
export function payloadText(m: QuarantinedMessage): string {
  if (m.encoding === 'utf8') return escapeControl(m.payload, { keepNewlines: true });
  const bytes = Buffer.from(m.payload, 'base64');
  try {
    return escapeControl(new TextDecoder('utf-8', { fatal: true }).decode(bytes), { keepNewlines: true });
  } catch {
    return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  }
}

/** Bytes of the payload kept: fewer than its size only for a message larger than the hub keeps. */
function keptBytes(m: QuarantinedMessage): number {
  return m.encoding === 'base64' ? Buffer.from(m.payload, 'base64').byteLength : Buffer.byteLength(m.payload);
}

function details(m: QuarantinedMessage): string {
  const line = (label: string, value: string | number): string => `${`${label}:`.padEnd(10)}${escapeControl(String(value))}`;
  return [
    line('id', m.id),
    line('received', `${new Date(m.receivedAt).toISOString()} (first seen)`),
    line('seen', m.seenCount > 1 ? `${m.seenCount} times, last ${new Date(m.lastSeenAt).toISOString()}` : 'once'),
    line('topic', m.topic),
    line('gateway', `${m.site ?? '-'}/${m.gateway ?? '-'}`),
    line('channel', m.channel),
    line('reason', m.reason),
    line('error', m.error),
    line('size', `${m.size} bytes${keptBytes(m) < m.size ? ` (the first ${keptBytes(m)} kept)` : ''}${m.encoding === 'base64' ? ' (not clean text: kept as base64, shown decoded)' : ''}`),
    'payload:',
    payloadText(m),
  ].join('\n');
}

export async function quarantineCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      gateway: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      user: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [verb, idText] = positionals;
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (verb !== 'list' && verb !== 'show' && verb !== 'discard') {
    process.stderr.write(HELP);
    return 2;
  }
  if (!values.config) throw usageError(COMMAND, '--config hub.yaml is required (the quarantine lives in the hub store)');
  const limit = values.limit === undefined ? 100 : numberOption(COMMAND, '--limit', values.limit, { min: 1, max: 1000 });
  if (verb !== 'list' && idText === undefined) throw usageError(COMMAND, `quarantine ${verb} needs the message id (\`swarmgate hub quarantine list\` shows them)`);
  const id = verb === 'list' ? 0 : numberOption(COMMAND, `quarantine ${verb} ID`, idText ?? '', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const { commandStoreConfig, loadHubConfig, openHubStore } = await import('../hub/index.js');
  const { sqlFor } = await import('../hub/db/sql.js');
  const { AuditLog } = await import('../hub/api/audit.js');
  const { QuarantineService } = await import('../hub/quarantine/service.js');
  const store = await openHubStore(commandStoreConfig(loadHubConfig(values.config).store));
  try {
    const sql = sqlFor(store);
    const quarantine = new QuarantineService(sql);
    const out = (text: string): void => void process.stdout.write(`${text}\n`);
    switch (verb) {
      case 'list': {
        const items = await quarantine.list({ ...(values.gateway ? { gateway: values.gateway } : {}), limit });
        if (values.json) out(JSON.stringify(items, null, 2));
        else if (items.length === 0) out('the quarantine is empty');
        else for (const m of items) out(row(m));
        return 0;
      }
      case 'show': {
        const message = await quarantine.get(id);
        if (!message) throw new SwarmgateError('SWG_ERR_QUARANTINE_UNKNOWN', `no quarantined message ${id}`);
        out(values.json ? JSON.stringify(message, null, 2) : details(message));
        return 0;
      }
      case 'discard': {
        const message = await quarantine.discard(id);
        const user = values.user ?? userInfo().username;
        await new AuditLog(sql).write({ name: user, via: 'cli' }, 'quarantine.discard', String(message.id), { gateway: message.gateway, topic: message.topic, reason: message.reason, receivedAt: message.receivedAt });
        out(escapeControl(`discarded ${message.id} (${message.gateway ?? '-'} ${message.reason})`));
        return 0;
      }
    }
  } finally {
    await store.close();
  }
}
