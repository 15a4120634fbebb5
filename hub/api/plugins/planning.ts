/**
 * Objectives and plans (the planner turns an objective into a plan over the facility model), and
 * the decision agents with their track records (consensus weights). Plans are kept in api_plans:
 * proposed → approved | cancelled; executing approved plans is the agents runtime's job.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { DOMAINS, type Domain } from '../../agents/types.js';
import { ObjectiveSchema, parseObjective, plan as makePlan, type Plan } from '../../agents/planner/index.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { num, str, type SqlRow } from '../../db/sql.js';
import { responses } from '../errors.js';
import { IdParam, Limit, Millis } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const PlanStatus = Type.Union([Type.Literal('proposed'), Type.Literal('approved'), Type.Literal('cancelled')]);
type PlanStatus = Static<typeof PlanStatus>;

const PlanRecordSchema = Type.Object(
  {
    id: Type.String(),
    site: Type.String(),
    status: PlanStatus,
    createdBy: Type.String(),
    createdAt: Millis,
    updatedAt: Millis,
    objective: Type.Record(Type.String(), Type.Unknown(), { description: 'the objective as planned (defaults filled in)' }),
    plan: Type.Record(Type.String(), Type.Unknown(), { description: 'steps, sub-objectives, timeline, risks, success criteria, contingencies (hub/agents/planner/model.ts)' }),
  },
  strict,
);

function planFrom(row: SqlRow) {
  return {
    id: str(row, 'id'),
    site: str(row, 'site'),
    status: str(row, 'status') as PlanStatus,
    createdBy: str(row, 'created_by'),
    createdAt: num(row, 'created_at'),
    updatedAt: num(row, 'updated_at'),
    objective: JSON.parse(str(row, 'objective')) as Record<string, unknown>,
    plan: JSON.parse(str(row, 'plan')) as Record<string, unknown>,
  };
}

const RecordSchema = Type.Object(
  {
    domain: Type.String(),
    weight: Type.Number({ description: 'posterior mean: the factor in expertise-weighted consensus' }),
    trust: Type.Number({ description: 'scales the confidence of new proposals (<= 1)' }),
    alpha: Type.Number(),
    beta: Type.Number(),
    n: Type.Number({ description: 'outcomes recorded' }),
    updatedAt: Millis,
  },
  strict,
);

export const planningPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const sql = ctx.sql;
  const get = async (id: string) => {
    const row = (await sql.all('SELECT * FROM api_plans WHERE id = ?', [id]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_PLAN_UNKNOWN', `no plan "${id}"`);
    return planFrom(row);
  };

  app.route({
    ...at('objectives.create'),
    schema: { body: ObjectiveSchema, response: responses(PlanRecordSchema, 201) },
    handler: async (request, reply) => {
      const facility = ctx.agents?.facility;
      if (!facility) throw new SwarmgateError('SWG_ERR_AGENTS_UNAVAILABLE', 'planning needs the facility model, and this hub has none loaded');
      const objective = parseObjective(request.body);
      const result: Plan = makePlan(objective, facility);
      const now = Date.now();
      const rows = await sql.all(
        `INSERT INTO api_plans (id, site, status, objective, plan, created_by, created_at, updated_at) VALUES (?, ?, 'proposed', ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET objective = excluded.objective, plan = excluded.plan, status = 'proposed', updated_at = excluded.updated_at RETURNING *`,
        [result.id, objective.site, JSON.stringify(objective), JSON.stringify(result), who(request).name, now, now],
      );
      await audited(ctx, request, 'plan.create', result.id, { site: objective.site, targetPct: objective.targetPct, feasible: result.feasible });
      return reply.status(201).send(planFrom(rows[0] ?? {}));
    },
  });

  app.route({
    ...at('plans.list'),
    schema: {
      querystring: Type.Object({ site: Type.Optional(IdParam), status: Type.Optional(PlanStatus), limit: Type.Optional(Limit(500, 50)) }, strict),
      response: responses(Type.Object({ plans: Type.Array(PlanRecordSchema) }, strict)),
    },
    handler: async (request) => {
      const q = request.query;
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.site !== undefined) where.push('site = ?') && args.push(q.site);
      if (q.status !== undefined) where.push('status = ?') && args.push(q.status);
      const rows = await sql.all(`SELECT * FROM api_plans ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id LIMIT ?`, [...args, q.limit ?? 50]);
      return { plans: rows.map(planFrom) };
    },
  });

  app.route({
    ...at('plans.get'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(PlanRecordSchema) },
    handler: async (request) => get(request.params.id),
  });

  app.route({
    ...at('plans.status'),
    schema: {
      params: Type.Object({ id: IdParam }, strict),
      body: Type.Object({ status: Type.Union([Type.Literal('approved'), Type.Literal('cancelled')]) }, strict),
      response: responses(PlanRecordSchema),
    },
    handler: async (request) => {
      const current = await get(request.params.id);
      if (current.status !== 'proposed') throw new SwarmgateError('SWG_ERR_REVIEW_CONFLICT', `plan "${current.id}" is ${current.status}; only proposed plans can be approved or cancelled`);
      const rows = await sql.all("UPDATE api_plans SET status = ?, updated_at = ? WHERE id = ? AND status = 'proposed' RETURNING *", [request.body.status, Date.now(), current.id]);
      const row = rows[0];
      if (!row) throw new SwarmgateError('SWG_ERR_REVIEW_CONFLICT', `plan "${current.id}" changed meanwhile; reload it`);
      await audited(ctx, request, `plan.${request.body.status}`, current.id);
      return planFrom(row);
    },
  });

  app.route({
    ...at('agents.list'),
    schema: {
      response: responses(
        Type.Object(
          {
            priorMean: Type.Number(),
            agents: Type.Array(
              Type.Object({ id: Type.String(), domain: Type.Optional(Type.String()), vetoAuthority: Type.Optional(Type.Boolean()), records: Type.Array(RecordSchema) }, strict),
            ),
          },
          strict,
        ),
      ),
    },
    handler: async () => {
      const book = ctx.agents?.trackRecords;
      const registered = ctx.agents?.agents?.() ?? [];
      const ids = new Set<string>([...registered.map((a) => a.id), ...(book?.all().map((r) => r.agent) ?? [])]);
      const now = Date.now();
      const agents = [...ids].sort().map((id) => {
        const meta = registered.find((a) => a.id === id);
        const domains = new Set<Domain>([...(meta ? [meta.domain] : []), ...(book?.all().filter((r) => r.agent === id).map((r) => r.domain) ?? [])]);
        const records = book
          ? [...domains].filter((d) => DOMAINS.includes(d)).map((d) => {
              const r = book.get(id, d, now);
              return { domain: d, weight: book.mean(id, d, now), trust: book.trust(id, d, now), alpha: r.alpha, beta: r.beta, n: r.n, updatedAt: r.updatedAt };
            })
          : [];
        return { id, ...(meta ? { domain: meta.domain, vetoAuthority: meta.vetoAuthority } : {}), records };
      });
      return { priorMean: book?.priorMean ?? 0.5, agents };
    },
  });
};
