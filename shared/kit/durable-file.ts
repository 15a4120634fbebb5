/**
 * Writing a file so that a power cut leaves either the old or the new content, never an empty or
 * torn one (an SD card in a box that loses power): to a temporary name, flushed, renamed over the
 * file, and the folder flushed so the rename itself is on the disk.
 */
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `text` to a temp file, flushes it, renames it over `file` and flushes the folder. */
export async function writeFileDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncFolder(dirname(file));
}

/** Flushes a folder's entries (renames, removals); a platform that cannot open a folder for that skips it. */
export async function syncFolder(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}
