/**
 * The technicians' review queue: list (highest priority first), detail with evidence, approve,
 * reject with a reason, or approve a modified action. The review service does the work (state
 * machine, optimistic version check → 409, sending the command); the API checks roles and audits.
 */
import { Type } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { responses } from '../errors.js';
import type { ReviewPort, ReviewState } from '../review-port.js';
import { ActionSchema, IdParam, Limit, Offset, ReviewItemSchema, ReviewStateSchema, ReviewSummarySchema } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const Note = Type.String({ maxLength: 2000 });

export const reviewPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const service = (): ReviewPort => {
    if (!ctx.review) throw new SwarmgateError('SWG_ERR_API_UNAVAILABLE', 'this hub process has no review queue');
    return ctx.review;
  };
  const found = async (id: string) => {
    const item = await service().get(id);
    if (!item) throw new SwarmgateError('SWG_ERR_REVIEW_UNKNOWN', `no review item "${id}"`);
    return item;
  };
  const params = Type.Object({ id: IdParam }, strict);

  app.route({
    ...at('reviews.list'),
    schema: {
      querystring: Type.Object(
        {
          site: Type.Optional(IdParam),
          state: Type.Optional(ReviewStateSchema),
          minPriority: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
          limit: Type.Optional(Limit(500, 50)),
          offset: Type.Optional(Offset),
        },
        strict,
      ),
      response: responses(Type.Object({ items: Type.Array(ReviewSummarySchema, { description: 'without evidence: GET /api/v1/reviews/{id} has it' }) }, strict)),
    },
    handler: async (request) => {
      const q = request.query;
      const items = await service().list({ site: q.site, state: q.state as ReviewState | undefined, minPriority: q.minPriority, limit: q.limit, offset: q.offset, evidence: false });
      return { items: [...items] };
    },
  });

  app.route({
    ...at('reviews.get'),
    schema: { params, response: responses(ReviewItemSchema) },
    handler: async (request) => found(request.params.id),
  });

  app.route({
    ...at('reviews.approve'),
    schema: { params, body: Type.Optional(Type.Object({ note: Type.Optional(Note) }, strict)), response: responses(ReviewItemSchema) },
    handler: async (request) => {
      const note = request.body?.note;
      const item = await service().approve(request.params.id, { user: who(request).name, ...(note === undefined ? {} : { note }) });
      await audited(ctx, request, 'review.approve', item.id, { state: item.state, commandId: item.commandId });
      return item;
    },
  });

  app.route({
    ...at('reviews.reject'),
    schema: { params, body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 2000, description: 'why; shown to whoever proposed it' }) }, strict), response: responses(ReviewItemSchema) },
    handler: async (request) => {
      const item = await service().reject(request.params.id, { user: who(request).name, reason: request.body.reason });
      await audited(ctx, request, 'review.reject', item.id, { reason: request.body.reason });
      return item;
    },
  });

  app.route({
    ...at('reviews.modify'),
    schema: { params, body: Type.Object({ action: ActionSchema, note: Type.Optional(Note) }, strict), response: responses(ReviewItemSchema) },
    handler: async (request) => {
      const { action, note } = request.body;
      const item = await service().modify(request.params.id, { user: who(request).name, action, ...(note === undefined ? {} : { note }) });
      await audited(ctx, request, 'review.modify', item.id, { action, commandId: item.commandId });
      return item;
    },
  });

  app.route({
    ...at('reviews.audit'),
    schema: { params, response: responses(Type.Object({ entries: Type.Array(Type.Record(Type.String(), Type.Unknown())) }, strict)) },
    handler: async (request) => {
      await found(request.params.id);
      return { entries: (await service().audit(request.params.id)).map((entry) => ({ ...entry })) };
    },
  });
};
