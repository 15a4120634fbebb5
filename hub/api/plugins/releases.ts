/**
 * Software releases and deployments: upload a signed release (its manifest, then its artifact),
 * list them, serve an artifact to gateways (Range supported, each gateway with the download token
 * its deployment gave it), create deployments (canary first) and follow each gateway's progress.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { ReleaseManifestSchema, ReleaseVersionSchema } from '../../../shared/release/manifest.js';
import type { DeploymentTarget } from '../../releases/index.js';
import type { ApiPlugin } from '../context.js';
import { at, audited, who } from '../context.js';
import { errorBody, responses } from '../errors.js';
import { IdParam, Limit } from '../schemas.js';

const strict = { additionalProperties: false } as const;

const ReleaseViewSchema = Type.Object(
  {
    version: Type.String(),
    state: Type.Union([Type.Literal('uploading'), Type.Literal('ready')]),
    size: Type.Integer(),
    sha256: Type.String(),
    createdAt: Type.Integer(),
    uploadedAt: Type.Optional(Type.Integer()),
    manifest: ReleaseManifestSchema,
  },
  strict,
);

const TargetSchema = Type.Union([
  Type.Object({ site: IdParam }, { ...strict, title: 'site target', description: 'every gateway of one site' }),
  Type.Object({ gateways: Type.Array(IdParam, { minItems: 1, maxItems: 10_000 }) }, { ...strict, title: 'gateways target', description: 'these gateways (at least one)' }),
  Type.Object({ percent: Type.Number({ exclusiveMinimum: 0, maximum: 100 }) }, { ...strict, title: 'percent target', description: 'this share of the fleet: > 0 and <= 100' }),
]);

/**
 * The target as a request gives it: one object with the three keys optional, checked by
 * checkTarget, so a wrong one is refused naming its field (a union would only say that none of
 * its three shapes matched).
 */
const TargetInputSchema = Type.Object(
  {
    site: Type.Optional(IdParam),
    gateways: Type.Optional(Type.Array(IdParam, { maxItems: 10_000, description: 'at least one gateway id' })),
    percent: Type.Optional(Type.Number({ description: 'share of the fleet: > 0 and <= 100' })),
  },
  { ...strict, description: 'exactly one of: site, gateways (at least one) or percent (> 0 and <= 100)' },
);

const targetInvalid = (field: string, message: string): SwarmgateError => new SwarmgateError('SWG_ERR_DEPLOYMENT_INVALID', `${field}: ${message}`, { details: { field } });

/** Exactly one target kind, within its bounds. */
function checkTarget(target: Static<typeof TargetInputSchema>): DeploymentTarget {
  const given = (['site', 'gateways', 'percent'] as const).filter((k) => target[k] !== undefined);
  if (given.length !== 1) throw targetInvalid('target', `give exactly one of site, gateways or percent (got ${given.length === 0 ? 'none' : given.join(' and ')})`);
  if (target.site !== undefined) return { site: target.site };
  if (target.gateways !== undefined) {
    if (target.gateways.length === 0) throw targetInvalid('target.gateways', 'must name at least one gateway');
    return { gateways: target.gateways };
  }
  const percent = target.percent ?? 0;
  if (!(percent > 0 && percent <= 100)) throw targetInvalid('target.percent', 'must be > 0 and <= 100');
  return { percent };
}

const DeploymentViewSchema = Type.Object(
  {
    id: Type.String(),
    version: Type.String(),
    target: TargetSchema,
    canary: Type.Integer(),
    maxFailures: Type.Integer(),
    allowDowngrade: Type.Boolean({ description: 'it may take gateways back to an older release than they run' }),
    state: Type.Union([Type.Literal('canary'), Type.Literal('rolling'), Type.Literal('done'), Type.Literal('halted'), Type.Literal('cancelled')]),
    reason: Type.Optional(Type.String()),
    createdBy: Type.String(),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
    counts: Type.Record(Type.String(), Type.Integer()),
    gateways: Type.Array(
      Type.Object(
        {
          gateway: Type.String(),
          site: Type.String(),
          wave: Type.Union([Type.Literal('canary'), Type.Literal('rest')]),
          state: Type.String({ description: 'waiting, sent, downloading, installing, restarting, checking, healthy, rolled-back, failed; superseded (a later deployment took the gateway over), skipped (revoked, not told) or cancelled' }),
          from: Type.Optional(Type.String()),
          code: Type.Optional(Type.String()),
          reason: Type.Optional(Type.String()),
          supersededBy: Type.Optional(Type.String({ description: 'the later deployment that took this gateway over' })),
          updatedAt: Type.Integer(),
        },
        strict,
      ),
    ),
  },
  strict,
);

