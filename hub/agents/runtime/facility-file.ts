/**
 * The facility model agents reason over, from a YAML file. Read like the gateway and hub configs
 * (SourceFile + validateAt): every problem at once, each naming file, line, column and field, in
 * words (the choices a field takes, not TypeBox's "Expected union value" or a regular expression).
 */
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { SourceFile, dotted, formatProblem, pointerSegments, unreadableReason, validateAt, type ConfigProblem } from '../../../shared/kit/config-file.js';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import { describeValue } from '../../../shared/kit/schema-text.js';
import { FACILITY_PATTERN_WORDS, FacilityIndex, FacilityModelSchema, facilityProblems, type FacilityModel } from '../facility.js';

export function loadFacilityModel(file: string): FacilityIndex {
  let parsed: ReturnType<typeof SourceFile.read>;
  try {
    parsed = SourceFile.read(file);
  } catch (cause) {
    if (isSwarmgateError(cause, 'SWG_ERR_CONFIG_FILE_REFUSED')) throw cause;
    throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read the facility model ${file}: ${unreadableReason(cause) ?? errorMessage(cause)}`, { cause });
  }
  const source = parsed.source;
  if (!source) throw invalid('SWG_ERR_CONFIG_YAML', file, parsed.problems);
  const model: unknown = Value.Default(FacilityModelSchema, structuredClone(source.value() ?? {}));
  const schemaProblems = inWords(validateAt(source, FacilityModelSchema, model), model);
  if (schemaProblems.length > 0) throw invalid('SWG_ERR_CONFIG_INVALID', file, schemaProblems);
  const valid = model as FacilityModel;
  const problems = facilityProblems(valid).map((p) => {
    const first = p.firstAt ? ` (first at line ${source.position(p.firstAt).line}, ${dotted(p.firstAt)})` : '';
    return source.problem(p.path, `${p.message}${first}`);
  });
  if (problems.length > 0) throw invalid('SWG_ERR_CONFIG_INVALID', file, problems);
  return new FacilityIndex(valid);
}

/** "3 problem(s) in facility.yaml:" and one line each, as the hub config says it. */
function invalid(code: 'SWG_ERR_CONFIG_YAML' | 'SWG_ERR_CONFIG_INVALID', file: string, problems: readonly ConfigProblem[]): SwarmgateError {
  const messages = problems.map(formatProblem);
  return new SwarmgateError(code, `facility model is invalid: ${problems.length} problem(s) in ${file}:\n${messages.join('\n')}`, { details: { problems: messages } });
}

/** A field that fails its pattern, in words ("expected a local time HH:MM ..."), not as the regular expression. */
function inWords(problems: readonly ConfigProblem[], model: unknown): ConfigProblem[] {
  const words = new Map<string, string>();
  for (const error of Value.Errors(FacilityModelSchema, model)) {
    if (error.type !== ValueErrorType.StringPattern) continue;
    const allowed = FACILITY_PATTERN_WORDS.get((error.schema as { pattern?: string }).pattern ?? '');
    const path = dotted(pointerSegments(error.path));
    if (allowed !== undefined && !words.has(path)) words.set(path, `expected ${allowed}, got ${describeValue(error.value)}`);
  }
  return problems.map((p) => {
    const message = words.get(p.path);
    return message === undefined || !p.message.startsWith('expected string to match') ? p : { ...p, message };
  });
}
