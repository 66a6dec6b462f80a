/**
 * Append-only body segment files (`bodies/000001.seg`, …). Offsets are handed out synchronously
 * as bytes are appended, and the bytes go to disk in one positional `writev` per segment per
 * flush, off the event loop. A body is a list of extents in these files; a segment is deleted
 * once no stored body refers to it. Segments are never reopened for writing: after a restart
 * new bytes go to a new segment, so a torn tail of an old one can never be overwritten.
 */
import { Readable } from 'node:stream';
import type { SegmentIo, SegmentHandle } from './segment-io.js';

/** A segment is closed and a new one started past this size, so eviction can free space in steps. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Bytes queued for disk past which new appends are refused (capture lags, proxying goes on). */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Per extent in the packed form: segment (u32), offset (f64), length (u32). */
const PACKED_EXTENT_BYTES = 16;

export interface Extent {
  segment: number;
  offset: number;
  length: number;
}

interface Segment {
  number: number;
  /** Bytes handed out (queued or written). */
  size: number;
  /** Bytes known to be on disk. */
  written: number;
  handle: SegmentHandle | null;
  /** Extents of live bodies that point into this segment. */
  refs: number;
  /** No bytes past `written` will ever arrive (a segment of an earlier run, or one whose write failed). */
  sealed: boolean;
}

interface Pending {
  segment: Segment;
  offset: number;
  buffers: Buffer[];
  length: number;
}

export function packExtents(extents: readonly Extent[]): Buffer {
  const out = Buffer.alloc(extents.length * PACKED_EXTENT_BYTES);
  extents.forEach((e, i) => {
    const at = i * PACKED_EXTENT_BYTES;
    out.writeUInt32LE(e.segment, at);
    out.writeDoubleLE(e.offset, at + 4);
    out.writeUInt32LE(e.length, at + 12);
  });
  return out;
}

/** Never throws: a packed list cut short (a torn row) yields the whole extents it holds. */
export function unpackExtents(packed: Uint8Array | null): Extent[] {
  if (!packed) return [];
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: Extent[] = [];
  for (let at = 0; at + PACKED_EXTENT_BYTES <= buf.length; at += PACKED_EXTENT_BYTES) {
    out.push({ segment: buf.readUInt32LE(at), offset: buf.readDoubleLE(at + 4), length: buf.readUInt32LE(at + 12) });
  }
  return out;
}

export function extentsLength(extents: readonly Extent[]): number {
  let n = 0;
  for (const e of extents) n += e.length;
  return n;
}

export class Segments {
  private readonly segments = new Map<number, Segment>();
  private current: Segment | null = null;
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | null = null;
  private nextNumber: number;

  constructor(
    private readonly io: SegmentIo,
    existing: ReadonlyMap<number, number>,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    let max = 0;
    for (const [number, size] of existing) {
      this.segments.set(number, { number, size, written: size, handle: null, refs: 0, sealed: true });
      max = Math.max(max, number);
    }
    this.nextNumber = max + 1;
  }

  /** Bytes of every segment file (live or not yet deleted). */
  get bytes(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.size;
    return n;
  }

  get queued(): number {
    return this.queuedBytes;
  }

  /** True when the extent's bytes are on disk. */
  holds(e: Extent): boolean {
    const s = this.segments.get(e.segment);
    return s !== undefined && e.offset + e.length <= s.written;
  }

  /** True when the extent's bytes will never be on disk (a failed write, or a torn one before a restart). */
  lost(e: Extent): boolean {
    const s = this.segments.get(e.segment);
    return !s || (s.sealed && e.offset + e.length > s.written);
  }

  /** Forgets every reference (after a clear; the store retains what it keeps). */
  resetRefs(): void {
    for (const s of this.segments.values()) s.refs = 0;
  }

  /** Counts references from a stored body (on open, and for every new extent). */
  retain(extents: readonly Extent[]): void {
    for (const e of extents) {
      const s = this.segments.get(e.segment);
      if (s) s.refs += 1;
    }
  }

  /** Drops references; segments nobody refers to any more (and not being written) are deleted. */
  async release(extents: readonly Extent[]): Promise<void> {
    for (const e of extents) {
      const s = this.segments.get(e.segment);
      if (s) s.refs -= 1;
    }
    await this.collect();
  }

  /** Deletes every finished segment without references (also the leftovers of an earlier run). */
  async collect(): Promise<void> {
    for (const s of [...this.segments.values()]) {
      if (s.refs > 0 || s === this.current || this.queue.some((p) => p.segment === s)) continue;
      this.segments.delete(s.number);
      await s.handle?.close().catch(() => {});
      await this.io.remove(s.number).catch(() => {});
    }
  }

  /**
   * Reserves room for `buffers` and queues them for the next flush; returns where they will be,
   * or null when the queue is full (the disk is slower than the traffic, or refusing writes).
   */
  append(buffers: Buffer[], length: number): Extent | null {
    if (length === 0) return null;
    if (this.queuedBytes + length > MAX_QUEUED_BYTES) return null;
    let seg = this.current;
    if (!seg || seg.size >= this.segmentBytes) {
      seg = { number: this.nextNumber++, size: 0, written: 0, handle: null, refs: 0, sealed: false };
      this.segments.set(seg.number, seg);
      this.current = seg;
    }
    const offset = seg.size;
    seg.size += length;
    const last = this.queue[this.queue.length - 1];
    if (last && last.segment === seg && last.offset + last.length === offset) {
      last.buffers.push(...buffers);
      last.length += length;
    } else {
      this.queue.push({ segment: seg, offset, buffers, length });
    }
    this.queuedBytes += length;
    return { segment: seg.number, offset, length };
  }

  /** Writes everything queued so far; concurrent callers share one flush at a time. Rejects with the I/O error. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => {});
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.write(batch);
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      try {
        p.segment.handle ??= await this.io.open(p.segment.number);
        await p.segment.handle.writev(p.buffers, p.offset);
      } catch (err) {
        // Nothing of this batch from here on is on disk. Its extents stay referenced until the
        // store drops the bodies they belong to (`holds` tells it which); new bytes start a new
        // segment rather than follow a gap.
        for (const rest of batch.slice(i)) {
          this.queuedBytes -= rest.length;
          rest.segment.sealed = true;
        }
        this.current = null;
        throw err;
      }
      p.segment.written = Math.max(p.segment.written, p.offset + p.length);
      this.queuedBytes -= p.length;
    }
  }

  /** Reads at most `limit` bytes of a body. */
  async read(extents: readonly Extent[], limit = Infinity): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    for (const e of extents) {
      if (total >= limit) break;
      const length = Math.min(e.length, limit - total);
      parts.push(await this.readExtent(e, length));
      total += length;
    }
    return Buffer.concat(parts, total);
  }

  /** A body as a stream, one extent at a time, so a large download never sits in memory whole. */
  stream(extents: readonly Extent[]): Readable {
    const list = [...extents];
    return Readable.from(
      (async function* (self: Segments) {
        for (const e of list) yield await self.readExtent(e, e.length);
      })(this),
    );
  }

  private async readExtent(e: Extent, length: number): Promise<Buffer> {
    const s = this.segments.get(e.segment);
    if (!s) return Buffer.alloc(0);
    // Bytes still queued are read after the flush that writes them.
    if (e.offset + length > s.written) await this.flush();
    s.handle ??= await this.io.open(s.number);
    return s.handle.read(e.offset, length);
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    for (const s of this.segments.values()) {
      await s.handle?.close().catch(() => {});
      s.handle = null;
    }
  }
}
