/**
 * The one place protocols are looked up. A registry is a map protocol -> manifest; registering a
 * protocol twice is a programming error and throws.
 */
import type { TSchema } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { DriverManifest } from './driver.js';

export type AnyDriverManifest = DriverManifest<TSchema, TSchema>;

export class DriverRegistry {
  private readonly manifests = new Map<string, AnyDriverManifest>();

  constructor(manifests: readonly AnyDriverManifest[] = []) {
    for (const manifest of manifests) this.register(manifest);
  }

  register(manifest: AnyDriverManifest): void {
    if (this.manifests.has(manifest.protocol)) {
      throw new SwarmgateError('SWG_ERR_DRIVER_DUPLICATE', `protocol "${manifest.protocol}" is registered twice`);
    }
    this.manifests.set(manifest.protocol, manifest);
  }

  get(protocol: string): AnyDriverManifest {
    const manifest = this.manifests.get(protocol);
    if (!manifest) {
      throw new SwarmgateError('SWG_ERR_DRIVER_UNKNOWN', `unknown protocol "${protocol}"; known: ${this.protocols().join(', ')}`);
    }
    return manifest;
  }

  has(protocol: string): boolean {
    return this.manifests.has(protocol);
  }

  protocols(): string[] {
    return [...this.manifests.keys()].sort();
  }
}
