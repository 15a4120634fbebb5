/**
 * Maintenance work orders for field technicians: the open list (most urgent first), one order,
 * and closing it with a note of what was done. The agents raise them (hub/work-orders).
 */
import { Type } from '@sinclair/typebox';
import { WorkOrderSchema } from '../../work-orders/service.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;

export const workOrdersPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const workOrders = ctx.workOrders;
  const params = Type.Object({ id: IdParam }, strict);

  app.route({
    ...at('workOrders.list'),
    schema: {
      querystring: Type.Object(
        {
          site: Type.Optional(IdParam),
          state: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' })),
          limit: Type.Optional(Limit(1000, 100)),
        },
        strict,
      ),
      response: responses(Type.Object({ items: Type.Array(WorkOrderSchema) }, strict)),
    },
    handler: async (request) => ({ items: await workOrders.list(request.query) }),
  });

  app.route({
    ...at('workOrders.close'),
    schema: {
      params,
      body: Type.Object({ note: Type.String({ minLength: 1, maxLength: 2000, description: 'what was done or found' }) }, strict),
      response: responses(WorkOrderSchema),
    },
    handler: async (request) => {
      const order = await workOrders.close(request.params.id, { user: who(request).name, note: request.body.note });
      await audited(ctx, request, 'work-order.close', order.id, { note: request.body.note });
      return order;
    },
  });
};
