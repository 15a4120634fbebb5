/**
 * YAML source files with positions, and schema validation whose every problem names the file,
 * line, column and field path, and says what was expected. Config, profile and rules files are
 * read only through readConfigFile: regular files under a size limit, never a device or a pipe.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isNode, isScalar, visit, type Document, type Node } from 'yaml';
import { SwarmgateError, errorMessage } from './errors.js';
import { escapeControl } from './terminal-text.js';
import { describeYamlErrors } from './yaml-syntax.js';
import { allowedText, describeValue, literalChoice } from './schema-text.js';
import { didYouMean } from './suggest.js';

/**
 * Largest config, profile or rules file read (1 MiB). The biggest shipped profile is a few KiB and
 * a gateway config with hundreds of devices stays well under this; anything larger is a mistake
 * (or /dev/zero) and would only cost the gateway memory.
 */
export const CONFIG_FILE_LIMIT_BYTES = 1024 * 1024;

/** Aliases expanded per document before it counts as an alias bomb (the yaml package's maxAliasCount). */
const MAX_ALIAS_COUNT = 100;

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path in dotted form, e.g. devices[0].connection.port */
  readonly path: string;
  readonly message: string;
}

/** One line per problem; quoted user input (file name, keys, values) has its control characters escaped. */
export function formatProblem(p: ConfigProblem): string {
  return escapeControl(`${p.file}:${p.line}:${p.column}: ${p.path || '(document)'}: ${p.message}`);
}

function describeSize(bytes: number): string {
  const units: [number, string][] = [
    [1024 * 1024, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) return `${bytes % size === 0 ? bytes / size : (bytes / size).toFixed(1)} ${unit}`;
  }
  return `${bytes} bytes`;
}

function describeKind(stats: Stats): string {
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isFIFO()) return 'named pipe';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSocket()) return 'socket';
  return 'not a file';
}

export interface ReadConfigFileOptions {
  /** Default CONFIG_FILE_LIMIT_BYTES. */
  readonly limitBytes?: number;
  /** Named in the too-large message: "… exceeds the 1 MiB limit for <what>". */
  readonly what?: string;
}

/**
 * Reads a config, profile or rules file as UTF-8 text. Opens it without blocking (a named pipe
 * with no writer would otherwise hang the open), checks on the open descriptor that it is a
 * regular file no larger than the limit, then reads from that same descriptor, so a file swapped
 * after the check is never read, and stops one byte past the limit should it grow meanwhile.
 * Throws SWG_ERR_CONFIG_NOT_FOUND when it cannot be opened, SWG_ERR_CONFIG_FILE_REFUSED with
 * "<file>: not a regular file (character device)" or "<file>: 5.2 MiB exceeds the 1 MiB limit for
 * config files".
 */
