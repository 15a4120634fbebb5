/**
 * The point index for integrators and agents: every point carrying all the given Project
 * Haystack markers, across gateways and vendors' names, with unit and tags, in pages.
 */
import { Type } from '@sinclair/typebox';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { responses } from '../errors.js';
import { IdParam, Limit, MarkerList, PointCursor, PointPageSchema } from '../schemas.js';

const strict = { additionalProperties: false } as const;

export const pointsPlugin: ApiPlugin = async (app) => {
  const points = app.hub.points;

  app.route({
    ...at('points.find'),
    schema: {
      querystring: Type.Object(
        {
          tags: Type.Optional(MarkerList),
          site: Type.Optional(IdParam),
          gateway: Type.Optional(IdParam),
          limit: Type.Optional(Limit(1000, 100)),
          after: Type.Optional(PointCursor),
        },
        strict,
      ),
      response: responses(PointPageSchema),
    },
    handler: async (request) => {
      const q = request.query;
      const [gateway = '', device = '', point = ''] = q.after?.split('/') ?? [];
      const page = await points.find({
        ...(q.tags !== undefined ? { tags: q.tags.split(',') } : {}),
        ...(q.site !== undefined ? { site: q.site } : {}),
        ...(q.gateway !== undefined ? { gateway: q.gateway } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.after !== undefined ? { after: { gateway, device, point } } : {}),
      });
      return { items: page.items, ...(page.next ? { next: `${page.next.gateway}/${page.next.device}/${page.next.point}` } : {}) };
    },
  });
};
