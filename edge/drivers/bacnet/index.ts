export { bacnetManifest, validateBacnetDevice } from './manifest.js';
export { BacnetDriver } from './driver.js';
export { LazyBacnetDriver } from './lazy-driver.js';
export { browseNetwork, type BacnetDiscoveredPoint, type DiscoveredDevice } from './browse.js';
export { discoveryDrafts, profileDraft, type DraftFiles, type TagProposer } from './draft.js';
export {
  BacnetAddressSchema,
  BacnetConnectionSchema,
  DEFAULT_WRITE_PRIORITY,
  resolveAddress,
  resolveConnection,
  type BacnetAddress,
  type BacnetConnection,
} from './settings.js';
