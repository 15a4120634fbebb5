/** Login (rate-limited, sets the session cookie), logout and who-am-I. */
import { Type } from '@sinclair/typebox';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { errorBody, responses } from '../errors.js';
import { MeSchema, RoleSchema, Username } from '../schemas.js';
import { sessionCookie } from '../auth/guard.js';
import type { LimitKind } from '../auth/rate-limit.js';

const strict = { additionalProperties: false } as const;
/** What the 429 says held, in words (the address is the caller's own, so naming it tells nothing new). */
const LIMIT_WORDS: Record<LimitKind, (username: string) => string> = {
  'user-address': (u) => `for "${u}" from this address`,
  user: (u) => `for "${u}"`,
  address: () => 'from this address',
};

export const authPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  app.route({
    ...at('auth.login'),
    schema: {
      body: Type.Object({ username: Username, password: Type.String({ minLength: 1, maxLength: 256 }) }, strict),
      response: responses(Type.Object({ user: Type.Object({ username: Type.String(), role: RoleSchema }, strict), expiresAt: Type.Integer() }, strict)),
    },
    handler: async (request, reply) => {
      const { username, password } = request.body;
      // Counted as failed until it succeeds: parallel guesses cannot all pass before one has failed.
      const refusal = ctx.limiter.attempt(username, request.ip);
      if (refusal) {
        ctx.loginMetrics.limited(refusal.by);
        await audited(ctx, request, 'auth.rate-limited', username, { limit: refusal.by });
        return reply
          .status(429)
          .header('retry-after', String(refusal.retryAfterS))
          .send(errorBody('SWG_ERR_AUTH_RATE_LIMITED', `too many failed logins ${LIMIT_WORDS[refusal.by](username)}; retry in ${refusal.retryAfterS} s`));
      }
      const user = await ctx.accounts.verify(username, password);
      if (!user) {
        ctx.loginMetrics.failed();
        await ctx.audit.write({ name: username, via: 'login' }, 'auth.login-failed', username, undefined, request.ip);
        return reply.status(401).send(errorBody('SWG_ERR_AUTH_FAILED', 'wrong user name or password, or the account is disabled'));
      }
      ctx.limiter.succeeded(username, request.ip);
      const session = await ctx.accounts.createSession(user.username);
      // Logins are rare: a good moment to drop expired sessions.
      await ctx.accounts.purgeSessions().catch((err: unknown) => ctx.log.warn({ err }, 'purging expired sessions failed'));
      await ctx.audit.write({ name: user.username, via: 'session' }, 'auth.login', user.username, undefined, request.ip);
      void reply.header('set-cookie', sessionCookie(ctx, request, session.id, Math.floor(ctx.config.session.ttlHours * 3600)));
      return { user: { username: user.username, role: user.role }, expiresAt: session.expiresAt };
    },
  });

  app.route({
    ...at('auth.logout'),
    schema: { response: responses(Type.Object({ ok: Type.Literal(true) }, strict)) },
    handler: async (request, reply) => {
      const p = who(request);
      if (p.sessionHash) await ctx.accounts.endSession(p.sessionHash);
      await audited(ctx, request, 'auth.logout', p.name);
      void reply.header('set-cookie', sessionCookie(ctx, request, '', 0));
      return { ok: true as const };
    },
  });

  app.route({
    ...at('auth.me'),
    schema: { response: responses(MeSchema) },
    handler: async (request) => {
      const p = who(request);
      return { name: p.name, role: p.role, via: p.via };
    },
  });
};

