/**
 * `swarmgate review list [--site S] [--state pending] [--min-priority N] [--limit N] [--json] --config hub.yaml`
 * `swarmgate review show ID --config hub.yaml`
 * `swarmgate review approve ID --user U [--note TEXT] --config hub.yaml`
 * `swarmgate review reject ID --user U --reason TEXT --config hub.yaml`
 * `swarmgate review modify ID --user U --value V [--note TEXT] --config hub.yaml`   approve a write with another value
 *
 * Works next to a running hub (SQLite WAL, or PostgreSQL): decisions go to the store, and the
 * hub executes approved items on its next sweep (review.sweepIntervalMs).
 */
import { parseArgs } from 'node:util';
import { SwarmgateError } from '../shared/kit/errors.js';
import { numberOption, usageError } from './usage.js';
import type { Action } from '../shared/wire/messages.js';
import type { ReviewItem, ReviewState } from '../hub/review/index.js';
import type { Command } from './commands.js';

const HELP = `usage:
  swarmgate review list [--site S] [--state pending|approved|rejected|expired|executed|failed] [--min-priority N] [--limit N] [--json] --config hub.yaml
  swarmgate review show ID --config hub.yaml
  swarmgate review approve ID --user U [--note TEXT] --config hub.yaml
  swarmgate review reject ID --user U --reason TEXT --config hub.yaml
  swarmgate review modify ID --user U --value V [--note TEXT] --config hub.yaml
`;

const STATES: readonly string[] = ['pending', 'approved', 'rejected', 'expired', 'executed', 'failed'];

function describeAction(a: Action): string {
  return a.kind === 'write' ? `${a.device}/${a.point} := ${JSON.stringify(a.value)}` : `mode ${a.mode}`;
}

function row(i: ReviewItem): string {
  const action = describeAction(i.modifiedAction ?? i.action);
  return [i.id, i.state.padEnd(8), String(i.priority).padStart(3), i.site, i.gateway, i.actionClass, action, i.confidence.toFixed(2), new Date(i.expiresAt).toISOString()].join('  ');
}

/** --value as JSON when it parses (numbers, booleans), else the plain string. */
function parseValue(text: string): number | boolean | string {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  } catch {
    // a bare string
  }
  return text;
}

export const reviewCommand: Pick<Command, 'run'> = {
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        site: { type: 'string' },
        state: { type: 'string' },
        'min-priority': { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        user: { type: 'string' },
        note: { type: 'string' },
        reason: { type: 'string' },
        value: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [verb, id] = positionals;
    if (values.help || !verb) {
      process.stdout.write(HELP);
      return values.help ? 0 : 2;
    }
    if (!values.config) throw usageError('review', '--config hub.yaml is required (the review queue lives in the hub store)');
    if (values.state !== undefined && !STATES.includes(values.state)) throw usageError('review', `--state must be one of ${STATES.join(', ')}, got "${values.state}"`);
    // Checked before the store opens: a priority of "high" is no number, and is not "no items".
    const minPriority = values['min-priority'] === undefined ? undefined : numberOption('review', '--min-priority', values['min-priority'], { min: 0, max: 100, integer: false });
    const limit = values.limit === undefined ? 100 : numberOption('review', '--limit', values.limit, { min: 1, max: 1000 });
    const { commandStoreConfig, loadHubConfig, openHubStore } = await import('../hub/index.js');
    const { ReviewService } = await import('../hub/review/index.js');
    const { PointIndex } = await import('../hub/registry/points.js');
    const { sqlFor } = await import('../hub/db/sql.js');
    const config = loadHubConfig(values.config);
    const store = await openHubStore(commandStoreConfig(config.store));
    try {
      const queue = await ReviewService.open({ store, writes: new PointIndex(sqlFor(store)) });
      const out = (text: string): void => void process.stdout.write(`${text}\n`);
      const needId = (): string => {
        if (!id) throw usageError('review', `review ${verb} needs the item id`);
        return id;
      };
      const user = (): string => {
        if (!values.user) throw usageError('review', `review ${verb} needs --user (who decides is audited)`);
        return values.user;
      };
      switch (verb) {
        case 'list': {
          const items = await queue.list({
            ...(values.site ? { site: values.site } : {}),
            ...(values.state ? { state: values.state as ReviewState } : {}),
            ...(minPriority === undefined ? {} : { minPriority }),
            limit,
          });
          if (values.json) out(JSON.stringify(items, null, 2));
          else if (items.length === 0) out('no review items');
          else for (const i of items) out(row(i));
          return 0;
        }
        case 'show': {
          const item = await queue.get(needId());
          if (!item) throw new SwarmgateError('SWG_ERR_REVIEW_UNKNOWN', `no review item "${needId()}"`);
          out(JSON.stringify({ item, audit: await queue.audit(item.id) }, null, 2));
          return 0;
        }
        case 'approve': {
          const item = await queue.approve(needId(), { user: user(), ...(values.note ? { note: values.note } : {}) });
          out(`approved ${item.id} (command ${item.commandId ?? '-'}); the hub executes it on its next sweep`);
          return 0;
        }
        case 'reject': {
          if (!values.reason) throw usageError('review', 'review reject needs --reason');
          const item = await queue.reject(needId(), { user: user(), reason: values.reason });
          out(`rejected ${item.id}`);
          return 0;
        }
        case 'modify': {
          const current = await queue.get(needId());
          if (!current) throw new SwarmgateError('SWG_ERR_REVIEW_UNKNOWN', `no review item "${needId()}"`);
          if (current.action.kind !== 'write' || values.value === undefined) throw usageError('review', 'review modify changes the value of a write action: give --value');
          const action: Action = { ...current.action, value: parseValue(values.value) };
          const item = await queue.modify(current.id, { user: user(), action, ...(values.note ? { note: values.note } : {}) });
          out(`approved ${item.id} with ${describeAction(action)}`);
          return 0;
        }
        default:
          process.stderr.write(HELP);
          return 2;
      }
    } finally {
      await store.close();
    }
  },
};