export function readConfigFile(file: string, options: ReadConfigFileOptions = {}): string {
  const limit = options.limitBytes ?? CONFIG_FILE_LIMIT_BYTES;
  const refused = (reason: string, cause?: unknown): SwarmgateError =>
    new SwarmgateError('SWG_ERR_CONFIG_FILE_REFUSED', `${file}: ${reason}`, { cause, details: { file, reason } });
  const unreadable = (reason: string, cause: unknown): SwarmgateError =>
    new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read ${file}: ${reason}`, { cause, details: { file, reason } });
  const tooLarge = (bytes: number): SwarmgateError => {
    const allowed = describeSize(limit);
    // "2.0 KiB exceeds the 2 KiB limit" reads like a bug: show the bytes when rounding hides the difference.
    const size = describeSize(bytes).replace('.0 ', ' ') === allowed ? `${bytes} bytes` : describeSize(bytes);
    return refused(`${size} exceeds the ${allowed} limit for ${options.what ?? 'config files'}`);
  };
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    // A Unix socket cannot be opened at all (ENXIO): say what it is.
    if (code === 'ENXIO') {
      let kind = 'special file';
      try {
        kind = describeKind(statSync(file));
      } catch {
        // keep the generic word
      }
      throw refused(`not a regular file (${kind})`, cause);
    }
    throw unreadable(fileErrorReason(cause), cause);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw refused(`not a regular file (${describeKind(stats)})`);
    if (stats.size > limit) throw tooLarge(stats.size);
    let buffer = Buffer.allocUnsafe(stats.size + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buffer, total, buffer.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > limit) throw tooLarge(total);
      if (total === buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit + 1, buffer.length * 2));
        buffer.copy(grown, 0, 0, total);
        buffer = grown;
      }
    }
    return buffer.toString('utf8', 0, total);
  } catch (err) {
    if (err instanceof SwarmgateError) throw err;
    throw unreadable(errorMessage(err), err);
  } finally {
    closeSync(fd);
  }
}

export class SourceFile {
  private constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Reads (readConfigFile) and parses a YAML file. Syntax errors come back as problems with their
   * position; a file that cannot be read or is refused throws SWG_ERR_CONFIG_*.
   */
  static read(file: string): { source?: SourceFile; problems: ConfigProblem[] } {
    return SourceFile.parse(file, readConfigFile(file));
  }

  static parse(file: string, text: string): { source?: SourceFile; problems: ConfigProblem[] } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      return { problems: describeYamlErrors(text, doc, lines).map((p) => ({ file, path: '', ...p })) };
    }
    // Building the value is where alias expansion happens: an alias bomb is a problem here, with
    // its position, rather than an exception from value() without file or line.
    try {
      doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const at = aliasBombAt(doc);
      const pos = at ? lines.linePos(at) : { line: 1, col: 1 };
      const unresolved = /Unresolved alias[^:]*: (.*)/.exec(errorMessage(err))?.[1];
      const message = unresolved !== undefined
        ? `YAML aliases: *${unresolved} refers to no anchor: define &${unresolved} on a value above it, or write the value out`
        : /alias/i.test(errorMessage(err))
        ? `YAML aliases: this alias expands to more than ${MAX_ALIAS_COUNT} nested copies (an "alias bomb"); write the values out instead of nesting aliases`
        : `YAML: ${errorMessage(err).split('\n')[0] ?? ''}`;
      return { problems: [{ file, line: pos.line, column: pos.col, path: '', message }] };
    }
    return { source: new SourceFile(file, doc, lines), problems: [] };
  }

  /** The document as plain data (a fresh copy each call). Parse has checked that it builds. */
  value(): unknown {
    return this.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  }

  /** Position of the node at a path, or of its nearest existing ancestor. */
  position(path: readonly (string | number)[]): { line: number; column: number } {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
      // A key whose value is null has no value node: point at the key itself.
      if (depth > 0) {
        const parent = this.doc.getIn(path.slice(0, depth - 1), true) as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined;
        const key = parent?.items?.find((item) => item.key?.value === path[depth - 1])?.key;
        if (key?.range) {
          const pos = this.lines.linePos(key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    return { line: 1, column: 1 };
  }

  problem(path: readonly (string | number)[], message: string): ConfigProblem {
    const { line, column } = this.position(path);
    return { file: this.file, line, column, path: dotted(path), message };
  }

  /** The text of the plain scalar at a path as it is written in the file (`1.10`, `0123`), if there is one. */
  written(path: readonly (string | number)[]): string | undefined {
    const node = this.doc.getIn(path, true);
    return isScalar(node) && typeof node.source === 'string' && node.source !== '' ? node.source : undefined;
  }
}

/**
 * Why readConfigFile did not read a file ("no such file", "not a regular file (named pipe)", "2.0 MiB
 * exceeds …"), for a problem that names the file itself; undefined for any other error.
 */
/** Why a file could not be opened or read, in words: "no such file", "permission denied", else the error's own message. */
export function fileErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
}

export function unreadableReason(err: unknown): string | undefined {
  if (!(err instanceof SwarmgateError) || (err.code !== 'SWG_ERR_CONFIG_FILE_REFUSED' && err.code !== 'SWG_ERR_CONFIG_NOT_FOUND')) return undefined;
  const reason = err.details.reason;
  return typeof reason === 'string' ? reason : undefined;
}

/**
 * Offset of the alias to blame for an alias bomb: the first alias whose anchored node holds
 * aliases itself (nesting is what multiplies), else the first alias.
 */
function aliasBombAt(doc: Document.Parsed): number | undefined {
  let first: number | undefined;
  let nested: number | undefined;
  visit(doc, {
    Alias(_key, alias) {
      const offset = alias.range?.[0];
      first ??= offset;
      const target: Node | undefined = alias.resolve(doc);
      let holdsAliases = false;
      if (target) {
        visit(target, {
          Alias() {
            holdsAliases = true;
            return visit.BREAK;
          },
        });
      }
      if (holdsAliases) {
        nested = offset;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return nested ?? first;
}

export function dotted(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** JSON pointer (`/devices/0/id`) to segments, numbers for array indices. */
export function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/**
 * Where text was expected and YAML read a number or a boolean (`version: 1.10` is 1.1, `id: 0123`
 * is 123, `name: true`), what was written and how to keep it text.
 */
function unquoted(source: SourceFile, path: readonly (string | number)[], error: ValueError): string {
  if (error.type !== ValueErrorType.String || (typeof error.value !== 'number' && typeof error.value !== 'boolean')) return '';
  const written = source.written(path);
  return written === undefined ? '' : ` (YAML reads ${written} as a ${typeof error.value}: write "${written}", in quotes, for the text)`;
}

/** `note`: said right after the value got. */
function explain(error: ValueError, note = ''): string {
  const schema = error.schema as TSchema & { description?: string; pattern?: string; enum?: unknown[]; anyOf?: TSchema[]; properties?: Record<string, TSchema> };
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const key = pointerSegments(error.path).at(-1);
    const known = schema.properties ? Object.keys(schema.properties) : [];
    const hint = typeof key === 'string' ? didYouMean(key, known) : '';
    return hint ? `unknown key${hint}` : 'unknown key (check spelling; unknown keys are not allowed)';
  }
  if (error.message.startsWith('Expected required property')) return 'required field is missing';
  // In a YAML file, a choice among literals as they are written there.
  const allowed = literalChoice(schema, true) ?? (error.message.startsWith('Expected union') ? allowedText(schema) : undefined);
  const parts = [allowed ? `expected ${allowed}` : error.message.replace(/^Expected/, 'expected'), `got ${describeValue(error.value)}${note}`];
  const hint = schema.description && !error.message.startsWith('Expected union') ? ` (${schema.description})` : '';
  return `${parts.join(', ')}${hint}`;
}

/**
 * Validates `value` (found at `basePath` in `source`) against a schema. One problem per field path:
 * TypeBox reports several errors for a union, only the first is useful.
 */
export function validateAt(source: SourceFile, schema: TSchema, value: unknown, basePath: readonly (string | number)[] = []): ConfigProblem[] {
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const error of Value.Errors(schema, value)) {
    const path = [...basePath, ...pointerSegments(error.path)];
    const key = dotted(path);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(source.problem(path, explain(error, unquoted(source, path, error))));
  }
  // In file order, as a user reads and fixes them.
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
