/**
 * Live updates over Server-Sent Events: review item changes, gateway status, gateway events and
 * command status. One subscription per connection, removed when the client goes away or the API
 * closes. A client that stops reading (more than 1 MiB queued) is dropped; EventSource reconnects
 * and the page reloads the list, so nothing is lost for good. Session streams are re-checked at
 * every heartbeat and end after logout.
 */
import { Type } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { didYouMean } from '../../../shared/kit/suggest.js';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { LIVE_TOPICS, type LiveTopic } from '../../live/feed.js';

const strict = { additionalProperties: false } as const;
const TOPICS = LIVE_TOPICS;
type Topic = LiveTopic;
const MAX_QUEUED = 1 << 20;

export const streamPlugin: ApiPlugin<{ heartbeatMs?: number }> = async (app, opts) => {
  const ctx = app.hub;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  app.route({
    ...at('stream'),
    schema: {
      querystring: Type.Object({ topics: Type.Optional(Type.String({ pattern: '^[a-z,]*$', description: `comma-separated subset of ${TOPICS.join(', ')}; default all` })) }, strict),
      produces: ['text/event-stream'],
      response: { 200: Type.String({ description: 'text/event-stream; event names: review, gateway (one status change), gateways (the rest of a burst of status changes within a second, summed up: counts by status and site, the first 50 gateways), event, command, deployment, incident' }) },
    },
    handler: (request, reply) => {
      const asked = request.query.topics ? request.query.topics.split(',').filter((t) => t !== '') : [...TOPICS];
      const unknown = asked.find((t) => !(TOPICS as readonly string[]).includes(t));
      if (unknown !== undefined) {
        throw new SwarmgateError('SWG_ERR_API_VALIDATION', `topics: "${unknown}" is not a topic (topics: ${TOPICS.join(', ')})${didYouMean(unknown, TOPICS)}`, { details: { field: 'topics', part: 'querystring' } });
      }
      const wanted = new Set<Topic>(asked as Topic[]);
      // Status changes come one by one and, in a burst, summed up: asking for one is asking for both.
      if (wanted.has('gateway')) wanted.add('gateways');
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const offs: (() => void)[] = [];
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearInterval(beat);
        for (const off of offs) off();
        ctx.closing.removeEventListener('abort', end);
        if (!res.writableEnded) res.end();
      };
      const send = (event: Topic, data: unknown): void => {
        if (ended) return;
        if (res.writableLength > MAX_QUEUED) return end();
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      res.write(`retry: 3000\n: connected as ${request.principal?.name ?? '?'}\n\n`);
      const { sessionHash, tokenId } = request.principal ?? {};
      const beat = setInterval(() => {
        if (ended) return;
        res.write(': keep-alive\n\n');
        // A stream outlives its request: end it when the session is logged out or the user
        // disabled, or its API token revoked (a leaked token must stop reading at once).
        const alive = sessionHash ? ctx.accounts.sessionAlive(sessionHash) : tokenId ? ctx.accounts.tokenAlive(tokenId) : undefined;
        alive?.then((yes) => yes || end(), () => undefined);
      }, heartbeatMs);
      beat.unref();
      // This process's changes and, with several hub processes on one store, the others' (hub/live).
      offs.push(ctx.live.subscribe((topic, data) => wanted.has(topic) && send(topic, data)));
      res.on('close', end);
      res.on('error', end);
      ctx.closing.addEventListener('abort', end);
    },
  });
};
