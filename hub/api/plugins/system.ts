/** Liveness and the hub's Prometheus metrics. */
import { Type } from '@sinclair/typebox';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { responses } from '../errors.js';

const strict = { additionalProperties: false } as const;

export const systemPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  app.route({
    ...at('health'),
    schema: { response: responses(Type.Object({ ok: Type.Literal(true), store: Type.String(), schemaVersion: Type.Integer() }, strict)) },
    handler: async () => ({ ok: true as const, store: ctx.store.kind, schemaVersion: await ctx.store.schemaVersion() }),
  });

  app.route({
    ...at('metrics'),
    schema: { produces: ['text/plain'], response: responses(Type.String({ description: 'Prometheus text exposition format' })) },
    handler: async (_request, reply) => {
      const registry = ctx.metrics;
      if (!registry) return reply.type('text/plain; version=0.0.4').send('');
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  });
};
