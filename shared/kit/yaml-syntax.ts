/**
 * YAML syntax errors in words a technician acts on. The yaml package reports where its parser gave
 * up (often the line after the mistake, or the end of the file) in parser terms ("Flow sequence in
 * block collection must be sufficiently indented"); this module finds the token to blame (the
 * unclosed bracket or quote, the key without a space after its ':', the line indented off its
 * siblings) and says what to do there. One mistake gives one problem.
 */
import { CST, LineCounter, Parser, isMap, isScalar, visit, type Document, type YAMLError } from 'yaml';

export interface SyntaxProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

interface Context {
  readonly text: string;
  readonly lines: LineCounter;
  readonly doc: Document.Parsed;
  /** Lines of the text without their line breaks. */
  readonly textLines: readonly string[];
  readonly tokens: () => readonly CST.Token[];
}

/** A position (1-based) and its message. */
type Described = SyntaxProblem & { readonly code: string };

const PREFIX = 'YAML syntax: ';

/**
 * Problems for the errors of a parsed document, in file order, at most one per line the library
 * complained about (one mistake often trips several of its checks on the same line).
 */
export function describeYamlErrors(text: string, doc: Document.Parsed, lines: LineCounter): SyntaxProblem[] {
  let tokens: CST.Token[] | undefined;
  const ctx: Context = { text, lines, doc, textLines: text.split(/\r?\n|\r/), tokens: () => (tokens ??= [...new Parser().parse(text)]) };
  const byLine = new Map<number, Described>();
  const blamed = new Set<number>();
  for (const error of doc.errors) {
    const at = lines.linePos(error.pos[0]);
    const previous = byLine.get(at.line);
    if (previous && rank(previous.code) <= rank(error.code)) continue;
    byLine.set(at.line, { code: error.code, ...describe(error, ctx, blamed) });
  }
  // An unclosed bracket or quote swallows what follows: the parser's complaints further down are
  // its echo, not mistakes of their own, so the problem list stops at it.
  const swallowing = [...byLine.values()].filter((p) => p.message.startsWith('unclosed ')).sort((a, b) => a.line - b.line || a.column - b.column)[0];
  const seen = new Set<string>();
  return [...byLine.values()]
    .filter((p) => !swallowing || p === swallowing || p.line < swallowing.line || (p.line === swallowing.line && p.column < swallowing.column))
    .map(({ line, column, message }) => ({ line, column, message: PREFIX + message }))
    .filter((p) => {
      const key = `${p.line}:${p.column}:${p.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Which of several errors on one line to explain: the one nearest the cause. */
function rank(code: string): number {
  const order = ['MULTIPLE_DOCS', 'TAB_AS_INDENT', 'MISSING_CHAR', 'DUPLICATE_KEY', 'BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY'];
  const i = order.indexOf(code);
  return i < 0 ? order.length : i;
}

function describe(error: YAMLError, ctx: Context, blamed: Set<number>): SyntaxProblem {
  const offset = error.pos[0];
  const pos = ctx.lines.linePos(offset);
  const here = (message: string, at: { line: number; col: number } = pos): SyntaxProblem => ({ line: at.line, column: at.col, message });
  const firstLine = error.message.split('\n')[0] ?? error.message;
  switch (error.code) {
    case 'MULTIPLE_DOCS': {
      const count = ctx.tokens().filter((t) => t.type === 'document').length;
      return here(`this file holds ${count} YAML documents; a config or profile is one document (the second starts at line ${pos.line}): split it into one file per document`);
    }
    case 'TAB_AS_INDENT': {
      const tab = (ctx.textLines[pos.line - 1] ?? '').indexOf('\t');
      return here('tab used for indentation: YAML indents with spaces only; replace the tab with spaces', { line: pos.line, col: tab >= 0 ? tab + 1 : pos.col });
    }
    case 'MISSING_CHAR': {
      const quote = /closing (["'])/.exec(firstLine)?.[1];
      if (quote) {
        const open = openQuote(ctx, offset);
        const at = open === undefined ? pos : ctx.lines.linePos(open);
        return here(`unclosed quote ${quote} opened at line ${at.line} column ${at.col}: add the closing ${quote} at the end of the value`, at);
      }
      if (/followed by map values/.test(firstLine)) return missingColon(ctx, pos) ?? here(`"${excerpt(ctx, error)}" has no ':' after it: write "key: value"`);
      return here(`${firstLine.replace(/^Missing/, 'missing')}`);
    }
    case 'BAD_INDENT': {
      const flow = /^Flow (sequence|map)/.exec(firstLine);
      if (flow) {
        const [opening, closing] = flow[1] === 'sequence' ? ['[', ']'] : ['{', '}'];
        const open = unclosedFlow(ctx, offset, opening, blamed);
        if (open !== undefined) {
          const at = ctx.lines.linePos(open);
          return here(`unclosed '${opening}' opened at line ${at.line} column ${at.col}: add the closing '${closing}'`, at);
        }
        return here(`the '${opening} … ${closing}' value continues on a line indented no deeper than its key: indent its continuation lines further, or keep it on one line`);
      }
      return badColumn(ctx, pos, /sequence/.test(firstLine) ? 'list item' : 'key');
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return implicitKey(error, ctx, pos);
    case 'DUPLICATE_KEY': {
      const first = firstOccurrence(ctx.doc, offset);
      const name = first?.name ?? excerpt(ctx, error);
      const where = first ? ` (first at line ${ctx.lines.linePos(first.offset).line} column ${ctx.lines.linePos(first.offset).col})` : '';
      return here(`duplicate key "${name}"${where}: a key may appear once in a mapping; remove one or merge them`);
    }
    case 'UNEXPECTED_TOKEN': {
      const stray = /: "([\]}])"$/.exec(firstLine)?.[1];
      if (stray) return here(`'${stray}' closes nothing: remove it, or add the '${stray === ']' ? '[' : '{'}' it should close`);
      return here(`unexpected "${excerpt(ctx, error)}" here: the value before it has already ended; check the line's indentation, quotes and brackets`);
    }
    case 'BLOCK_IN_FLOW':
      return here(`inside '[ ]' or '{ }' items are separated by ',' ("{ a: 1, b: 2 }"): add the missing ','`);
    case 'BAD_SCALAR_START': {
      const char = /character (.)/.exec(firstLine)?.[1] ?? excerpt(ctx, error).charAt(0);
      return here(`a value cannot start with ${char} unquoted: put the value in quotes`);
    }
    case 'BAD_DQ_ESCAPE':
      return here(`invalid escape "${/sequence (\S+)/.exec(firstLine)?.[1] ?? excerpt(ctx, error)}" in a double-quoted value: write a backslash as \\\\, or use single quotes`);
    default:
      return here(firstLine);
  }
}

/** The source text of an error's range, on one line, at most 40 characters. */
function excerpt(ctx: Context, error: YAMLError): string {
  const text = ctx.text.slice(error.pos[0], Math.max(error.pos[1], error.pos[0] + 1)).split(/\r?\n/)[0] ?? '';
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function forEachToken(ctx: Context, fn: (token: CST.Token) => void): void {
  for (const token of ctx.tokens()) {
    if (token.type === 'document' && token.value) visitToken(token.value, fn);
  }
}

function visitToken(token: CST.Token, fn: (token: CST.Token) => void): void {
  fn(token);
  if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
    for (const item of token.items) {
      if (item.key) visitToken(item.key, fn);
      if (item.value) visitToken(item.value, fn);
    }
  }
}

/** Offset of the opening quote of the quoted value an unclosed-quote error points into. */
function openQuote(ctx: Context, offset: number): number | undefined {
  let found: number | undefined;
  forEachToken(ctx, (t) => {
    if ((t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') && t.offset <= offset && offset <= t.offset + t.source.length) found = t.offset;
  });
  return found;
}

/** Offset of the innermost unclosed '[' or '{' before an error, each blamed once. */
function unclosedFlow(ctx: Context, offset: number, opening: string, blamed: Set<number>): number | undefined {
  let found: number | undefined;
  forEachToken(ctx, (t) => {
    if (t.type !== 'flow-collection' || t.start.source !== opening || t.offset > offset || blamed.has(t.offset)) return;
    const closed = t.end.some((e) => e.type === 'flow-seq-end' || e.type === 'flow-map-end');
    if (!closed && (found === undefined || t.offset > found)) found = t.offset;
  });
  if (found !== undefined) blamed.add(found);
  return found;
}

const indentOf = (line: string): number => line.length - line.trimStart().length;
const isContent = (line: string): boolean => line.trim() !== '' && !line.trimStart().startsWith('#');

/** "bad indentation" for a line whose key or item lines up with none of the blocks above it. */
function badColumn(ctx: Context, pos: { line: number; col: number }, what: 'key' | 'list item'): SyntaxProblem {
  const text = ctx.textLines[pos.line - 1] ?? '';
  const column = indentOf(text) + 1;
  // The columns the lines above open: each line, and the content after a "- ".
  const columns = new Set<number>();
  let limit = Infinity;
  for (let i = pos.line - 2; i >= 0 && limit > 0; i--) {
    const above = ctx.textLines[i] ?? '';
    if (!isContent(above)) continue;
    const indent = indentOf(above);
    if (indent >= limit) continue;
    columns.add(indent + 1);
    const dash = /^(\s*)-\s+/.exec(above);
    if (dash) columns.add(dash[0].length + 1);
    limit = indent;
  }
  const list = [...columns].sort((a, b) => a - b).join(', ');
  return {
    line: pos.line,
    column,
    message: `bad indentation: this ${what} starts at column ${column}, which lines up with none of the blocks above it (columns ${list}); indent it with as many spaces as the ${what}s it belongs with`,
  };
}

/**
 * The parser's "implicit key" errors have three usual causes: "key:value" without the space, a
 * line indented deeper than the key above it (it joins that key's value), and "a: b: c".
 */
function implicitKey(error: YAMLError, ctx: Context, pos: { line: number; col: number }): SyntaxProblem {
  const lineText = ctx.textLines[pos.line - 1] ?? '';
  const noSpace = /^(\s*(?:-\s+)?)([A-Za-z_][\w.-]*):([^\s:/][^\s#]*)/.exec(lineText);
  if (noSpace) {
    const [, lead = '', key = '', value = ''] = noSpace;
    return {
      line: pos.line,
      column: lead.length + key.length + 1,
      message: `missing space after ':' in "${key}:${value}": write "${key}: ${value}" (a key's ':' is followed by a space)`,
    };
  }
  const noColon = missingColon(ctx, pos);
  if (noColon) return noColon;
  const keyHere = /^\s*(?:-\s+)?([^:#]+?):(\s|$)/.exec(lineText);
  for (let i = pos.line; i < ctx.textLines.length; i++) {
    const next = ctx.textLines[i] ?? '';
    if (!isContent(next)) continue;
    const keyColumn = keyHere ? lineText.indexOf(keyHere[1] ?? '') + 1 : indentOf(lineText) + 1;
    if (indentOf(next) + 1 > keyColumn) {
      const key = keyHere?.[1] ?? lineText.trim();
      return {
        line: i + 1,
        column: indentOf(next) + 1,
        message: `bad indentation: line ${i + 1} is indented deeper than "${key}" on line ${pos.line}, so it is read as part of that value; line it up with "${key}" at column ${keyColumn}`,
      };
    }
    break;
  }
  if (error.code === 'BLOCK_AS_IMPLICIT_KEY') {
    return { line: pos.line, column: pos.col, message: `a value on the same line as its key cannot hold another "key: value": quote the value, or put the nested key on its own indented line` };
  }
  return { line: pos.line, column: pos.col, message: `a key must fit on one line and be followed by ': ': check the ':' and the indentation here` };
}

/** A line among keys that is no "key: value": a bare word, or a list item where a key belongs. */
function missingColon(ctx: Context, pos: { line: number; col: number }): SyntaxProblem | undefined {
  const lineText = ctx.textLines[pos.line - 1] ?? '';
  const column = indentOf(lineText) + 1;
  if (/^\s*-(\s|$)/.test(lineText)) {
    return { line: pos.line, column, message: `a list item ("- ") where a key was expected: put the list under its key ("key:" on the line above, the items indented below it)` };
  }
  const word = lineText.trim();
  if (word !== '' && !/:(\s|$)/.test(word) && !/^["'[{]/.test(word)) {
    return { line: pos.line, column, message: `"${word.length > 40 ? `${word.slice(0, 40)}…` : word}" has no ':': write it as "key: value"` };
  }
  return undefined;
}

/** The key a duplicate-key error points at, and where that key first appears in its mapping. */
function firstOccurrence(doc: Document.Parsed, offset: number): { name: string; offset: number } | undefined {
  let result: { name: string; offset: number } | undefined;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return undefined;
      const dup = map.items.find((pair) => isScalar(pair.key) && pair.key.range?.[0] === offset);
      if (!dup || !isScalar(dup.key)) return undefined;
      const value = dup.key.value;
      const first = map.items.find((pair) => isScalar(pair.key) && pair.key.value === value);
      const start = isScalar(first?.key) ? first.key.range?.[0] : undefined;
      if (start !== undefined) result = { name: String(value), offset: start };
      return visit.BREAK;
    },
  });
  return result;
}
