/** Remote gateway configuration: read the desired and reported documents, set a new desired one. */
import { Type } from '@sinclair/typebox';
import type { ApiPlugin } from '../context.js';
import { at, audited, knownGateway } from '../context.js';
import { responses } from '../errors.js';
import { IdParam } from '../schemas.js';
import { DesiredGatewayConfigSchema } from '../../../shared/wire/desired-config.js';
import { redactSecrets } from '../../../shared/kit/secrets.js';

const strict = { additionalProperties: false } as const;

const ConfigDocument = Type.Object(
  {
    v: Type.Literal(1),
    version: Type.Integer({ minimum: 0, description: 'counts up per gateway with every PUT' }),
    ts: Type.Integer({ minimum: 0, description: 'ms since the epoch' }),
    config: Type.Record(Type.String(), Type.Unknown(), { description: 'desired: the gateway config; reported: { status, problems?, config? }' }),
  },
  strict,
);

const View = Type.Object({ desired: Type.Optional(ConfigDocument), reported: Type.Optional(ConfigDocument) }, strict);

export const gatewayConfigPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const configs = ctx.configs;

  app.route({
    ...at('gateways.config.get'),
    schema: { params: Type.Object({ gateway: IdParam }, strict), response: responses(View) },
    handler: async (request) => {
      await knownGateway(ctx, request.params.gateway);
      // Secrets are write-only: a desired config may keep "(redacted)" where it does not change one.
      const view = await configs.get(request.params.gateway);
      return {
        ...(view.desired ? { desired: { ...view.desired, config: redactSecrets(view.desired.config) as Record<string, unknown> } } : {}),
        ...(view.reported ? { reported: { ...view.reported, config: redactSecrets(view.reported.config) as Record<string, unknown> } } : {}),
      };
    },
  });

  app.route({
    ...at('gateways.config.put'),
    schema: {
      params: Type.Object({ gateway: IdParam }, strict),
      body: Type.Object({ config: DesiredGatewayConfigSchema }, strict),
      response: responses(ConfigDocument),
    },
    handler: async (request) => {
      const g = await knownGateway(ctx, request.params.gateway);
      const doc = await configs.setDesired(g.site, g.gateway, request.body.config);
      await audited(ctx, request, 'gateway.config.set', g.gateway, { site: g.site, version: doc.version });
      return { ...doc, config: redactSecrets(doc.config) as Record<string, unknown> };
    },
  });
};
