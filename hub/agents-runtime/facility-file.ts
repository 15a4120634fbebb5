/** The facility model agents reason over, from a YAML file or a hub config section. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SwarmgateError, errorMessage } from '../../shared/errors.js';
import { FacilityIndex } from '../agents/facility.js';

export function loadFacilityModel(file: string): FacilityIndex {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read the facility model ${file}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_YAML', `${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return new FacilityIndex(raw);
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${file}: ${errorMessage(err)}`, { cause: err });
  }
}
