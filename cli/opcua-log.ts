/**
 * node-opcua writes its warnings with console.log, i.e. to stdout, where `edge --print` writes
 * data. Route them into the structured log on stderr instead. Imported first by the CLI entry.
 */
import { format } from 'node:util';
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua-debug';
import { createLogger } from '../shared/kit/log.js';

const log = createLogger('node-opcua');
// node-opcua passes its call site as the first argument.
function where(ctx: unknown): string {
  const c = (ctx ?? {}) as { filename?: string; callerline?: number };
  return `${c.filename ?? '?'}:${c.callerline ?? '?'}`;
}

// W27: Node 20 disabled RSA PKCS#1 v1.5 decryption (CVE-2023-46809). It matters only for the
// deprecated Basic128Rsa15/Basic256 policies, which the driver does not offer: debug, not warn.
const deprecatedPolicyNotice = (text: string): boolean => text.includes('NODE-OPCUA-W27') || text.includes('CVE-2023-46809');

setWarningLogger((ctx?: unknown, ...args: unknown[]) => {
  const text = format(...args);
  if (deprecatedPolicyNotice(text)) log.debug({ at: where(ctx) }, text);
  else log.warn({ at: where(ctx) }, text);
});
setErrorLogger((ctx?: unknown, ...args: unknown[]) => log.error({ at: where(ctx) }, format(...args)));
setDebugLogger((ctx?: unknown, ...args: unknown[]) => log.debug({ at: where(ctx) }, format(...args)));
