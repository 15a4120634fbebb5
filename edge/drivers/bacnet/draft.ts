/**
 * Draft files from a BACnet discovery: one device profile per controller found (points with the
 * object's name, units, description, commandable objects writable) and a gateway config draft with
 * one bacnet-ip device per controller using them, so `swarmgate edge check` validates the whole
 * discovery. Semantic tags are not this module's business: a caller that has a tag proposer passes
 * it in, and its tags are written on each point.
 */
import type { BacnetDiscoveredPoint, DiscoveredDevice } from './browse.js';

/** Proposes semantic (e.g. Project Haystack) tags for a discovered point; empty: none. */
export type TagProposer = (point: { readonly name: string; readonly unit?: string; readonly description?: string; readonly objectType: string; readonly writable: boolean }) => readonly string[];

export interface DraftOptions {
  /** File name stem: `<stem>-<instance>.yaml` per device. */
  readonly stem: string;
  /** The bind the gateway config draft uses (the one discovery used). */
  readonly bind: string;
  readonly proposeTags?: TagProposer;
}

export interface DraftFiles {
  readonly profiles: readonly { readonly file: string; readonly instance: number; readonly content: Record<string, unknown>; readonly points: number }[];
  readonly config: Record<string, unknown>;
}

/** object names as point names: lower case, [a-z0-9_], unique within the profile. */
function pointNames(points: readonly BacnetDiscoveredPoint[]): string[] {
  const used = new Set<string>();
  return points.map((p, i) => {
    const base = p.name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z]+/, '').replace(/_+$/, '').slice(0, 60) || `point_${i}`;
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}_${n}`;
    used.add(name);
    return name;
  });
}

export function profileDraft(device: DiscoveredDevice, profileName: string, proposeTags?: TagProposer): Record<string, unknown> {
  const names = pointNames(device.points);
  return {
    profile: profileName,
    protocol: 'bacnet',
    ...(device.vendorName ? { manufacturer: device.vendorName } : {}),
    ...(device.modelName ? { model: device.modelName } : {}),
    description: `Draft written by swarmgate edge discover on ${new Date().toISOString()} from BACnet device ${device.instance}${device.name ? ` "${device.name}"` : ''} at ${device.address}; review names, units and which points may be written`,
    points: device.points.map((p, i) => {
      const tags = proposeTags?.({ name: p.name, ...(p.unit ? { unit: p.unit } : {}), ...(p.description ? { description: p.description } : {}), objectType: p.address.objectType, writable: p.commandable }) ?? [];
      return {
        name: names[i],
        description: p.description ? `${p.name}: ${p.description}` : p.name,
        ...(p.unit ? { unit: p.unit } : {}),
        address: p.address,
        ...(p.commandable ? { writable: true } : {}),
        ...(tags.length > 0 ? { tags: [...tags] } : {}),
      };
    }),
  };
}

/** Devices without points (nothing readable, or no point objects) get no profile: a profile needs a point. */
export function discoveryDrafts(devices: readonly DiscoveredDevice[], options: DraftOptions): DraftFiles {
  const profiles = devices
    .filter((d) => d.points.length > 0)
    .map((d) => {
      const file = `${options.stem}-${d.instance}.yaml`;
      return { file, instance: d.instance, content: profileDraft(d, `${options.stem}-${d.instance}`, options.proposeTags), points: d.points.length };
    });
  const byInstance = new Map(devices.map((d) => [d.instance, d]));
  const config = {
    gateway: { id: 'gw-draft', site: 'site-draft', name: `Draft written by swarmgate edge discover on ${new Date().toISOString()}; set id and site, review the devices` },
    devices: profiles.map((p) => ({
      id: `bacnet-${p.instance}`,
      protocol: 'bacnet-ip',
      profile: p.file,
      connection: { bind: options.bind, deviceInstance: p.instance, deviceAddress: byInstance.get(p.instance)?.address },
    })),
  };
  return { profiles, config };
}
