/**
 * The emergence monitor's incidents (hub/incidents): many gateways alarming at once on points of
 * the same kind as one fleet incident, one gateway deviating from its peers as one equipment
 * incident; the list (filter by state, kind, site) and one incident with its member events.
 */
import { Type } from '@sinclair/typebox';
import { IncidentDetailSchema, IncidentKindSchema, IncidentSchema, IncidentStateSchema } from '../../incidents/service.js';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;

export const incidentsPlugin: ApiPlugin = async (app) => {
  const incidents = app.hub.incidents;

  app.route({
    ...at('incidents.list'),
    schema: {
      querystring: Type.Object(
        {
          state: Type.Optional(IncidentStateSchema),
          kind: Type.Optional(IncidentKindSchema),
          site: Type.Optional({ ...IdParam, description: 'incidents with a member event at this site' }),
          limit: Type.Optional(Limit(1000, 100)),
        },
        strict,
      ),
      response: responses(Type.Object({ items: Type.Array(IncidentSchema) }, strict)),
    },
    handler: async (request) => ({ items: await incidents.list(request.query) }),
  });

  app.route({
    ...at('incidents.get'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(IncidentDetailSchema) },
    handler: async (request) => incidents.get(request.params.id),
  });
};
