import { SwarmgateError } from '../shared/kit/errors.js';
import { escapeControl } from '../shared/kit/terminal-text.js';

/** A wrong or missing option: the hint names the command's own help, not another command's. */
export function usageError(command: string, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_CLI_USAGE', message, { hint: `\`swarmgate ${command} --help\` lists its options` });
}

/** node:util parseArgs throws TypeErrors with these codes for unknown options and missing values. */
export function isParseArgsError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof TypeError)) return false;
  const code: unknown = (err as TypeError & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

export interface NumberOptionRange {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only (default true): counts, limits, ids, ports. */
  readonly integer?: boolean;
  /** `min` itself is refused (a share "> 0"). */
  readonly aboveMin?: boolean;
}

/**
 * A numeric option or argument of `command` (`what`: "--limit", "quarantine show ID"), or a usage
 * error naming it, the range it takes and the text that came. Number() alone turns "high" into NaN,
 * which a store compares as NULL ("no items") or refuses with a raw "datatype mismatch".
 */
export function numberOption(command: string, what: string, text: string, range: NumberOptionRange): number {
  const integer = range.integer ?? true;
  const n = Number(text);
  const shape = integer ? /^[0-9]+$/ : /^[0-9]+(\.[0-9]+)?$/;
  const low = range.aboveMin === true ? n <= range.min : n < range.min;
  if (!shape.test(text) || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n)) || low || n > range.max) {
    const kind = integer ? 'a whole number' : 'a number';
    const span = range.aboveMin === true ? `above ${range.min} and at most ${range.max}` : `from ${range.min} to ${range.max}`;
    throw usageError(command, `${what} must be ${kind} ${span}, got "${escapeControl(text)}"`);
  }
  return n;
}
