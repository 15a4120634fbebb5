/**
 * Serves the built review page (hub/web/dist, `npm run build`) from memory: index.html without
 * caching, hashed assets as immutable, gzip copies when the browser accepts them. Nothing comes
 * from a CDN; a strict Content-Security-Policy keeps it that way.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiPlugin } from '../context.js';
import { at } from '../context.js';
import { errorBody, responses } from '../errors.js';
import { packageRoot } from '../../../shared/kit/package-info.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset {
  readonly body: Buffer;
  readonly gz?: Buffer;
  readonly type: string;
}

/** hub/web/dist in the package (the same whether running from sources or compiled). */
export function defaultWebDir(): string {
  return join(packageRoot(), 'hub', 'web', 'dist');
}

function load(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const add = (name: string, file: string): void => {
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      return; // removed by a rebuild between listing and reading: the new index names other files
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    assets.set(name, { body, type, ...(body.length > 512 && !type.startsWith('image/png') ? { gz: gzipSync(body, { level: 9 }) } : {}) });
  };
  if (existsSync(join(dir, 'index.html'))) add('index.html', join(dir, 'index.html'));
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) for (const f of readdirSync(assetDir)) if (!f.endsWith('.tmp') && !f.endsWith('.map')) add(f, join(assetDir, f));
  return assets;
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset, cache: string): FastifyReply {
  void reply.header('content-type', asset.type).header('cache-control', cache).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('vary', 'accept-encoding');
  if (asset.gz && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(asset.gz);
  return reply.send(asset.body);
}

export const webPlugin: ApiPlugin = async (app) => {
  const ctx = app.hub;
  const assets = load(ctx.webDir);
  if (!assets.has('index.html')) ctx.log.warn({ dir: ctx.webDir }, 'review page not built (npm run build): / answers 404');

  app.route({
    ...at('web.page'),
    schema: { produces: ['text/html'], response: responses(Type.String({ description: 'the page' })) },
    handler: async (request, reply) => {
      const page = assets.get('index.html');
      if (!page) return reply.status(404).send(errorBody('SWG_ERR_API_NOT_FOUND', `the review page is not built in ${ctx.webDir}; run npm run build`));
      return send(request, reply, page, 'no-cache');
    },
  });

  app.route({
    ...at('web.asset'),
    schema: { params: Type.Object({ file: Type.String({ pattern: '^[A-Za-z0-9._-]+$' }) }, { additionalProperties: false }), response: responses(Type.String()) },
    handler: async (request, reply) => {
      const asset = assets.get(request.params.file);
      if (!asset || request.params.file === 'index.html') return reply.status(404).send(errorBody('SWG_ERR_API_NOT_FOUND', `no asset "${request.params.file}"`));
      return send(request, reply, asset, 'public, max-age=31536000, immutable');
    },
  });
};
