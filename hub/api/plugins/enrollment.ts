/**
 * Enrollment: the public route a gateway enrolls on (its token is the credential; failures are
 * rate-limited per token id and per address), and the admin routes for tokens and enrolled
 * gateways. A created token is shown once, with its claim URI and, on request, a QR code (SVG)
 * for the sticker on the box.
 */
import { Type } from '@sinclair/typebox';
import QRCode from 'qrcode';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { EnrollRequestSchema, EnrollResponseSchema, parseEnrollToken } from '../../../shared/wire/enrollment.js';
import { CreatedTokenSchema, EnrolledGatewaySchema, EnrollmentTokenSchema, TokenStateSchema } from '../../enrollment/service.js';
import { parseDuration } from '../../enrollment/schema.js';
import { enrollLimitKey } from '../auth/rate-limit.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { errorBody, responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });

export const enrollmentPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const enrollment = ctx.enrollment;

  app.route({
    ...at('enroll'),
    schema: { body: EnrollRequestSchema, response: responses(EnrollResponseSchema) },
    handler: async (request, reply) => {
      const tokenId = parseEnrollToken(request.body.token)?.id ?? 'malformed';
      const limitKey = enrollLimitKey(tokenId);
      // Its own limiter: failed enrollments from a site's address must not lock its technicians out of logging in.
      const refusal = ctx.enrollLimiter.attempt(limitKey, request.ip);
      if (refusal) {
        return reply.status(429).header('retry-after', String(refusal.retryAfterS)).send(errorBody('SWG_ERR_ENROLL_RATE_LIMITED', `too many failed enrollments from this address or with this token; retry in ${refusal.retryAfterS} s`));
      }
      try {
        const answer = await enrollment.enroll(request.body);
        ctx.enrollLimiter.withdraw(limitKey, request.ip);
        await audited(ctx, request, 'gateway.enrolled', answer.identity.gateway, { site: answer.identity.site, tokenId: answer.identity.tokenId, hostname: request.body.hostname });
        return answer;
      } catch (err) {
        if (!isSwarmgateError(err, 'SWG_ERR_ENROLL_TOKEN')) ctx.enrollLimiter.withdraw(limitKey, request.ip);
        else {
          await audited(ctx, request, 'gateway.enroll-refused', tokenId, { reason: err.message });
        }
        throw err;
      }
    },
  });

  app.route({
    ...at('enrollment.tokens.list'),
    schema: {
      querystring: Type.Object({ site: Type.Optional(Id), state: Type.Optional(TokenStateSchema), limit: Type.Optional(Limit(1000, 100)) }, strict),
      response: responses(Type.Object({ items: Type.Array(EnrollmentTokenSchema) }, strict)),
    },
    handler: async (request) => ({ items: await enrollment.listTokens(request.query) }),
  });

  app.route({
    ...at('enrollment.tokens.create'),
    schema: {
      body: Type.Object(
        {
          site: Id,
          gateway: Type.Optional(Id),
          count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
          ttl: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}[smhd]$', description: 'validity, e.g. 12h or 7d (default enrollment.defaultTtl)' })),
          note: Type.Optional(Type.String({ maxLength: 500 })),
          qr: Type.Optional(Type.Boolean({ default: false, description: 'add each claim URI as a QR code (SVG) for a sticker' })),
          moveSite: Type.Optional(Type.Boolean({ default: false, description: 'the gateway id is enrolled at another site and is meant to move to this one; without it such a token is refused (409 SWG_ERR_ENROLL_SITE_MOVE)' })),
        },
        strict,
      ),
      response: responses(
        Type.Object(
          { items: Type.Array(Type.Intersect([CreatedTokenSchema, Type.Object({ claim: Type.Optional(Type.String()), qrSvg: Type.Optional(Type.String()) })])) },
          strict,
        ),
        201,
      ),
    },
    handler: async (request, reply) => {
      const { site, gateway, count, ttl, note, qr, moveSite } = request.body;
      const created = await enrollment.createTokens({
        site,
        createdBy: who(request).name,
        ...(gateway ? { gateway } : {}),
        ...(count ? { count } : {}),
        ...(ttl ? { ttlMs: parseDuration(ttl) } : {}),
        ...(note ? { note } : {}),
        ...(moveSite ? { moveSite } : {}),
      });
      await audited(ctx, request, 'enrollment.tokens.create', site, { count: created.length, gateway, ids: created.map((t) => t.id), ...(moveSite ? { moveSite } : {}) });
      const items = await Promise.all(
        created.map(async (t) => {
          const claim = enrollment.claimFor(t.token);
          const qrSvg = qr ? await QRCode.toString(claim ?? t.token, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }) : undefined;
          return { ...t, ...(claim ? { claim } : {}), ...(qrSvg ? { qrSvg } : {}) };
        }),
      );
      return reply.status(201).send({ items });
    },
  });

  app.route({
    ...at('enrollment.tokens.revoke'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(EnrollmentTokenSchema) },
    handler: async (request) => {
      const token = await enrollment.revokeToken(request.params.id, who(request).name);
      await audited(ctx, request, 'enrollment.tokens.revoke', token.id, { site: token.site, state: token.state });
      return token;
    },
  });

  app.route({
    ...at('enrollment.gateways.list'),
    schema: { querystring: Type.Object({ site: Type.Optional(Id) }, strict), response: responses(Type.Object({ items: Type.Array(EnrolledGatewaySchema) }, strict)) },
    handler: async (request) => ({ items: await enrollment.listGateways(request.query) }),
  });

  app.route({
    ...at('enrollment.gateways.revoke'),
    schema: { params: Type.Object({ gateway: Id }, strict), response: responses(EnrolledGatewaySchema) },
    handler: async (request) => {
      const gateway = await enrollment.revokeGateway(request.params.gateway, who(request).name);
      await audited(ctx, request, 'enrollment.gateways.revoke', gateway.gateway, { site: gateway.site });
      return gateway;
    },
  });
};
