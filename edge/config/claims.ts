/**
 * Conflicts between what the devices of one config claim (DeviceClaim, declared by each driver
 * manifest): a serial port used with different line settings, a unit id twice on one bus, a GPIO
 * line claimed by two points, a UDP port bound on a wildcard address and on another address. Each conflict is reported at the later claim, naming the earlier
 * one's file and line, so both places are in the one problem line.
 */
import { dirname, relative } from 'node:path';
import type { ConfigProblem } from '../../shared/kit/config-file.js';
import type { DeviceClaim } from '../drivers/driver.js';

/** A position in a config or profile file, without a message yet. */
export type Place = Omit<ConfigProblem, 'message'>;

export interface LocatedClaim {
  readonly device: string;
  readonly claim: DeviceClaim;
  /** Where a path inside the device entry is: `/points/...` in its profile, the rest in the config. */
  locate(path: string): Place;
}

/** `line 24` in the same file, else the other file (relative to this one's folder) and line. */
function placeText(place: Place, from: Place): string {
  return place.file === from.file ? `line ${place.line}` : `${relative(dirname(from.file), place.file)}:${place.line}`;
}

function shared(earlier: LocatedClaim, later: LocatedClaim): ConfigProblem | undefined {
  const mine = later.claim.settings ?? {};
  const theirs = earlier.claim.settings ?? {};
  const differing = Object.keys({ ...theirs, ...mine }).filter((k) => mine[k] !== theirs[k]);
  const first = differing[0];
  if (first === undefined) return undefined;
  const at = later.locate(`/connection/${first}`);
  const text = (values: Readonly<Record<string, string | number>>): string => differing.map((k) => `${k} ${values[k] ?? '(unset)'}`).join(', ');
  const there = placeText(earlier.locate(`/connection/${first}`), at);
  return { ...at, message: `${later.claim.label} is also used by device "${earlier.device}" (${there}) with ${text(theirs)}; this device has ${text(mine)}: ${later.claim.rule}` };
}

function exclusive(earlier: LocatedClaim, later: LocatedClaim): ConfigProblem {
  if (earlier.device === later.device) {
    const at = later.locate(later.claim.path);
    const by = earlier.claim.point !== undefined ? `point "${earlier.claim.point}"` : 'this device';
    return { ...at, message: `${later.claim.label} is also claimed by ${by} (${placeText(earlier.locate(earlier.claim.path), at)}): ${later.claim.rule}` };
  }
  const at = later.locate(later.claim.connectionPath ?? later.claim.path);
  const mine = later.claim.point !== undefined ? ` (point "${later.claim.point}", ${placeText(later.locate(later.claim.path), at)})` : '';
  const theirs = earlier.claim.point !== undefined ? `, point "${earlier.claim.point}" at ${placeText(earlier.locate(earlier.claim.path), at)}` : '';
  const there = placeText(earlier.locate(earlier.claim.connectionPath ?? earlier.claim.path), at);
  return { ...at, message: `${later.claim.label}${mine} is already claimed by device "${earlier.device}" (${there}${theirs}): ${later.claim.rule}` };
}

/** A wildcard claim and another of its overlap key with a different resource (e.g. 0.0.0.0:47808 and 127.0.0.1:47808). */
function overlapping(earlier: LocatedClaim, later: LocatedClaim): ConfigProblem {
  const at = later.locate(later.claim.connectionPath ?? later.claim.path);
  const there = placeText(earlier.locate(earlier.claim.connectionPath ?? earlier.claim.path), at);
  const wildcard = later.claim.overlap?.wildcard === true ? later : earlier;
  return {
    ...at,
    message: `${later.claim.label} clashes with ${earlier.claim.label} of device "${earlier.device}" (${there}): ${wildcard === later ? 'this' : 'that'} wildcard address takes the port on every address, so the second socket cannot bind (EADDRINUSE); give both devices the same bind to share one socket, or use different ports`,
  };
}

/** One problem per claim that conflicts with an earlier one, in config order. */
export function claimConflicts(claims: readonly LocatedClaim[]): ConfigProblem[] {
  const first = new Map<string, LocatedClaim>();
  const byOverlap = new Map<string, LocatedClaim[]>();
  const problems: ConfigProblem[] = [];
  for (const claim of claims) {
    const overlap = claim.claim.overlap;
    if (overlap) {
      const others = byOverlap.get(overlap.key) ?? [];
      const clash = others.find((o) => o.claim.resource !== claim.claim.resource && (overlap.wildcard || o.claim.overlap?.wildcard === true));
      if (clash) {
        problems.push(overlapping(clash, claim));
        continue;
      }
      if (!others.some((o) => o.claim.resource === claim.claim.resource)) byOverlap.set(overlap.key, [...others, claim]);
    }
    const earlier = first.get(claim.claim.resource);
    if (!earlier) {
      first.set(claim.claim.resource, claim);
      continue;
    }
    const problem = claim.claim.kind === 'shared' ? shared(earlier, claim) : exclusive(earlier, claim);
    if (problem) problems.push(problem);
  }
  return problems;
}
