export { opcuaManifest, validateOpcuaDevice, nodeIdProblem } from './manifest.js';
export { OpcuaDriver } from './driver.js';
export { LazyOpcuaDriver } from './lazy-driver.js';
export { CONNECTION_LOST_CAUSE, SUBSCRIPTION_SILENT_CAUSE } from './keeper.js';
export {
  OpcuaAddressSchema,
  OpcuaConnectionSchema,
  resolveConnection,
  type OpcuaAddress,
  type OpcuaConnection,
  type ResolvedOpcuaConnection,
} from './settings.js';
