/**
 * YAML source files with positions, and schema validation whose every problem names the file,
 * line, column and field path, and says what was expected.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { SwarmgateError } from './errors.js';

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path in dotted form, e.g. devices[0].connection.port */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path || '(document)'}: ${p.message}`;
}

export class SourceFile {
  private constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** Reads and parses a YAML file. Syntax errors come back as problems with their position. */
  static read(file: string): { source?: SourceFile; problems: ConfigProblem[] } {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read ${file}`, { cause });
    }
    return SourceFile.parse(file, text);
  }

  static parse(file: string, text: string): { source?: SourceFile; problems: ConfigProblem[] } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const problems = doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0] ?? e.message}` };
      });
      return { problems };
    }
    return { source: new SourceFile(file, doc, lines), problems: [] };
  }

  value(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
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

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping';
  return String(value);
}

function explain(error: ValueError): string {
  const schema = error.schema as TSchema & { description?: string; pattern?: string; enum?: unknown[]; anyOf?: TSchema[] };
  if (error.message.startsWith('Unexpected property')) return 'unknown key (check spelling; unknown keys are not allowed)';
  if (error.message.startsWith('Expected required property')) return 'required field is missing';
  const parts = [error.message.replace(/^Expected/, 'expected'), `got ${describeValue(error.value)}`];
  if (schema.anyOf && schema.anyOf.every((s) => 'const' in s)) {
    parts[0] = `expected one of ${schema.anyOf.map((s) => JSON.stringify((s as unknown as { const: unknown }).const)).join(', ')}`;
  }
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
    problems.push(source.problem(path, explain(error)));
  }
  // In file order, as a user reads and fixes them.
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
