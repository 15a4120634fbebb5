/**
 * node-opcua writes its warnings with console.log, i.e. to stdout, where `edge --print` writes
 * data. Route them into the structured log on stderr instead. Imported first by the CLI entry.
 */
import { format } from 'node:util';
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua-debug';
import { createLogger } from '../shared/log.js';

const log = createLogger('node-opcua');
// node-opcua passes its call site as the first argument.
function where(ctx: unknown): string {
  const c = (ctx ?? {}) as { filename?: string; callerline?: number };
  return `${c.filename ?? '?'}:${c.callerline ?? '?'}`;
}

setWarningLogger((ctx?: unknown, ...args: unknown[]) => log.warn({ at: where(ctx) }, format(...args)));
setErrorLogger((ctx?: unknown, ...args: unknown[]) => log.error({ at: where(ctx) }, format(...args)));
setDebugLogger((ctx?: unknown, ...args: unknown[]) => log.debug({ at: where(ctx) }, format(...args)));
