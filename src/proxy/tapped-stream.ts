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

export class TappedStream extends Duplex {
  private readonly raw: Socket;
  private observer: ByteObserver | null;
  bytesIn = 0;
  bytesOut = 0;

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
    this.send(chunk, callback);
  }

  /**
   * TLS hands over several records at once (a response head and body, a handshake flight):
   * one socket write for all of them is one syscall and fewer TCP segments instead of one each.
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let n = 0;
    for (const { chunk } of chunks) {
      n += chunk.length;
      this.tap('out', chunk);
    }
    this.bytesOut += n;
    if (chunks.length === 1) return this.send(chunks[0]!.chunk, callback);
    // Corked, the socket hands all of them to one writev: one syscall, and no copy to join them.
    const raw = this.raw;
    raw.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = raw.write(chunk) && ok;
    raw.uncork();
    this.afterWrite(ok, callback);
  }

  private send(chunk: Buffer, callback: (error?: Error | null) => void): void {
    this.afterWrite(this.raw.write(chunk), callback);
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