const VersionParams = Type.Object({ version: ReleaseVersionSchema }, strict);

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` within size; undefined when absent or unusable (the whole file then). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

export const releasesPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const { releases, deployments } = ctx;

  // Artifacts arrive as the raw request stream (no body limit: the signed manifest bounds the size).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.route({
    ...at('releases.list'),
    schema: { response: responses(Type.Object({ items: Type.Array(ReleaseViewSchema) }, strict)) },
    handler: async () => ({ items: await releases.list() }),
  });

  app.route({
    ...at('releases.create'),
    schema: { body: Type.Object({ manifest: Type.Unknown({ description: 'the signed manifest (swarmgate-<version>.manifest.json)' }) }, strict), response: responses(ReleaseViewSchema, 201) },
    handler: async (request, reply) => {
      const view = await releases.create(request.body.manifest);
      await audited(ctx, request, 'release.create', view.version, { sha256: view.sha256, keyId: view.manifest.signature.keyId });
      return reply.status(201).send(view);
    },
  });

  app.route({
    ...at('releases.upload'),
    schema: { params: VersionParams, response: responses(ReleaseViewSchema) },
    handler: async (request) => {
      const release = await releases.get(request.params.version);
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') throw new SwarmgateError('SWG_ERR_API_VALIDATION', 'send the artifact as the body with content-type application/octet-stream');
      const view = await releases.upload(release.version, body);
      await audited(ctx, request, 'release.upload', view.version, { size: view.size });
      return view;
    },
  });

  app.route({
    ...at('releases.download'),
    // Sent as stored (already gzip): the byte ranges are ranges of the artifact the manifest signs.
    compress: false,
    schema: { params: VersionParams },
    handler: async (request, reply) => {
      const release = await releases.get(request.params.version);
      const m = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
      if (!m?.[1] || !(await releases.mayDownload(release.version, m[1]))) {
        return reply.status(401).send(errorBody('SWG_ERR_AUTH_REQUIRED', `a download token of a deployment of ${release.version} is needed`));
      }
      if (release.state !== 'ready') throw new SwarmgateError('SWG_ERR_RELEASE_UNKNOWN', `release ${release.version} has no artifact yet`);
      const { file, size } = releases.readyArtifact(release.version);
      const range = parseRange(request.headers.range, size);
      void reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream').header('etag', `"${release.sha256}"`);
      if (range === 'unsatisfiable') return reply.status(416).header('content-range', `bytes */${size}`).send();
      if (range) {
        void reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', range.end - range.start + 1);
        return reply.send(createReadStream(file, { start: range.start, end: range.end }));
      }
      void reply.header('content-length', size);
      return reply.send(createReadStream(file));
    },
  });

  app.route({
    ...at('deployments.list'),
    schema: { querystring: Type.Object({ limit: Type.Optional(Limit(500, 50)) }, strict), response: responses(Type.Object({ items: Type.Array(DeploymentViewSchema) }, strict)) },
    handler: async (request) => ({ items: await deployments.list(request.query.limit) }),
  });

  app.route({
    ...at('deployments.create'),
    schema: {
      body: Type.Object(
        {
          version: ReleaseVersionSchema,
          target: TargetInputSchema,
          canary: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'gateways in the canary wave (default 1)' })),
          canaryPercent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'instead of canary: this share of the targets' })),
          maxFailures: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, description: 'failures (failed or rolled back) tolerated before the deployment halts; default 0' })),
          allowDowngrade: Type.Optional(Type.Boolean({ description: 'going back to an older release than a gateway runs, on purpose: gateways refuse one otherwise' })),
        },
        strict,
      ),
      response: responses(DeploymentViewSchema, 201),
    },
    handler: async (request, reply) => {
      const b = request.body;
      const view = await deployments.create({ ...b, target: checkTarget(b.target), user: who(request).name });
      await audited(ctx, request, 'deployment.create', view.id, { version: view.version, gateways: view.gateways.length, canary: view.canary, ...(view.allowDowngrade ? { allowDowngrade: true } : {}) });
      return reply.status(201).send(view);
    },
  });

  app.route({
    ...at('deployments.get'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(DeploymentViewSchema) },
    handler: async (request) => deployments.get(request.params.id),
  });

  app.route({
    ...at('deployments.cancel'),
    schema: { params: Type.Object({ id: IdParam }, strict), response: responses(DeploymentViewSchema) },
    handler: async (request) => {
      const view = await deployments.cancel(request.params.id, who(request).name);
      await audited(ctx, request, 'deployment.cancel', view.id, { version: view.version, cancelled: view.counts.cancelled ?? 0 });
      return view;
    },
  });
};
