/**
 * Release versions in order, semver's way: numeric parts compared as numbers (1.10.0 after 1.9.0),
 * a pre-release before its release (2.0.0-rc.1 before 2.0.0), pre-release identifiers compared
 * numerically when both are numbers, else as text; build metadata (+…) ignored. Versions that are
 * not semver-like (the manifest allows any safe name) compare part by part the same way; a
 * missing number counts as 0.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', preA] = splitVersion(a);
  const [coreB = '', preB] = splitVersion(b);
  const byCore = compareParts(coreA.split('.'), coreB.split('.'));
  if (byCore !== 0) return byCore;
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  return compareParts(preA.split('.'), preB.split('.'));
}

function splitVersion(v: string): [string, string | undefined] {
  const noBuild = v.split('+')[0] ?? '';
  const dash = noBuild.indexOf('-');
  return dash < 0 ? [noBuild, undefined] : [noBuild.slice(0, dash), noBuild.slice(dash + 1)];
}

function compareParts(a: readonly string[], b: readonly string[]): number {
  const digits = (p: string | undefined): boolean => p !== undefined && /^\d+$/.test(p);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    // A missing number is 0 (Node.js 20 is 20.0.0); a missing word ranks first.
    const x = a[i] ?? (digits(b[i]) ? '0' : undefined);
    const y = b[i] ?? (digits(a[i]) ? '0' : undefined);
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const nx = /^\d+$/.test(x) ? Number(x) : undefined;
    const ny = /^\d+$/.test(y) ? Number(y) : undefined;
    const c = nx !== undefined && ny !== undefined ? nx - ny : nx !== undefined ? -1 : ny !== undefined ? 1 : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}
