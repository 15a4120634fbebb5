/** Gateways (status, health, last seen), points (latest, history with downsampling) and events. */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import type { GapCursor, SamplePage, StoredGap } from '../../store/types.js';
import type { ApiPlugin } from '../context.js';
import { at, knownGateway, withRevocations } from '../context.js';
import { responses } from '../errors.js';
import { GatewaySchema, HistorySchema, IdParam, Limit, MAX_MILLIS, MillisParam, ReadingSchema, StoredEventSchema, StoredGapSchema } from '../schemas.js';

const strict = { additionalProperties: false } as const;
type HistoryResponse = Static<typeof HistorySchema>;
const HOUR = 3_600_000;
/** Buckets the page asks for when it does not choose a width: enough for a phone-wide chart. */
const DEFAULT_MAX_POINTS = 500;
const NICE_BUCKETS = [1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 900_000, 1_800_000, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR];

/** Raw samples one answer carries at most (bucketMs=0); past it the answer is cut and says where (`next`). */
export const MAX_RAW_SAMPLES = 20_000;
/** Buckets one answer carries at most: a bucketMs that makes more over from..to is refused. */
export const MAX_BUCKETS = 5000;

/** The smallest "nice" bucket width that keeps the span under maxPoints buckets. */
export function autoBucket(spanMs: number, maxPoints: number): number {
  const want = Math.ceil(spanMs / maxPoints);
  return NICE_BUCKETS.find((b) => b >= want) ?? Math.ceil(want / (24 * HOUR)) * 24 * HOUR;
}

/**
 * Where a page of gaps ends (GET /gateways/{gw}/gaps `next`, passed back as `before`):
 * `<ts>.<fromSeq>.<toSeq>.<bootId>` of the page's last gap, so gaps with equal ts keep their order
 * across pages (GapCursor). A plain ms number, as `next` used to be, still takes the gaps before it.
 */
const GAP_CURSOR = '^[0-9]{1,16}(\\.[0-9]{1,16}\\.[0-9]{1,16}\\.[A-Za-z0-9_-]{1,64})?$';

export function gapCursor(gap: StoredGap): string {
  return `${gap.ts}.${gap.fromSeq}.${gap.toSeq}.${gap.bootId}`;
}

/** The cursor a `before` names (GAP_CURSOR checked it is digits and an id); a plain number is a time. */
export function parseGapCursor(text: string): GapCursor | number {
  const [ts, fromSeq, toSeq, bootId] = text.split('.') as [string, string?, string?, string?];
  const numbers = [Number(ts), Number(fromSeq ?? 0), Number(toSeq ?? 0)];
  if (numbers.some((n) => !Number.isSafeInteger(n)) || numbers[0]! > MAX_MILLIS) {
    throw new SwarmgateError('SWG_ERR_API_VALIDATION', `before: "${text}" is out of range; pass the \`next\` of the previous page as it came`, { details: { field: 'before', part: 'querystring' } });
  }
  if (bootId === undefined) return numbers[0]!;
  return { ts: numbers[0]!, fromSeq: numbers[1]!, toSeq: numbers[2]!, bootId };
}

