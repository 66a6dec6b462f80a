/**
 * Reading a HAR file that a kill may have cut off (torn.ts), and `mitmscope repair-har FILE`:
 * the file is replaced atomically by the document closed after its last complete entry.
 */
import { readFile, realpath } from 'node:fs/promises';
import { HarError } from '../errors.js';
import { replaceAtomically } from './atomic-file.js';
import { harRoot, parseHarText } from './import.js';
import { CLOSE, completeEntries, mendTornHar } from './torn.js';

/** What mending dropped from a file. */
export interface Mend {
  /** Complete entries kept. */
  entries: number;
  /** Bytes of the cut-off entry removed from the end of the file. */
  droppedBytes: number;
}

/**
 * Parses HAR text read from `bytes`, mending it first if a kill cut it off inside its entries.
 * Any other damage throws `parseHarText`'s located MITM_ERR_HAR_INVALID.
 */
export function parseOrMend(bytes: Buffer): { value: unknown; text: string; mend: Mend | null } {
  const text = bytes.toString('utf8');
  try {
    return { value: JSON.parse(text) as unknown, text, mend: null };
  } catch {
    // mended below, or reported with its position
  }
  // A byte order mark is allowed before a HAR (parseHarText skips it too); the mended file keeps it.
  const bom = text.charCodeAt(0) === 0xfeff ? text[0]! : '';
  const mended = mendTornHar(text.slice(bom.length));
  if (!mended) return { value: parseHarText(text), text, mend: null };
  const keptBytes = Buffer.byteLength(bom + mended.text) - CLOSE.length;
  return { value: mended.value, text: bom + mended.text, mend: { entries: mended.entries, droppedBytes: bytes.length - keptBytes } };
}

/** One line for the user: what was cut and what was kept. */
export function describeMend(path: string, mend: Mend): string {
  return `${path} was cut off inside an entry, as a recording stopped mid-write leaves it: kept its ${completeEntries(mend.entries)} and dropped the last ${mend.droppedBytes} bytes`;
}

/**
 * Mends the file at `path` in place if a kill cut it off (`mend` says what was dropped; null when
 * the file was a valid HAR already). A file that is neither throws MITM_ERR_HAR_INVALID and is
 * left as it was.
 */
export async function repairHarFile(path: string): Promise<{ entries: number; mend: Mend | null }> {
  const { target, bytes } = await readHarFile(path);
  const read = parseOrMend(bytes);
  const { entries } = harRoot(read.value);
  if (read.mend) {
    try {
      await replaceAtomically(target, read.text);
    } catch (err) {
      throw new HarError('MITM_ERR_HAR_IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { entries: entries.length, mend: read.mend };
}

/** The bytes of the HAR at `path` and the real file behind it, which a replacement must aim at. */
export async function readHarFile(path: string): Promise<{ target: string; bytes: Buffer }> {
  try {
    // Replacement goes through rename(2): aim it at the real file, not at a symlink to it.
    const target = await realpath(path);
    return { target, bytes: await readFile(target) };
  } catch (err) {
    throw new HarError('MITM_ERR_HAR_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
