/**
 * Continuous HAR recording (`--har FILE`). The file always ends with the `]}}` that closes
 * `entries`, `log` and the root, and each batch of entries is one positional write of
 * `,<entries>]}}` over the old tail, so between writes it is a complete HAR. A kill -9 between
 * writes leaves the previous document. A kill during a write that spans pages can cut it: Linux
 * copies a write(2) into the page cache page by page and stops at the next page when the process
 * has a fatal signal pending (generic_perform_write), so the file ends at a page boundary inside
 * the batch, its old tail already overwritten. No ordering of writes avoids this — any new entry
 * bytes must land where the old tail was before the new tail exists — so such a file is mended
 * instead: reopening it with `append` (and `mitmscope repair-har`) closes it after its last
 * complete entry (repair.ts).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { debuglog } from 'node:util';
import type { Flow, FlowState } from '../capture/flow.js';
import type { FlowStore, StoreEvent } from '../capture/store.js';
import { HarError } from '../errors.js';
import { harRoot, harToFlows } from './import.js';
import { entryJson, harCreator, HAR_VERSION } from './mapping.js';
import { redaction, type RedactOptions, type Redaction } from './redact.js';
import { createExclusive, errnoCode, replaceAtomically } from './atomic-file.js';
import { parseOrMend, readHarFile, type Mend } from './repair.js';

const debug = debuglog('mitmscope-har');

/** Closes `entries`, `log` and the root object; always the last bytes of the file. */
const TAIL = Buffer.from(']}}');

export interface HarRecorderOptions {
  /** Add to an existing file instead of refusing to touch it. */
  append: boolean;
  redact?: RedactOptions | null;
  store: FlowStore;
}