export const fleetPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;

  app.route({
    ...at('gateways.list'),
    schema: {
      querystring: Type.Object({ site: Type.Optional(IdParam), status: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')])) }, strict),
      response: responses(Type.Object({ gateways: Type.Array(GatewaySchema) }, strict)),
    },
    handler: async (request) => {
      const { site, status } = request.query;
      const all = await ctx.registry.list();
      return { gateways: await withRevocations(ctx, all.filter((g) => (site === undefined || g.site === site) && (status === undefined || g.status === status))) };
    },
  });

  app.route({
    ...at('gateways.get'),
    schema: { params: Type.Object({ gateway: IdParam }, strict), response: responses(GatewaySchema) },
    handler: async (request) => (await withRevocations(ctx, [await knownGateway(ctx, request.params.gateway)]))[0],
  });

  app.route({
    ...at('gateways.gaps'),
    schema: {
      params: Type.Object({ gateway: IdParam }, strict),
      querystring: Type.Object(
        {
          limit: Type.Optional(Limit(1000, 200)),
          before: Type.Optional(Type.String({ pattern: GAP_CURSOR, description: 'page: the `next` of the previous page (a plain ms number takes the gaps recorded before that time)' })),
        },
        strict,
      ),
      response: responses(
        Type.Object(
          {
            gaps: Type.Array(StoredGapSchema, { description: 'newest first' }),
            next: Type.Optional(Type.String({ description: 'more, older gaps: pass as `before` for the next page (a cursor: <ts>.<fromSeq>.<toSeq>.<bootId> of the last gap)' })),
          },
          strict,
        ),
      ),
    },
    handler: async (request) => {
      await knownGateway(ctx, request.params.gateway);
      const { limit = 200, before } = request.query;
      // One more than the page: whether there is a next page.
      const gaps = await ctx.store.gapPage(request.params.gateway, { limit: limit + 1, ...(before === undefined ? {} : { before: parseGapCursor(before) }) });
      const page = gaps.slice(0, limit);
      const last = page[page.length - 1];
      return { gaps: page, ...(gaps.length > limit && last ? { next: gapCursor(last) } : {}) };
    },
  });

  app.route({
    ...at('points.latest'),
    schema: { params: Type.Object({ gateway: IdParam }, strict), response: responses(Type.Object({ points: Type.Array(ReadingSchema) }, strict)) },
    handler: async (request) => {
      await knownGateway(ctx, request.params.gateway);
      return { points: await ctx.store.latest(request.params.gateway) };
    },
  });

  app.route({
    ...at('points.history'),
    schema: {
      params: Type.Object({ gateway: IdParam, device: IdParam, point: IdParam }, strict),
      querystring: Type.Object(
        {
          from: Type.Optional(MillisParam('ms since the epoch; default to - 24 h (0 at the earliest)')),
          to: Type.Optional(MillisParam('ms since the epoch; default now')),
          bucketMs: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 31 * 24 * HOUR,
              description: `0 = raw samples (at most ${MAX_RAW_SAMPLES}, the oldest; \`next\` says where the rest starts); at most ${MAX_BUCKETS} buckets over from..to; default: raw samples when the span is 6 h or less and they are at most maxPoints, else buckets chosen to give at most maxPoints`,
            }),
          ),
          maxPoints: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_BUCKETS, default: DEFAULT_MAX_POINTS })),
        },
        strict,
      ),
      response: responses(
        HistorySchema,
      ),
    },
    handler: async (request) => {
      const { gateway, device, point } = request.params;
      const to = request.query.to ?? Date.now();
      const from = request.query.from ?? Math.max(0, to - 24 * HOUR);
      if (from > to) {
        throw new SwarmgateError('SWG_ERR_API_VALIDATION', `from: ${new Date(from).toISOString()} is after to (${new Date(to).toISOString()}); give from <= to`, { details: { field: 'from', part: 'querystring' } });
      }
      const asked = request.query.bucketMs;
      if (asked !== undefined && asked > 0) {
        // Buckets are whole (the store's history()): those the span touches.
        const buckets = Math.floor(to / asked) - Math.floor(from / asked) + 1;
        if (buckets > MAX_BUCKETS) {
          throw new SwarmgateError('SWG_ERR_API_VALIDATION', `bucketMs: ${asked} makes ${buckets} buckets from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}; at most ${MAX_BUCKETS}: give a wider bucketMs (at least ${Math.ceil((to - from + 1) / (MAX_BUCKETS - 1))}) or a shorter span`, {
            details: { field: 'bucketMs', part: 'querystring' },
          });
        }
      }
      await knownGateway(ctx, gateway);
      const maxPoints = request.query.maxPoints ?? DEFAULT_MAX_POINTS;
      const raw = (page: SamplePage): HistoryResponse => ({ gateway, device, point, from, to, bucketMs: 0, samples: page.samples, ...(page.next === undefined ? {} : { truncated: true as const, next: page.next }) });
      if (asked === 0) return raw(await ctx.store.historyHead(gateway, device, point, from, to, MAX_RAW_SAMPLES));
      if (asked === undefined && to - from <= 6 * HOUR) {
        // Raw samples when they fit maxPoints (reading no more than maxPoints + 1 to know), else buckets.
        const page = await ctx.store.historyHead(gateway, device, point, from, to, maxPoints);
        if (page.next === undefined) return raw(page);
      }
      const bucketMs = asked ?? autoBucket(to - from, maxPoints);
      return { gateway, device, point, from, to, bucketMs, buckets: await ctx.store.history(gateway, device, point, from, to, bucketMs) };
    },
  });

  app.route({
    ...at('events.list'),
    schema: {
      querystring: Type.Object(
        {
          gateway: Type.Optional(IdParam),
          site: Type.Optional(IdParam),
          kind: Type.Optional(Type.Union(['anomaly', 'local-action', 'rule', 'device', 'system'].map((k) => Type.Literal(k)))),
          severity: Type.Optional(Type.Union(['info', 'warning', 'critical'].map((k) => Type.Literal(k)))),
          from: Type.Optional(MillisParam()),
          to: Type.Optional(MillisParam()),
          limit: Type.Optional(Limit(1000, 100)),
        },
        strict,
      ),
      response: responses(Type.Object({ events: Type.Array(StoredEventSchema) }, strict)),
    },
    handler: async (request) => {
      const q = request.query;
      return {
        events: await ctx.store.events({
          gateway: q.gateway,
          site: q.site,
          kind: q.kind as GatewayEvent['kind'] | undefined,
          severity: q.severity as GatewayEvent['severity'] | undefined,
          from: q.from,
          to: q.to,
          limit: q.limit,
        }),
      };
    },
  });
};
