/**
 * Whether this process may write files in a folder, and if not, why in words: a file written
 * atomically (a temporary file beside it, renamed over it) needs its folder writable, and mkdir -p
 * on a read-only file system says only ENOENT. Used where the hub explains a store, a journal, a
 * folder of release artifacts or a credentials file it cannot write.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';

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

/**
 * Why this process could not make `folder` (mkdir -p) and write in it: the problem of the folder
 * itself when it exists, else of its nearest existing parent, which is named as `folder`.
 * Undefined when it can.
 */
export function folderCreateProblem(folder: string): (FolderWriteProblem & { readonly folder: string }) | undefined {
  let nearest = folder;
  while (!existsSync(nearest) && dirname(nearest) !== nearest) nearest = dirname(nearest);
  const problem = folderWriteProblem(nearest);
  return problem && { folder: nearest, ...problem };
}
