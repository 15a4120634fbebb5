import { SwarmgateError } from '../shared/kit/errors.js';

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
