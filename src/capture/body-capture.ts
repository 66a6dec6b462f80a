/**
 * The capped copy of a streamed body. Chunks are copied into one buffer that grows by doubling,
 * so capturing n bytes costs O(n) copies (concatenating per chunk would cost O(n²): a 1 MiB body
 * in 16 KiB chunks copied ~32 MiB). `message.body` is a view of what has arrived so far.
 */
import type { CapturedMessage } from './flow.js';

/** First allocation when the size is unknown: most bodies are small. */
const INITIAL_CAPACITY = 4096;

export class BodyCapture {
  private buffer: Buffer = Buffer.alloc(0);
  private length = 0;

  constructor(
    private readonly message: CapturedMessage,
    private readonly max: number,
    /** Content-Length when declared: one allocation of the right size. */
    expected: number | null = null,
  ) {
    if (expected !== null && expected > 0) this.buffer = Buffer.allocUnsafe(Math.min(expected, max));
  }

  push(chunk: Buffer): void {
    const m = this.message;
    m.bodySize += chunk.length;
    const room = this.max - this.length;
    if (room <= 0) {
      if (chunk.length > 0) m.bodyTruncated = true;
      return;
    }
    const take = Math.min(room, chunk.length);
    if (take < chunk.length) m.bodyTruncated = true;
    if (this.length + take > this.buffer.length) {
      const capacity = Math.min(this.max, Math.max(INITIAL_CAPACITY, this.buffer.length * 2, this.length + take));
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.length, 0, take);
    this.length += take;
    m.body = this.buffer.subarray(0, this.length);
  }

  /** Drops spare capacity once the body is complete, so stored flows hold only their bytes. */
  finish(): void {
    if (this.buffer.length > this.length) {
      this.buffer = Buffer.from(this.buffer.subarray(0, this.length));
      this.message.body = this.buffer;
    }
  }
}

/** Content-Length as a number, or null when absent or not a plain non-negative integer. */
export function declaredLength(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return null;
  return Number(value);
}