function ioError(path: string, err: unknown): HarError {
  if (err instanceof HarError) return err;
  return new HarError('MITM_ERR_HAR_IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
}

/** `{...rootFields,"log":{...logFields,"entries":[` — `entries` last so that the tail is fixed. */
function headOf(root: Record<string, unknown>, log: Record<string, unknown>): string {
  let head = '{';
  for (const [k, v] of Object.entries(root)) if (k !== 'log') head += `${JSON.stringify(k)}:${JSON.stringify(v)},`;
  head += '"log":{';
  for (const [k, v] of Object.entries(log)) if (k !== 'entries') head += `${JSON.stringify(k)}:${JSON.stringify(v)},`;
  return `${head}"entries":[`;
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

interface Prepared {
  fh: FileHandle;
  tailOffset: number;
  entries: number;
  /** What reopening dropped from a file a kill had cut off; null when it was whole. */
  mend: Mend | null;
}

async function prepareFile(path: string, append: boolean): Promise<Prepared> {
  const head = headOf({}, { version: HAR_VERSION, creator: harCreator(), pages: [] });
  try {
    await createExclusive(path, head + TAIL.toString());
    return { fh: await open(path, 'r+'), tailOffset: Buffer.byteLength(head), entries: 0, mend: null };
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw ioError(path, err);
  }
  if (!append) throw new HarError('MITM_ERR_HAR_EXISTS', `${path} exists; pass --har-append to add to it, or choose a new name`);

  const { target, bytes } = await readHarFile(path);
  let parsed: ReturnType<typeof harRoot>;
  let mend: Mend | null;
  try {
    // A recording killed mid-write is closed after its last complete entry and goes on from there.
    const read = parseOrMend(bytes);
    mend = read.mend;
    parsed = harRoot(read.value);
    harToFlows(parsed.root); // the same checks as an import: we only add to files we could read back
  } catch (err) {
    if (err instanceof HarError) throw new HarError('MITM_ERR_HAR_INVALID', `${path}: ${err.message}`, { cause: err });
    throw err;
  }
  // Any valid HAR may end in `"pages":[...]}` or pretty-printed whitespace: rewrite it once in
  // our layout, atomically, then append in place.
  const ownHead = headOf(parsed.root, parsed.log);
  const body = parsed.entries.map((e) => JSON.stringify(e)).join(',');
  try {
    await replaceAtomically(target, ownHead + body + TAIL.toString());
    return { fh: await open(target, 'r+'), tailOffset: Buffer.byteLength(ownHead) + Buffer.byteLength(body), entries: parsed.entries.length, mend };
  } catch (err) {
    throw ioError(path, err);
  }
}

/** What `/api/status` says about the recording: a flow missing from the file must not go unnoticed. */
export interface HarRecordingStatus {
  path: string;
  /** Entries in the file. */
  entries: number;
  /** Completed flows that could not be turned into a HAR entry, so are missing from the file. */
  unmapped: number;
  /** Why the last flow could not be mapped, or why recording stopped; null while all is well. */
  lastError: string | null;
  /** A write failed: nothing more is recorded. */
  stopped: boolean;
}

/** Pending and paused exchanges are written once they end. */
function finished(state: FlowState): boolean {
  return state === 'complete' || state === 'error';
}

export class HarRecorder {
  readonly path: string;
  /** What opening with `append` dropped from a file a kill had cut off mid-write; null when it was whole. */
  readonly mend: Mend | null;
  private readonly fh: FileHandle;
  private readonly store: FlowStore;
  private readonly redact: Redaction;
  private readonly unsubscribe: () => void;
  /** Flows already written; weak so that evicted flows are not kept alive by the recorder. */
  private readonly written = new WeakSet<Flow>();
  /** Byte offset where the `]}}` tail starts. */
  private tailOffset: number;
  private committed: number;
  /** Entries in completion order; each is read from the session (bodies included) before it is written. */
  private queue: Promise<string | null>[] = [];
  private draining: Promise<void> | null = null;
  private failure: HarError | null = null;
  private closing: Promise<void> | null = null;
  private unmapped = 0;
  private lastError: string | null = null;

  /** Creates (or, with `append`, reopens) the file and subscribes to the store; flows are written as they complete. */
  static async open(path: string, options: HarRecorderOptions): Promise<HarRecorder> {
    const prepared = await prepareFile(path, options.append);
    return new HarRecorder(path, prepared, options);
  }

  private constructor(path: string, prepared: Prepared, options: HarRecorderOptions) {
    this.path = path;
    this.mend = prepared.mend;
    this.fh = prepared.fh;
    this.tailOffset = prepared.tailOffset;
    this.committed = prepared.entries;
    this.store = options.store;
    this.redact = redaction(options.redact);
    this.unsubscribe = options.store.subscribe((event) => this.onEvent(event));
  }

  /** Entries in the file whose write has finished (including those it held when appending). */
  get entries(): number {
    return this.committed;
  }

  /** The write failure that stopped recording, if any; `close()` rejects with it too. */
  get error(): HarError | null {
    return this.failure;
  }

  status(): HarRecordingStatus {
    return { path: this.path, entries: this.committed, unmapped: this.unmapped, lastError: this.lastError, stopped: this.failure !== null };
  }

  private onEvent(event: StoreEvent): void {
    if (event.type !== 'flow' && event.type !== 'flow-update') return;
    // Imported flows came from a HAR already; recording them again would duplicate that file.
    if (!finished(event.flow.state) || event.flow.imported || this.failure) return;
    const flow = this.store.get(event.flow.id);
    if (!flow || !finished(flow.state) || this.written.has(flow)) return;
    this.written.add(flow);
    // The bodies are read from the session; the entry is serialised as soon as they are in.
    this.queue.push(
      this.store.withBodies(flow).then(
        (full) => {
          try {
            return entryJson(full, this.redact);
          } catch (err) {
            this.noteUnmapped(flow, err);
            return null;
          }
        },
        (err: unknown) => {
          this.noteUnmapped(flow, err);
          return null;
        },
      ),
    );
    this.kick();
  }

  private noteUnmapped(flow: Flow, err: unknown): void {
    debug('flow %s could not be mapped to HAR: %o', flow.id, err);
    this.unmapped += 1;
    this.lastError = `${flow.request.method} ${flow.request.url} (flow ${flow.id}) could not be written as a HAR entry: ${(err as Error).message}`;
  }

  /** One write in flight at a time; whatever queues meanwhile goes out as the next batch. */
  private kick(): void {
    if (this.draining || this.failure || this.queue.length === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) {
      const pending = this.queue;
      this.queue = [];
      const batch = (await Promise.all(pending)).filter((e): e is string => e !== null);
      if (batch.length > 0) await this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: string[]): Promise<void> {
    const separator = this.committed === 0 ? '' : ',';
    const json = Buffer.from(separator + batch.join(','), 'utf8');
    const buf = Buffer.concat([json, TAIL]);
    try {
      await writeFully(this.fh, buf, this.tailOffset);
    } catch (err) {
      this.failure = ioError(this.path, err);
      this.lastError = `recording stopped: ${this.failure.message}`;
      debug('recording stopped: %o', err);
      // Best effort back to the last complete document: tail where it was, partial bytes cut.
      try {
        await writeFully(this.fh, TAIL, this.tailOffset);
        await this.fh.truncate(this.tailOffset + TAIL.length);
      } catch {
        // The disk refuses writes altogether; nothing more can be done here.
      }
      return;
    }
    this.tailOffset += json.length;
    this.committed += batch.length;
  }

  /** Writes every flow that completed before the call, syncs and closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    // The store announces completions on the next setImmediate: let those already announced in.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.unsubscribe();
    for (;;) {
      if (this.draining) await this.draining;
      else if (this.queue.length > 0 && !this.failure) this.kick();
      else break;
    }
    try {
      await this.fh.datasync();
    } catch (err) {
      this.failure ??= ioError(this.path, err);
    }
    await this.fh.close().catch(() => {});
    if (this.failure) throw this.failure;
  }
}
