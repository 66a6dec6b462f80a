/**
 * A Duplex over a raw TCP socket that shows every byte to an observer before Node's TLS layer
 * sees it (and every byte TLS writes before it reaches the wire). TLS sockets built on a
 * net.Socket consume it in C++, where JavaScript never sees the records; wrapping the socket in
 * a JS stream is the only way to observe a real handshake from Node. Once the observer says it
 * is done the stream only forwards.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface ByteObserver {
  /** `in` = bytes read from the peer, `out` = bytes we write to it. */
  observe(direction: 'in' | 'out', chunk: Buffer): void;
  readonly done: boolean;
}

/**
 * The stream buffer of a TLS socket over a TappedStream (both directions). TLS hands its next
 * records to the JS stream only once the previous write is called back, a turn of the event loop
 * later; with the stream default of 16 KiB, a streamed body left one 16 KiB record per turn, one
 * system call each (68 writes per MiB of a 1 MiB response, `strace -c`). With 128 KiB the records
 * of a turn leave together (19 writes per MiB) and the proxy spends ~20 % less CPU per MiB; a
 * slow reader can hold up to this much per connection before its writer is paused.
 */
export const TLS_STREAM_BUFFER_BYTES = 128 * 1024;

export class TappedStream extends Duplex {
  private readonly raw: Socket;
  private observer: ByteObserver | null;
  bytesIn = 0;
  bytesOut = 0;
  private rawCorked = false;

  constructor(raw: Socket, observer: ByteObserver | null, preface?: Buffer) {
    super({ allowHalfOpen: false });
    this.raw = raw;
    this.observer = observer;
    if (preface && preface.length > 0) this.onData(preface);
    raw.on('data', (chunk: Buffer) => this.onData(chunk));
    raw.on('end', () => this.push(null));
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    raw.on('drain', () => this.emit('rawDrain'));
  }

  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }

  /** The socket under this stream (for keep-alive tuning and addresses). */
  get socket(): Socket {
    return this.raw;
  }

  private tap(direction: 'in' | 'out', chunk: Buffer): void {
    const obs = this.observer;
    if (obs === null) return;
    if (obs.done) {
      this.observer = null;
      return;
    }
    obs.observe(direction, chunk);
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.tap('in', chunk);
    if (!this.push(chunk)) this.raw.pause();
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesOut += chunk.length;
    this.tap('out', chunk);
    this.afterWrite(this.writeInTick(chunk), callback);
  }

  /** Several records handed over at once (a response head and body, a handshake flight). */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let ok = true;
    for (const { chunk } of chunks) {
      this.bytesOut += chunk.length;
      this.tap('out', chunk);
      ok = this.writeInTick(chunk) && ok;
    }
    this.afterWrite(ok, callback);
  }

  /**
   * TLS emits a response as several records in separate writes (head, body, the end of a chunked
   * body), and a busy connection several responses per tick. The socket stays corked until the end
   * of the tick, so all of them leave in one writev: one syscall and fewer TCP segments instead of
   * one each, and no copy to join them. Nothing waits longer than the current tick.
   */
  private writeInTick(chunk: Buffer): boolean {
    if (!this.rawCorked) {
      this.rawCorked = true;
      this.raw.cork();
      process.nextTick(uncorkAtTickEnd, this);
    }
    return this.raw.write(chunk);
  }

  /** The end-of-tick half of `writeInTick` (not Writable's own `uncork`, which the TLS layer uses on this stream). */
  releaseTick(): void {
    this.rawCorked = false;
    this.raw.uncork();
  }

  private afterWrite(ok: boolean, callback: (error?: Error | null) => void): void {
    if (ok) callback();
    else this.once('rawDrain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Finish at once: the JS stream socket above (TLS, HTTP/2) asserts that nothing is written
    // while its shutdown is pending, and layers above it may still flush a last frame.
    this.raw.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }

  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.raw.setKeepAlive(enable, delay);
    return this;
  }
}

function uncorkAtTickEnd(stream: TappedStream): void {
  stream.releaseTick();
}
