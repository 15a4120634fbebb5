/**
 * A folder that a test fills and then makes read-only, as /etc is to the hub under its shipped
 * units (ProtectSystem=full): a tmpfs mounted at `path`, remounted read-only by seal(). Root can
 * write through chmod, not through a read-only mount, so this is how a test running as root sees
 * EROFS. Undefined where mounting is not allowed (not root, or no mount in this sandbox).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

export interface ReadOnlyFolder {
  readonly path: string;
  /** Remounts the folder read-only: its files stay readable, nothing can be written there any more. */
  seal(): void;
  /** Unmounts it (what the test wrote there goes). */
  remove(): void;
}

export function readOnlyFolder(path: string): ReadOnlyFolder | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    mkdirSync(path, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  let mounted = true;
  return {
    path,
    seal: () => execFileSync('mount', ['-o', 'remount,ro', path], { stdio: 'pipe' }),
    remove: () => {
      if (mounted) execFileSync('umount', [path], { stdio: 'pipe' });
      mounted = false;
    },
  };
}
