/** Users, API tokens, login limits and the audit log (admins only, and never through an API token). */
import { Type } from '@sinclair/typebox';
import { ENROLL_LIMIT_PREFIX, enrollLimitKey, type ActiveLimit } from '../auth/rate-limit.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { responses } from '../errors.js';
import { Limit, Millis, Ok, Password, RoleSchema, TokenSchema, UserSchema, Username } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const UserParams = Type.Object({ username: Username }, strict);

export const adminPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  app.route({
    ...at('users.list'),
    schema: { response: responses(Type.Object({ users: Type.Array(UserSchema) }, strict)) },
    handler: async () => ({ users: await ctx.accounts.listUsers() }),
  });

  app.route({
    ...at('users.create'),
    schema: { body: Type.Object({ username: Username, role: RoleSchema, password: Password }, strict), response: responses(UserSchema, 201) },
    handler: async (request, reply) => {
      const { username, role, password } = request.body;
      const user = await ctx.accounts.createUser(username, role, password);
      await audited(ctx, request, 'user.create', username, { role });
      return reply.status(201).send(user);
    },
  });

  app.route({
    ...at('users.update'),
    schema: {
      params: UserParams,
      body: Type.Object({ role: Type.Optional(RoleSchema), password: Type.Optional(Password), disabled: Type.Optional(Type.Boolean()) }, { ...strict, minProperties: 1 }),
      response: responses(UserSchema),
    },
    handler: async (request) => {
      const { role, password, disabled } = request.body;
      const user = await ctx.accounts.updateUser(request.params.username, { role, password, disabled });
      await audited(ctx, request, 'user.update', user.username, { role, disabled, password: password === undefined ? undefined : 'changed' });
      return user;
    },
  });

  app.route({
    ...at('users.delete'),
    schema: { params: UserParams, response: responses(Ok) },
    handler: async (request) => {
      await ctx.accounts.deleteUser(request.params.username);
      await audited(ctx, request, 'user.delete', request.params.username);
      return { ok: true as const };
    },
  });

  app.route({
    ...at('tokens.list'),
    schema: { response: responses(Type.Object({ tokens: Type.Array(TokenSchema) }, strict)) },
    handler: async () => ({ tokens: await ctx.accounts.listTokens() }),
  });

  app.route({
    ...at('tokens.create'),
    schema: {
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128, description: 'what uses it, e.g. "prometheus" or "cmms"' }), role: RoleSchema }, strict),
      response: responses(Type.Object({ token: Type.String({ description: 'the secret, shown only now: send it as Authorization: Bearer <token>' }), record: TokenSchema }, strict), 201),
    },
    handler: async (request, reply) => {
      const created = await ctx.accounts.createToken(request.body.name, request.body.role, who(request).name);
      await audited(ctx, request, 'token.create', created.record.id, { name: request.body.name, role: request.body.role });
      return reply.status(201).send(created);
    },
  });

  app.route({
    ...at('tokens.revoke'),
    schema: { params: Type.Object({ id: Type.String({ pattern: '^[a-z0-9]{12}$' }) }, strict), response: responses(TokenSchema) },
    handler: async (request) => {
      const token = await ctx.accounts.revokeToken(request.params.id);
      await audited(ctx, request, 'token.revoke', token.id);
      return token;
    },
  });

  app.route({
    ...at('logins.limits'),
    schema: {
      response: responses(
        Type.Object(
          {
            limits: Type.Array(
              Type.Object(
                {
                  for: Type.Union([Type.Literal('login'), Type.Literal('enrollment')], { description: 'failed logins, or failed gateway enrollments (their own limits)' }),
                  kind: Type.Union([Type.Literal('user-address'), Type.Literal('user'), Type.Literal('address')], { description: "for enrollments, 'user' is the token" }),
                  username: Type.Optional(Type.String()),
                  tokenId: Type.Optional(Type.String({ description: 'the enrollment token the failures were with' })),
                  address: Type.Optional(Type.String()),
                  failures: Type.Integer({ description: 'failed attempts in the current window' }),
                  retryAfterS: Type.Integer({ description: 'seconds until the window ends' }),
                },
                strict,
              ),
            ),
          },
          strict,
        ),
      ),
    },
    handler: async () => ({
      limits: [...ctx.limiter.active().map((l) => ({ for: 'login' as const, ...l })), ...ctx.enrollLimiter.active().map(enrollmentLimit)].sort((a, b) => b.retryAfterS - a.retryAfterS),
    }),
  });

  app.route({
    ...at('logins.unlock'),
    schema: {
      body: Type.Object(
        {
          username: Type.Optional(Username),
          address: Type.Optional(Type.String({ minLength: 2, maxLength: 64, pattern: '^[0-9A-Fa-f.:]+$', description: 'client address as the API sees it (GET /api/v1/login-limits): its login and enrollment limits' })),
          tokenId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'an enrollment token id: the limit on failed enrollments with it' })),
        },
        { ...strict, minProperties: 1 },
      ),
      response: responses(Type.Object({ cleared: Type.Integer({ description: 'limits that were holding and are lifted' }) }, strict)),
    },
    handler: async (request) => {
      const { username, address, tokenId } = request.body;
      let cleared = 0;
      if (username !== undefined || address !== undefined) cleared += ctx.limiter.unlock({ username, address });
      // Enrollments: the token's limit, or what holds the address (a NAT shared by a site's boxes).
      if (tokenId !== undefined || address !== undefined) cleared += ctx.enrollLimiter.unlock({ ...(tokenId === undefined ? {} : { username: enrollLimitKey(tokenId) }), address });
      await audited(ctx, request, 'auth.unlock', username ?? tokenId ?? address, { username, address, tokenId, cleared });
      return { cleared };
    },
  });

  app.route({
    ...at('audit.list'),
    schema: {
      querystring: Type.Object(
        {
          actor: Type.Optional(Type.String({ maxLength: 128 })),
          action: Type.Optional(Type.String({ maxLength: 64 })),
          before: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'page: entries with a smaller id' })),
          limit: Type.Optional(Limit(1000, 100)),
        },
        strict,
      ),
      response: responses(
        Type.Object(
          {
            entries: Type.Array(
              Type.Object(
                { id: Type.Integer(), ts: Millis, actor: Type.String(), via: Type.String(), action: Type.String(), target: Type.Optional(Type.String()), detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())), ip: Type.Optional(Type.String()) },
                strict,
              ),
            ),
          },
          strict,
        ),
      ),
    },
    handler: async (request) => ({ entries: await ctx.audit.list(request.query) }),
  });
};

/** An enrollment limit as GET /api/v1/login-limits lists it: the token where a login's user name would be. */
function enrollmentLimit(l: ActiveLimit): ActiveLimit & { for: 'enrollment'; tokenId?: string } {
  const { username, ...rest } = l;
  const tokenId = username?.startsWith(ENROLL_LIMIT_PREFIX) ? username.slice(ENROLL_LIMIT_PREFIX.length) : undefined;
  return { for: 'enrollment', ...rest, ...(tokenId === undefined ? {} : { tokenId }) };
}
