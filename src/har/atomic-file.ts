/**
 * Whole-file writes that no reader or crash sees half done: creation published by link(2), and
 * replacement by rename(2). HAR recordings and their repairs go through here.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Recordings hold cookies and tokens unless redacted: readable by the owner only, like the CA key. */
const FILE_MODE = 0o600;
/** Errors from link(2) meaning "this filesystem has no hard links": fall back to O_EXCL creation. */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Creates `path` with its full content in one step, failing with EEXIST if it exists: the content
 * goes to a temporary file first and link(2) publishes it, so no reader or crash sees it empty.
 */
export async function createExclusive(path: string, content: string): Promise<void> {
  const tmp = tempPath(path);
  await writeFile(tmp, content, { flag: 'wx', mode: FILE_MODE });
  try {
    await link(tmp, path);
  } catch (err) {
    if (!NO_LINK_CODES.has(errnoCode(err) ?? '')) throw err;
    await writeFile(path, content, { flag: 'wx', mode: FILE_MODE });
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Replaces `path` atomically (temporary file + rename), keeping its permissions. */
export async function replaceAtomically(path: string, content: string): Promise<void> {
  const tmp = tempPath(path);
  const { mode } = await stat(path);
  try {
    await writeFile(tmp, content, { flag: 'wx', mode: FILE_MODE });
    await chmod(tmp, mode & 0o7777);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

