/**
 * MQTT topic-filter algebra used by the ACL: does a topic match a filter, and is every topic a
 * filter can match also matched by a scope filter (so a subscription may be granted). Also the
 * `$share/<group>/<filter>` form of shared subscriptions.
 */

/** True when `topic` (no wildcards) matches `filter`. `$`-topics never match a leading wildcard. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * True when every topic matched by `filter` is also matched by `scope`. Used to decide whether a
 * subscription stays inside what the user may read: 'a/b/+' is within 'a/#', '#' is within nothing
 * narrower than '#'.
 */
export function filterWithin(filter: string, scope: string): boolean {
  const f = filter.split('/');
  const s = scope.split('/');
  for (let i = 0; i < s.length; i++) {
    const sl = s[i];
    if (sl === '#') return true;
    const fl = f[i];
    if (fl === undefined) return false;
    if (fl === '#') return false;
    if (sl === '+') continue;
    if (fl === '+' || fl !== sl) return false;
  }
  if (f.length === s.length) return true;
  // 'a/b' subscribed, scope 'a/b/#' handled above; a longer filter than scope cannot fit.
  return false;
}

/** A filter is well formed when '#' is only last and wildcards fill whole levels. */
export function isValidFilter(filter: string): boolean {
  return filterProblem(filter) === undefined;
}

/** Why a topic filter is malformed (MQTT 5 section 4.7), or undefined when it is well formed. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'a topic filter cannot be empty';
  if (filter.length > 65535) return 'a topic filter is at most 65535 characters';
  const levels = filter.split('/');
  for (const [i, level] of levels.entries()) {
    if (level === '#' && i !== levels.length - 1) return `'#' must be the last level (it matches everything below), found at level ${i + 1} of ${levels.length}`;
    if (level !== '#' && level !== '+' && (level.includes('#') || level.includes('+'))) return `a wildcard must fill a whole level, found "${level}" (use "+" or "#" alone between slashes)`;
  }
  return undefined;
}

export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/** Splits `$share/<group>/<filter>`; undefined when the subscription is not a shared one. */
export function parseShared(subscription: string): SharedFilter | undefined {
  if (!subscription.startsWith('$share/')) return undefined;
  const rest = subscription.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (group.includes('+') || group.includes('#') || filter.length === 0) return undefined;
  return { group, filter };
}
