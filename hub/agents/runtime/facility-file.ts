/** The facility model agents reason over, from a YAML file or a hub config section. */
import { readConfigFile, unreadableReason } from '../../../shared/kit/config-file.js';
import { parse } from 'yaml';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import { FacilityIndex } from '../facility.js';

export function loadFacilityModel(file: string): FacilityIndex {
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (cause) {
    if (isSwarmgateError(cause, 'SWG_ERR_CONFIG_FILE_REFUSED')) throw cause;
    throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `cannot read the facility model ${file}: ${unreadableReason(cause) ?? errorMessage(cause)}`, { cause });
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
