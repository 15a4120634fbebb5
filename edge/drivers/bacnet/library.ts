/**
 * @bacnet-js/client for the modules every gateway imports (the manifest: settings schemas,
 * validation, value types), loaded on first use rather than at import: a gateway without BACnet
 * devices never loads it. The driver's own modules (driver.ts and what it imports) import the
 * library as usual; the manifest reaches them only through a dynamic import (lazy-driver.ts).
 */
import { createRequire } from 'node:module';

export type BacnetLibrary = typeof import('@bacnet-js/client');

let library: BacnetLibrary | undefined;

/** The library's exports (its enums, among others); required once, on the first call. */
export function bacnetLibrary(): BacnetLibrary {
  library ??= createRequire(import.meta.url)('@bacnet-js/client') as BacnetLibrary;
  return library;
}
