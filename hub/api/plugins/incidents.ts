/**
 * The emergence monitor's incidents (hub/incidents): many gateways alarming at once on points of
 * the same kind as one fleet incident, one gateway deviating from its peers as one equipment
 * incident; the list (filter by state, kind, site; paged: `next` back as `before`) and one
 * incident with its member events.
 */
import { Type } from '@sinclair/typebox';
import { IncidentDetailSchema, IncidentKindSchema, IncidentSchema, IncidentStateSchema } from '../../incidents/service.js';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;

/** A page's end as `next` gives it: <lastSeen>.<id> of its last incident. */
const INCIDENT_CURSOR = '^[0-9]{1,16}\\.[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$';

function cursorOf(text: string): { lastSeen: number; id: string } {
  const dot = text.indexOf('.');
  return { lastSeen: Number(text.slice(0, dot)), id: text.slice(dot + 1) };
}

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
          before: Type.Optional(Type.String({ pattern: INCIDENT_CURSOR, maxLength: 220, description: 'page: the `next` of the previous page' })),
        },
        strict,
      ),
      response: responses(
        Type.Object(
          {
            items: Type.Array(IncidentSchema),
            next: Type.Optional(Type.String({ description: 'more, less recently active incidents: pass as `before` for the next page' })),
          },
          strict,
        ),
      ),
    },
    handler: async (request) => {
      const { before, ...filter } = request.query;
      const page = await incidents.page({ ...filter, ...(before === undefined ? {} : { before: cursorOf(before) }) });
      return { items: page.items, ...(page.next ? { next: `${page.next.lastSeen}.${page.next.id}` } : {}) };
    },
  });

  app.route({
    ...at('incidents.get'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(IncidentDetailSchema) },
    handler: async (request) => incidents.get(request.params.id),
  });
};
