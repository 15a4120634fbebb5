/**
 * The file and folder paths of the hub config and the one rule they resolve by. Every path field
 * of the config schema is made with InputPath or StatePath, and resolveConfigPaths resolves each
 * one of a parsed config by its kind:
 *
 * - input: a file or folder the admin gives the hub to read (TLS certificates and keys, the broker
 *   credentials file, the facility model, site templates, the fleet's release key): relative to
 *   the folder of the config file, as it stands in /etc/swarmgate, whoever reads the config.
 * - state: what the hub writes (the SQLite store, a PostgreSQL hub's ingest journal, release
 *   artifacts): relative, in the service state directory when there is one ($STATE_DIRECTORY under
 *   systemd; from a shell, /var/lib/swarmgate-hub when only it holds the data), else next to the
 *   config file: resolveDataPath (shared/kit/state-dir.ts).
 *
 * A new path field is one InputPath or StatePath in the schema, nothing more.
 */
import { Kind, Type, type StringOptions, type TSchema, type TString } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { dirname, resolve } from 'node:path';
import { holdsData, resolveDataPath } from '../shared/kit/state-dir.js';

/** The state directory the shipped hub units give the hub (StateDirectory=swarmgate-hub, deploy/systemd). */
export const HUB_STATE_DIRECTORY = '/var/lib/swarmgate-hub';

export type PathKind = 'input' | 'state';

/** The schema keyword that marks a path field with its kind. */
const PATH_KIND = 'x-swarmgate-path';
/** Values of a state path that name no file and are kept as given (SQLite's ':memory:'). */
const PATH_KEEP = 'x-swarmgate-path-keep';

type PathOptions = StringOptions & { readonly description: string };

/** A file or folder the hub reads, relative to the config file. */
export function InputPath(options: PathOptions): TString {
  return Type.String({ ...options, description: `${options.description}. Relative: to the folder of this file`, [PATH_KIND]: 'input' });
}

/** A file or folder the hub writes: relative, in the service state directory (see the module comment). */
export function StatePath(options: PathOptions & { readonly keep?: readonly string[] }): TString {
  const { keep, ...rest } = options;
  return Type.String({
    ...rest,
    description: `${options.description}. Relative: in the hub's state directory ($STATE_DIRECTORY under systemd, /var/lib/swarmgate-hub for the shipped units) unless it holds data next to this file already, else next to this file`,
    [PATH_KIND]: 'state',
    ...(keep ? { [PATH_KEEP]: keep } : {}),
  });
}

/** One path of a config, resolved: its field (`releases.dir`), its kind and the path it resolved to. */
export interface ConfigPath {
  readonly field: string;
  readonly kind: PathKind;
  readonly path: string;
}

export interface ResolveOptions {
  /** The environment whose $STATE_DIRECTORY counts (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** The state directory of the installed service, used from a shell (default HUB_STATE_DIRECTORY). */
  readonly installed?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Resolves, in place, every path field `schema` marks in `value` (a config checked against it,
 * read from `file`); returns the paths it resolved. A union resolves by the variant the value
 * matches (the store by its kind).
 */
export function resolveConfigPaths(schema: TSchema, value: unknown, file: string, options: ResolveOptions = {}): ConfigPath[] {
  const env = options.env ?? process.env;
  const installed = options.installed ?? HUB_STATE_DIRECTORY;
  const resolved: ConfigPath[] = [];
  const walk = (s: TSchema, v: unknown, field: readonly string[]): unknown => {
    const kind = s[PATH_KIND] as PathKind | undefined;
    if (kind !== undefined) {
      if (typeof v !== 'string' || (s[PATH_KEEP] as readonly string[] | undefined)?.includes(v)) return v;
      const path = kind === 'input' ? resolve(dirname(file), v) : resolveDataPath(file, v, env, holdsData, installed);
      resolved.push({ field: field.join('.'), kind, path });
      return path;
    }
    if (s[Kind] === 'Object' && isRecord(v)) {
      for (const [key, property] of Object.entries(s.properties as Record<string, TSchema>)) if (v[key] !== undefined) v[key] = walk(property, v[key], [...field, key]);
    } else if (s[Kind] === 'Union') {
      const variant = (s.anyOf as TSchema[]).find((option) => Value.Check(option, v));
      if (variant) return walk(variant, v, field);
    } else if (s[Kind] === 'Array' && Array.isArray(v)) {
      v.forEach((item, i) => (v[i] = walk(s.items as TSchema, item, [...field, String(i)])));
    }
    return v;
  };
  walk(schema, value, []);
  return resolved;
}

/** The path fields `schema` declares, with their kind (a field in an array reads `rollups.*.x`). */
export function configPathFields(schema: TSchema, field: readonly string[] = []): { readonly field: string; readonly kind: PathKind }[] {
  const kind = schema[PATH_KIND] as PathKind | undefined;
  if (kind !== undefined) return [{ field: field.join('.'), kind }];
  if (schema[Kind] === 'Object') return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([key, property]) => configPathFields(property, [...field, key]));
  if (schema[Kind] === 'Union') return (schema.anyOf as TSchema[]).flatMap((variant) => configPathFields(variant, field));
  if (schema[Kind] === 'Array') return configPathFields(schema.items as TSchema, [...field, '*']);
  return [];
}

/** What to do about a state path (`field`, resolved to `path`) in a folder the hub cannot write: the one wording of the rule above. */
export function statePathHint(field: string, path: string): string {
  return (
    `${field} ${path} must be in a folder this user may create and write. Under systemd the hub resolves a relative ${field} in its state directory ` +
    `(StateDirectory=, $STATE_DIRECTORY: ${HUB_STATE_DIRECTORY} for the shipped units; /etc is read-only to it), unless it holds data next to the config file already: ` +
    `leave ${field} relative (moving what it holds next to the config file into the state directory), or give an absolute path there`
  );
}
