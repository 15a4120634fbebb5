/** The install layout: the atomic `current` switch, cleaning leftovers, pruning old releases. */
import { mkdirSync, readdirSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InstallLayout } from '../../edge/update/layout.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-layout-');
afterAll(() => dir.remove());

describe('install layout', () => {
  const layout = new InstallLayout(join(dir.path, 'root'));
  layout.ensureDirs();
  const release = (v: string, ageS: number): void => {
    mkdirSync(layout.releaseDir(v), { recursive: true });
    const t = Date.now() / 1000 - ageS;
    utimesSync(layout.releaseDir(v), t, t);
  };

  it('switches current only to a complete release, as a relative link', () => {
    release('1.0.0', 50);
    layout.switchCurrent('1.0.0');
    expect(readlinkSync(layout.currentLink)).toBe(join('releases', '1.0.0'));
    expect(layout.currentVersion()).toBe('1.0.0');
    mkdirSync(`${layout.releaseDir('2.0.0')}.partial-1`, { recursive: true });
    let err: unknown;
    try {
      layout.switchCurrent('2.0.0');
    } catch (e) {
      err = e;
    }
    expect(isSwarmgateError(err, 'SWG_ERR_UPDATE_INSTALL')).toBe(true);
    expect(layout.currentVersion()).toBe('1.0.0');
    expect(() => layout.releaseDir('../etc')).toThrow();
  });

  it('cleans partial folders, stray links and other downloads, keeping the one that resumes', () => {
    writeFileSync(join(layout.stagingDir, 'aaa.tar.gz.part'), 'x');
    writeFileSync(join(layout.stagingDir, 'bbb.tar.gz.part'), 'x');
    writeFileSync(join(layout.root, '.current-999'), '');
    layout.clean('bbb.tar.gz.part');
    expect(readdirSync(layout.releasesDir)).toEqual(['1.0.0']);
    expect(readdirSync(layout.stagingDir)).toEqual(['bbb.tar.gz.part']);
    expect(readdirSync(layout.root).filter((n) => n.startsWith('.current-'))).toEqual([]);
  });

  it('prunes the oldest releases, never the current or previous one', () => {
    release('0.7.0', 400);
    release('0.8.0', 300);
    release('0.9.0', 200);
    release('2.0.0', 10);
    // current 2.0.0, previous 0.7.0 (oldest, but protected); keep 3: one more, the newest other.
    expect(layout.prune(3, ['2.0.0', '0.7.0']).sort()).toEqual(['0.8.0', '0.9.0']);
    expect(readdirSync(layout.releasesDir).sort()).toEqual(['0.7.0', '1.0.0', '2.0.0']);
  });
});

describe('running version', () => {
  it('is the installed release when the app runs from one, else package.json', async () => {
    const { runningVersion } = await import('../../edge/update/index.js');
    const { packageVersion } = await import('../../shared/kit/package-info.js');
    const root = join(dir.path, 'app');
    mkdirSync(root, { recursive: true });
    expect(runningVersion(root)).toBe(packageVersion());
    writeFileSync(join(root, '.swarmgate-release.json'), JSON.stringify({ version: '0.2.0-rc.1' }));
    expect(runningVersion(root)).toBe('0.2.0-rc.1');
  });
});
