/**
 * The captured copy of a streamed body. Bytes are gathered into runs of up to `RUN_BYTES` and
 * each run goes to the session store (one extent on disk), so a body of any size costs at most one
 * run of memory while it streams. Up to `max` bytes are kept; `bodySize` counts them all.
 */
import type { CapturedMessage } from './flow.js';
import type { BodySink } from './store.js';

/** Bytes gathered before a run goes to the store: big enough for few extents, small enough per flow. */
export const RUN_BYTES = 64 * 1024;

export class BodyCapture {
  private run: Buffer[] = [];
  private runLength = 0;
  private kept = 0;

  constructor(
    private readonly message: CapturedMessage,
    private readonly max: number,
    private readonly sink: BodySink,
  ) {}

  push(chunk: Buffer): void {
    const m = this.message;
    m.bodySize += chunk.length;
    const room = this.max - this.kept;
    if (room <= 0 || m.bodyTruncated) {
      if (chunk.length > 0) m.bodyTruncated = true;
      return;
    }
    const take = Math.min(room, chunk.length);
    if (take < chunk.length) m.bodyTruncated = true;
    this.run.push(take < chunk.length ? chunk.subarray(0, take) : chunk);
    this.runLength += take;
    this.kept += take;
    if (this.runLength >= RUN_BYTES) this.flush();
  }

  /** Hands the last run to the store once the body is complete (or cut short). */
  finish(): void {
    this.flush();
  }

  private flush(): void {
    if (this.runLength === 0) return;
    // A run the store cannot take (capture paused, disk behind) ends the copy: a body with a gap would lie.
    if (!this.sink.append(this.run, this.runLength)) this.message.bodyTruncated = true;
    this.run = [];
    this.runLength = 0;
  }
}
