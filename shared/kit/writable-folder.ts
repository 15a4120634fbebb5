/**
 * Whether this process may write files in a folder, and if not, why in words: a file written
 * atomically (a temporary file beside it, renamed over it) needs its folder writable, and mkdir -p
 * on a read-only file system says only ENOENT. Used where the hub explains a store or a
 * credentials file it cannot write.
 */
import { accessSync, constants } from 'node:fs';

export interface FolderWriteProblem {
  /** The errno of the check (EROFS, EACCES, ENOENT, ...). */
  readonly errno: string;
  /** "is on a read-only file system", "does not exist" or "is not writable by this user". */
  readonly what: string;
}

/** Undefined when this process may write in `folder`, else the errno and what it means. */
export function folderWriteProblem(folder: string): FolderWriteProblem | undefined {
  try {
    accessSync(folder, constants.W_OK);
    return undefined;
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    const what = errno === 'EROFS' ? 'is on a read-only file system' : errno === 'ENOENT' ? 'does not exist' : 'is not writable by this user';
    return { errno, what };
  }
}
