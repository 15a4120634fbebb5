/**
 * A new gateway's first config, from its site's template (`<templatesDir>/<site>.yaml`, else
 * `default.yaml`): the template's devices, polling and federation options, with the gateway's
 * identity and broker connection filled in. Comments in the template are kept. Secrets are never
 * part of it: the gateway adds the paths of the files it writes them to.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { SwarmgateError } from '../../shared/kit/errors.js';

export interface TemplateInput {
  readonly templatesDir: string;
  readonly site: string;
  readonly gateway: string;
  readonly brokerUrl: string;
  readonly username: string;
}

export function templateFileFor(templatesDir: string, site: string): string {
  const own = join(templatesDir, `${site}.yaml`);
  if (existsSync(own)) return own;
  const fallback = join(templatesDir, 'default.yaml');
  if (existsSync(fallback)) return fallback;
  throw new SwarmgateError('SWG_ERR_ENROLL_TEMPLATE', `no site template for site "${site}": neither ${own} nor ${fallback} exists`);
}

export function renderGatewayConfig(input: TemplateInput): string {
  const file = templateFileFor(input.templatesDir, input.site);
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const first = doc.errors[0];
  if (first) throw new SwarmgateError('SWG_ERR_ENROLL_TEMPLATE', `${file}:${first.linePos?.[0]?.line ?? 1}: ${first.message}`);
  if (!isMap(doc.contents)) throw new SwarmgateError('SWG_ERR_ENROLL_TEMPLATE', `${file}: expected a mapping (a gateway config), found ${doc.contents === null ? 'an empty file' : 'something else'}`);
  doc.setIn(['gateway', 'id'], input.gateway);
  doc.setIn(['gateway', 'site'], input.site);
  doc.setIn(['federation', 'mqtt', 'url'], input.brokerUrl);
  doc.setIn(['federation', 'mqtt', 'username'], input.username);
  for (const secret of ['password', 'passwordFile']) doc.deleteIn(['federation', 'mqtt', secret]);
  doc.commentBefore = ` Written by enrollment from ${file.split('/').pop() ?? file} for ${input.gateway} (site ${input.site}).\n${doc.commentBefore ?? ''}`;
  return doc.toString();
}
