/**
 * Mending a HAR that was cut off inside `log.entries`: what a recording leaves when the proxy is
 * killed while the kernel copies one batch of entries into the file (recorder.ts says why that
 * window cannot be closed). The complete entries before the cut are kept and the document is
 * closed after them; anything else that fails to parse is left for the caller to report.
 */
import { findJsonSyntaxError } from './json-error.js';

export interface MendedHar {
  /** The document closed after the last complete entry. */
  text: string;
  /** Complete entries kept. */
  entries: number;
  /** `text`, parsed. */
  value: Record<string, unknown>;
}

/** `log.entries` is an array in an object in the root object: its elements sit at depth 3. */
const ENTRY_DEPTH = 3;
/** Closes `entries`, `log` and the root, as the recorder writes them. */
export const CLOSE = ']}}';
/** What follows the last entry when the cut fell inside the tail itself. */
const CUT_TAIL = /^\s*\]\s*\}?\s*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The document `text` would be had its writer finished the entries before the cut, or null when
 * `text` is not a HAR cut off inside `log.entries` (valid JSON, an error before the end, a cut in
 * the head). `log.entries` must be the last member of `log`, as in every recording.
 */
export function mendTornHar(text: string): MendedHar | null {
  let lastBoundary = -1;
  let lastDepth = 0;
  const error = findJsonSyntaxError(text, (depth, end) => {
    if (depth === ENTRY_DEPTH) lastBoundary = end;
    lastDepth = depth;
  });
  if (error === null || error.offset < text.length || lastBoundary < 0) return null;
  // Cut inside the array (an entry, or between entries), or inside the tail that closes it; a
  // cut in something written after the array is not one a recording makes.
  if (lastDepth < ENTRY_DEPTH && !CUT_TAIL.test(text.slice(lastBoundary))) return null;
  const mended = text.slice(0, lastBoundary) + CLOSE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(mended);
  } catch {
    return null; // the last depth-3 boundary was in something other than an array of `log`
  }
  if (!isObject(parsed)) return null;
  const log = parsed['log'];
  if (!isObject(log)) return null;
  const keys = Object.keys(log);
  const entries = log['entries'];
  // A HAR's head (its version and creator) was written whole before the entries began.
  if (keys[keys.length - 1] !== 'entries' || !Array.isArray(entries) || typeof log['version'] !== 'string' || !isObject(log['creator'])) return null;
  return { text: mended, entries: entries.length, value: parsed };
}

/** "1 complete entry", "3 complete entries": how messages count what a mend kept. */
export function completeEntries(n: number): string {
  return `${n} complete ${n === 1 ? 'entry' : 'entries'}`;
}
