/**
 * HAR export streamed from the session: the document head, then one entry at a time read from
 * disk with its bodies, then the tail. Memory holds one flow (and its bodies) at a time however
 * large the session is, and a slow reader pauses the export instead of filling the heap.
 */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import type { FlowStore } from '../capture/store.js';
import { entryJson, harCreator, HAR_VERSION } from './mapping.js';
import { redaction, type RedactOptions } from './redact.js';

export interface ExportOptions {
  creatorVersion?: string;
  redact?: RedactOptions | null;
}

/** Writes, then waits for room (or the reader's end); the listener left waiting is removed. */
async function write(out: Writable, text: string): Promise<void> {
  if (out.write(text)) return;
  const waiting = new AbortController();
  const settled = (event: string): Promise<void> => once(out, event, { signal: waiting.signal }).then(
    () => undefined,
    () => undefined,
  );
  await Promise.race([settled('drain'), settled('close')]);
  waiting.abort();
}

/** Writes the whole store as HAR 1.2 to `out` (which it does not end); resolves with the entry count. */
export async function exportHar(store: FlowStore, out: Writable, options: ExportOptions = {}): Promise<number> {
  const redact = redaction(options.redact);
  const head = JSON.stringify({ log: { version: HAR_VERSION, creator: harCreator(options.creatorVersion), pages: [], entries: [] } });
  // Everything up to the empty entries array; entries go between it and the closing brackets.
  const open = head.slice(0, head.lastIndexOf('[]') + 1);
  await write(out, open);
  await store.flushed();
  let n = 0;
  for (const flow of store.iterate()) {
    if (out.destroyed) break;
    await write(out, (n === 0 ? '' : ',') + entryJson(await store.withBodies(flow), redact));
    n += 1;
  }
  await write(out, ']}}');
  return n;
}
