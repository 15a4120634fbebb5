/** Commands to gateways: create (through the CommandService: persisted, published, tracked), status. */
import { Type } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { CommandStatus } from '../../store/types.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { responses } from '../errors.js';
import { ActionSchema, CommandRecordSchema, IdParam, Limit, MillisParam } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const Status = Type.Union(['pending', 'delivered', 'applied', 'rejected', 'timed-out'].map((s) => Type.Literal(s)));

export const commandsPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  app.route({
    ...at('commands.list'),
    schema: {
      querystring: Type.Object(
        { gateway: Type.Optional(IdParam), status: Type.Optional(Type.Union([Status, Type.Array(Status)], { description: 'one status, or repeat the parameter for several' })), limit: Type.Optional(Limit(1000, 100)) },
        strict,
      ),
      response: responses(Type.Object({ commands: Type.Array(CommandRecordSchema) }, strict)),
    },
    handler: async (request) => {
      const q = request.query;
      const status = q.status === undefined ? undefined : ((Array.isArray(q.status) ? q.status : [q.status]) as CommandStatus[]);
      return { commands: await ctx.commands.list({ gateway: q.gateway, status, limit: q.limit }) };
    },
  });

  app.route({
    ...at('commands.create'),
    schema: {
      body: Type.Object(
        {
          gateway: IdParam,
          action: ActionSchema,
          expiresAt: Type.Optional(MillisParam('when the gateway must no longer apply it, ms since the epoch')),
        },
        strict,
      ),
      response: responses(CommandRecordSchema, 201),
    },
    handler: async (request, reply) => {
      const p = who(request);
      const { gateway, action, expiresAt } = request.body;
      // A command the gateway would refuse as expired on arrival is refused here.
      if (expiresAt !== undefined && expiresAt <= Date.now()) {
        throw new SwarmgateError('SWG_ERR_COMMAND_INVALID', `expiresAt: ${new Date(expiresAt).toISOString()} is in the past; give a time to come (ms since the epoch) or leave it out`, { details: { field: 'expiresAt' } });
      }
      // A write the gateway's last birth says it would refuse is refused here, with the field named.
      const problem = await ctx.points.checkWrite(gateway, action);
      if (problem) throw new SwarmgateError('SWG_ERR_COMMAND_INVALID', `action.${problem.field}: ${problem.message}`, { details: { field: `action.${problem.field}` } });
      const record = await ctx.commands.create({ gateway, action, expiresAt, origin: p.via === 'token' ? p.name : `user:${p.name}` });
      await audited(ctx, request, 'command.create', record.id, { gateway, action });
      return reply.status(201).send(record);
    },
  });

  app.route({
    ...at('commands.get'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(CommandRecordSchema) },
    handler: async (request) => {
      const record = await ctx.commands.get(request.params.id);
      if (!record) throw new SwarmgateError('SWG_ERR_COMMAND_UNKNOWN', `no command "${request.params.id}"`);
      return record;
    },
  });
};
