/**
 * Where segment bytes live: files in the session's `bodies/` folder, or memory for stores that
 * have no session folder (embedding, unit tests). Tests also wrap the file kind to inject
 * failures such as ENOSPC at exactly this layer.
 */
import { open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface SegmentHandle {
  writev(buffers: Buffer[], position: number): Promise<void>;
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface SegmentIo {
  open(segment: number): Promise<SegmentHandle>;
  remove(segment: number): Promise<void>;
}

/** File mode of segments: they hold captured traffic (credentials, cookies). */
const FILE_MODE = 0o600;
const NAME = /^(\d{6,})\.seg$/;

export function segmentName(n: number): string {
  return `${String(n).padStart(6, '0')}.seg`;
}

/** The segments already in a folder with their sizes (read once at open, synchronously). */
export function existingSegments(dir: string): Map<number, number> {
  const out = new Map<number, number>();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(dir)) {
    const m = NAME.exec(name);
    if (m) out.set(Number(m[1]), statSync(join(dir, name)).size);
  }
  return out;
}

class FileSegment implements SegmentHandle {
  constructor(private readonly fh: FileHandle) {}

  async writev(buffers: Buffer[], position: number): Promise<void> {
    let pos = position;
    let rest = buffers;
    // writev may write less than asked (a full disk mid-call); continue from where it stopped.
    while (rest.length > 0) {
      const { bytesWritten } = await this.fh.writev(rest, pos);
      pos += bytesWritten;
      let skip = bytesWritten;
      const next: Buffer[] = [];
      for (const b of rest) {
        if (skip >= b.length) skip -= b.length;
        else {
          next.push(skip > 0 ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      if (bytesWritten === 0 && next.length > 0) throw Object.assign(new Error('no bytes written'), { code: 'EIO' });
      rest = next;
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export function fileSegmentIo(dir: string): SegmentIo {
  return {
    async open(n) {
      // Read-write without O_APPEND: bytes go where their offsets say (positional writes).
      return new FileSegment(await open(join(dir, segmentName(n)), constants.O_RDWR | constants.O_CREAT, FILE_MODE));
    },
    async remove(n) {
      await unlink(join(dir, segmentName(n)));
    },
  };
}

/** Bytes of every segment file in a folder (for `mitmscope sessions`). */
export async function segmentsSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (NAME.test(name)) total += (await stat(join(dir, name))).size;
  }
  return total;
}

class MemorySegment implements SegmentHandle {
  private data = Buffer.alloc(0);

  async writev(buffers: Buffer[], position: number): Promise<void> {
    const chunk = Buffer.concat(buffers);
    const end = position + chunk.length;
    if (end > this.data.length) {
      const grown = Buffer.alloc(Math.max(end, this.data.length * 2));
      this.data.copy(grown);
      this.data = grown;
    }
    chunk.copy(this.data, position);
  }

  async read(position: number, length: number): Promise<Buffer> {
    return Buffer.from(this.data.subarray(position, position + length));
  }

  async close(): Promise<void> {}
}

export function memorySegmentIo(): SegmentIo {
  const files = new Map<number, MemorySegment>();
  return {
    async open(n) {
      let f = files.get(n);
      if (!f) files.set(n, (f = new MemorySegment()));
      return f;
    },
    async remove(n) {
      files.delete(n);
    },
  };
}
