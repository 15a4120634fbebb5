/**
 * The quarantine for operators (admins): what ingest refused and kept (schema-invalid,
 * implausible timestamps, messages the store refuses every time), newest first, each with how
 * often it was received; one message; how many and since when; and discarding one once it has
 * been inspected (audited).
 */
import { Type } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { QuarantinedMessageSchema, QuarantineSummarySchema } from '../../quarantine/service.js';
import type { ApiPlugin } from '../context.js';
import { at, audited } from '../context.js';
import { responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const QuarantineId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'id of a quarantined message' });

export const quarantinePlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const quarantine = ctx.quarantine;
  const params = Type.Object({ id: QuarantineId }, strict);
  const gateway = Type.Optional(IdParam);

  app.route({
    ...at('quarantine.list'),
    schema: {
      querystring: Type.Object(
        {
          gateway,
          before: Type.Optional({ ...QuarantineId, description: 'page: messages with a smaller id (older)' }),
          limit: Type.Optional(Limit(1000, 100)),
        },
        strict,
      ),
      response: responses(Type.Object({ items: Type.Array(QuarantinedMessageSchema) }, strict)),
    },
    handler: async (request) => ({ items: await quarantine.list(request.query) }),
  });

  app.route({
    ...at('quarantine.summary'),
    schema: { querystring: Type.Object({ gateway }, strict), response: responses(QuarantineSummarySchema) },
    handler: async (request) => quarantine.summary(request.query),
  });

  app.route({
    ...at('quarantine.get'),
    schema: { params, response: responses(QuarantinedMessageSchema) },
    handler: async (request) => {
      const message = await quarantine.get(request.params.id);
      if (!message) throw new SwarmgateError('SWG_ERR_QUARANTINE_UNKNOWN', `no quarantined message ${request.params.id}`);
      return message;
    },
  });

  app.route({
    ...at('quarantine.discard'),
    schema: { params, response: responses(QuarantinedMessageSchema) },
    handler: async (request) => {
      const message = await quarantine.discard(request.params.id);
      await audited(ctx, request, 'quarantine.discard', String(message.id), { gateway: message.gateway, topic: message.topic, reason: message.reason, receivedAt: message.receivedAt });
      return message;
    },
  });
};
