/** User and group ids in messages, with their names where this machine knows them. */
import { execFileSync } from 'node:child_process';

/** The name of a user or group id (getent), undefined when this machine does not know it. */
export function accountName(db: 'passwd' | 'group', id: number): string | undefined {
  try {
    return execFileSync('getent', [db, String(id)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[0] || undefined;
  } catch {
    return undefined;
  }
}

/** "998 (swarmgate)"; the bare number when the name is not known. */
export function idName(db: 'passwd' | 'group', id: number): string {
  const name = accountName(db, id);
  return name ? `${id} (${name})` : String(id);
}
