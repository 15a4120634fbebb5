/**
 * Detector priors (hub/priors): what gateways published (the newest per profile point key, and one
 * document), and the fleet prior served per key (chosen from them, with every member's reason),
 * for an operator or a tool.
 */
import { Type } from '@sinclair/typebox';
import { DetectorPriorSchema, PriorKeySchema } from '../../../shared/wire/detector-prior.js';
import { FleetPriorSummarySchema, PriorSummarySchema } from '../../priors/service.js';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { responses } from '../errors.js';

const strict = { additionalProperties: false } as const;

export const priorsPlugin: ApiPlugin = async (app) => {
  const priors = app.hub.priors;

  app.route({
    ...at('priors.list'),
    schema: {
      querystring: Type.Object({ key: Type.Optional(PriorKeySchema) }, strict),
      response: responses(Type.Object({ items: Type.Array(PriorSummarySchema) }, strict)),
    },
    handler: async (request) => ({ items: await priors.list(request.query.key === undefined ? {} : { key: request.query.key }) }),
  });

  app.route({
    ...at('priors.get'),
    schema: {
      querystring: Type.Object({ key: PriorKeySchema, version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'a version of the key (default the newest)' })) }, strict),
      response: responses(Type.Object({ summary: PriorSummarySchema, prior: DetectorPriorSchema }, strict)),
    },
    handler: async (request) => priors.get(request.query.key, request.query.version),
  });

  app.route({
    ...at('priors.fleet'),
    schema: {
      querystring: Type.Object({ key: Type.Optional(PriorKeySchema) }, strict),
      response: responses(Type.Object({ items: Type.Array(FleetPriorSummarySchema) }, strict)),
    },
    handler: async (request) => ({ items: await priors.listFleet(request.query.key === undefined ? {} : { key: request.query.key }) }),
  });

  app.route({
    ...at('priors.fleetDocument'),
    schema: {
      querystring: Type.Object({ key: PriorKeySchema, version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'a fleet version of the key (default the newest)' })) }, strict),
      response: responses(Type.Object({ summary: FleetPriorSummarySchema, prior: DetectorPriorSchema }, strict)),
    },
    handler: async (request) => priors.getFleet(request.query.key, request.query.version),
  });
};
